"""analytics: viewer-count samples and watch sessions

New tables only; nothing here alters an existing table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "viewer_samples",
        sa.Column("id", ID, nullable=False),
        sa.Column("show_id", ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["show_id"],
            ["shows.id"],
            name=op.f("fk_viewer_samples_show_id_shows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viewer_samples")),
    )
    op.create_index("ix_viewer_samples_show_id_at", "viewer_samples", ["show_id", "at"])
    op.create_table(
        "watch_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("show_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["show_id"],
            ["shows.id"],
            name=op.f("fk_watch_sessions_show_id_shows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_watch_sessions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_sessions")),
    )
    op.create_index(op.f("ix_watch_sessions_show_id"), "watch_sessions", ["show_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_watch_sessions_show_id"), table_name="watch_sessions")
    op.drop_table("watch_sessions")
    op.drop_index("ix_viewer_samples_show_id_at", table_name="viewer_samples")
    op.drop_table("viewer_samples")
