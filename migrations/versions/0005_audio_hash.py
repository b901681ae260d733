"""The audio hash: BLAKE2b of each song's decoded analysis window (`indexer.audio.analyse`).

A tag write changes a file's bytes, size and modification time but not its samples. With the
hash of the samples on the row, the indexer tells such a file from one whose audio changed and
refreshes the row (path state and tags) without computing features or the embedding again.
Nullable: rows analysed before this revision get it the next time their file is analysed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("songs") as batch_op:
        batch_op.add_column(sa.Column("audio_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("songs") as batch_op:
        batch_op.drop_column("audio_hash")
