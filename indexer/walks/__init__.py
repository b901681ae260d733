"""Walks through the library: playlists that drift from seeds, paths between two songs, M3U."""
