"""Soundalike indexer: files -> decoded samples -> 57 GTZAN features -> rows -> vector index."""
