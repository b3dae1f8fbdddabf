"""currencies: exchange rates, and the brand's currency beside the charged one

New columns are nullable (None: charged in the brand's currency), so existing rows stay as
they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FX = ("brand_currency", "fx_rate")


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("id", ID, nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_by"],
            ["users.id"],
            name=op.f("fk_exchange_rates_set_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
        sa.UniqueConstraint("base", "quote", "valid_from", name=op.f("uq_exchange_rates_base")),
    )
    for table in ("listings", "orders", "commission_lines"):
        op.add_column(table, sa.Column("brand_currency", sa.String(length=3), nullable=True))
        op.add_column(table, sa.Column("fx_rate", sa.String(length=40), nullable=True))
    op.add_column("orders", sa.Column("brand_total_minor", sa.BigInteger(), nullable=True))
    op.add_column("commission_lines", sa.Column("brand_base_minor", sa.BigInteger(), nullable=True))
    op.add_column(
        "commission_lines", sa.Column("brand_amount_minor", sa.BigInteger(), nullable=True)
    )
    op.add_column("settlements", sa.Column("brand_totals", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table, columns in (
        ("settlements", ("brand_totals",)),
        ("commission_lines", ("brand_base_minor", "brand_amount_minor", *_FX)),
        ("orders", ("brand_total_minor", *_FX)),
        ("listings", _FX),
    ):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
    op.drop_table("exchange_rates")
