"""Audio analysis: decode a window of a file once, then describe it (features, embedding, tags)."""
