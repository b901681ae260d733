"""The sound space: each song's musicnn embedding and tag probabilities (`indexer.audio.embedding`).

Both columns are nullable: rows indexed before this revision have neither until the next
``soundalike index`` or ``soundalike backfill`` computes them from the audio, without
recomputing the 57 features. ``embedding_version`` says which networks and front end wrote
them, so a later change of either can be found and redone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("songs") as batch_op:
        batch_op.add_column(sa.Column("embedding", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("tag_probabilities", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("embedding_version", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_songs_embedding_version", ["embedding_version"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("songs") as batch_op:
        batch_op.drop_index("ix_songs_embedding_version")
        batch_op.drop_column("embedding_version")
        batch_op.drop_column("tag_probabilities")
        batch_op.drop_column("embedding")
