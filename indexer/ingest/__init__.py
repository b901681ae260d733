"""Ingest: find audio files, analyse them in worker processes or on a Dask cluster, write rows."""
