"""shows.pinned_listing_id references listings on every database

0001 declared the key with use_alter (shows and listings refer to each other), and
create_table leaves such keys out on PostgreSQL, expecting a later ALTER that never came.
SQLite got the key inline.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = "fk_shows_pinned_listing_id_listings"


def _has_key() -> bool:
    keys = sa.inspect(op.get_bind()).get_foreign_keys("shows")
    return any(key["constrained_columns"] == ["pinned_listing_id"] for key in keys)


def upgrade() -> None:
    if _has_key():
        return
    # A pin may point at a listing removed while there was no key to clear it.
    op.execute(
        "UPDATE shows SET pinned_listing_id = NULL WHERE pinned_listing_id IS NOT NULL "
        "AND pinned_listing_id NOT IN (SELECT id FROM listings)"
    )
    op.create_foreign_key(
        NAME, "shows", "listings", ["pinned_listing_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    # 0001 on SQLite already had the key inline; only the one this revision added goes.
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(NAME, "shows", type_="foreignkey")
