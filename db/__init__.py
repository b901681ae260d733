"""Soundalike's database: the source of truth from which the vector index is derived."""
