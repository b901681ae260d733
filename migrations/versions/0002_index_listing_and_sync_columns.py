"""Index updated_at (index sync at scale) and (artist, title, id) (song listing order).

At a million rows, ``max(updated_at)`` and ``updated_at >= :since`` (every index sync) scanned
the whole table, and listing by artist and title sorted it; these indexes make both a B-tree
walk. The (artist, title, id) index replaces (artist, title): it serves the same lookups and
also the tie-break on id, so pages come straight off the index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("songs") as batch_op:
        batch_op.create_index("ix_songs_updated_at", ["updated_at"], unique=False)
        batch_op.create_index("ix_songs_artist_title_id", ["artist", "title", "id"], unique=False)
        batch_op.drop_index("ix_songs_artist_title")


def downgrade() -> None:
    with op.batch_alter_table("songs") as batch_op:
        batch_op.create_index("ix_songs_artist_title", ["artist", "title"], unique=False)
        batch_op.drop_index("ix_songs_artist_title_id")
        batch_op.drop_index("ix_songs_updated_at")
