"""A radio that follows a player: what was played, skipped and liked, and what to queue next."""
