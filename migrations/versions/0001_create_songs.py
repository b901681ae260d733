"""Create the songs table: path, content hash, tags, raw features and genre.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "songs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("artist", sa.Text(), nullable=True),
        sa.Column("album", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("features", sa.LargeBinary(), nullable=False),
        sa.Column("genre", sa.String(length=32), nullable=True),
        sa.Column("genre_confidence", sa.Float(), nullable=True),
        sa.Column("genre_probabilities", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    with op.batch_alter_table("songs") as batch_op:
        batch_op.create_index("ix_songs_content_hash", ["content_hash"], unique=False)
        batch_op.create_index("ix_songs_genre", ["genre"], unique=False)
        batch_op.create_index("ix_songs_artist_title", ["artist", "title"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("songs") as batch_op:
        batch_op.drop_index("ix_songs_artist_title")
        batch_op.drop_index("ix_songs_genre")
        batch_op.drop_index("ix_songs_content_hash")
    op.drop_table("songs")
