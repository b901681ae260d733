"""SQLAlchemy 2.x typed models. The schema itself is created only by Alembic revisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

FEATURE_DTYPE = np.dtype("<f8")
EMBEDDING_DTYPE = np.dtype("<f4")


def utcnow() -> datetime:
    """Timezone-aware now, so SQLite and PostgreSQL rows compare the same way."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base shared by every model and by Alembic's autogenerate."""


class Song(Base):
    """One audio file of the library with its tags, raw features and predicted genre."""

    __tablename__ = "songs"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    artist: Mapped[str | None] = mapped_column(Text)
    album: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float)
    # 57 little-endian float64 values in GTZAN column order: compact and exact.
    features: Mapped[bytes] = mapped_column(LargeBinary)
    genre: Mapped[str | None] = mapped_column(String(32), index=True)
    genre_confidence: Mapped[float | None] = mapped_column(Float)
    genre_probabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(64))
    # The musicnn description (migration 0004): MSD then MTT penultimate means (2 x 200) and
    # MSD then MTT tag probabilities (2 x 50), little-endian float32; NULL until computed.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    tag_probabilities: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_version: Mapped[str | None] = mapped_column(String(64), index=True)
    # BLAKE2b of the analysed window's decoded samples (migration 0005): a file whose bytes
    # changed (a tag write) but whose samples did not keeps its analysis; NULL until analysed.
    audio_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )

    # Listing order (artist, title, id) straight off one index (migration 0002).
    __table_args__ = (Index("ix_songs_artist_title_id", "artist", "title", "id"),)

    @property
    def feature_vector(self) -> np.ndarray:
        """The raw features as a float64 array [shape=(57,)]."""
        return features_from_bytes(self.features)

    @property
    def embedding_vector(self) -> np.ndarray | None:
        """The stored embedding as float32 [shape=(400,)], or None when not yet computed."""
        return None if self.embedding is None else floats_from_bytes(self.embedding)

    @property
    def tag_vector(self) -> np.ndarray | None:
        """The stored tag probabilities as float32 [shape=(100,)], or None."""
        return None if self.tag_probabilities is None else floats_from_bytes(self.tag_probabilities)


def floats_to_bytes(values: np.ndarray) -> bytes:
    """Encode an embedding or tag vector for its column."""
    return np.ascontiguousarray(values, dtype=EMBEDDING_DTYPE).tobytes()


def floats_from_bytes(blob: bytes) -> np.ndarray:
    """Decode an embedding or tag column back into float32 values."""
    return np.frombuffer(blob, dtype=EMBEDDING_DTYPE).astype(np.float32)


def features_to_bytes(values: np.ndarray) -> bytes:
    """Encode a feature vector for the ``features`` column."""
    return np.ascontiguousarray(values, dtype=FEATURE_DTYPE).tobytes()


def features_from_bytes(blob: bytes) -> np.ndarray:
    """Decode the ``features`` column back into float64 values."""
    return np.frombuffer(blob, dtype=FEATURE_DTYPE).astype(np.float64)
