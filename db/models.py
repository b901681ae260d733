"""SQLAlchemy 2.x typed models. The schema itself is created only by Alembic revisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

FEATURE_DTYPE = np.dtype("<f8")


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


def features_to_bytes(values: np.ndarray) -> bytes:
    """Encode a feature vector for the ``features`` column."""
    return np.ascontiguousarray(values, dtype=FEATURE_DTYPE).tobytes()


def features_from_bytes(blob: bytes) -> np.ndarray:
    """Decode the ``features`` column back into float64 values."""
    return np.frombuffer(blob, dtype=FEATURE_DTYPE).astype(np.float64)
