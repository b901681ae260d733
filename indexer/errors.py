"""Errors raised by the indexer, each carrying the file and the reason so reports read well."""

from __future__ import annotations

from pathlib import Path


class IndexerError(Exception):
    """Base for indexer failures."""


class FileError(IndexerError):
    """A library file could not be turned into a song; keeps the path and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[FileError], tuple[str, str]]:
        # Rebuilt from the path and the reason, not from the joined message: a worker process's
        # error is pickled back to the pool, and one that cannot be rebuilt breaks the pool.
        return type(self), (self.path, self.reason)


class DecodeError(FileError):
    """A file could not be decoded as audio."""


class TooShortError(FileError):
    """Decoded audio is too short to describe with the GTZAN features."""


class FeatureError(FileError):
    """Features could not be computed, or came out non-finite."""


class ModelError(IndexerError):
    """The genre model or scaler is missing, corrupt or does not fit the data."""


class StoreError(IndexerError):
    """The vector index on disk is missing, corrupt or inconsistent."""


class NotFoundError(IndexerError):
    """A song asked for by id or path is not in the library."""


class MissingVectorError(NotFoundError):
    """A song has no vector in the space asked for (in ``sound``: no current embedding)."""


class UnreachableError(IndexerError):
    """No walk through the library meets the request, e.g. the goal breaks the tempo direction."""


class ParameterError(IndexerError, ValueError):
    """A function was called with an argument outside what it accepts (a caller's mistake).

    It is also a `ValueError`, so code that caught the bare `ValueError` raised before still
    catches it.
    """
