"""notification emails: sent from the notifications table, not in the request that told

`mailed_at` is None while a notification's email is still to go. The notifications made
before this revision were emailed as they were made, so they are marked sent.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UNSENT = sa.text("mailed_at IS NULL")


def upgrade() -> None:
    op.add_column("notifications", sa.Column("mailed_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE notifications SET mailed_at = created_at")
    op.create_index(
        "ix_notifications_to_mail",
        "notifications",
        ["id"],
        postgresql_where=UNSENT,
        sqlite_where=UNSENT,
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_to_mail", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("mailed_at")
