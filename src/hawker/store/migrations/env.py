from __future__ import annotations

from alembic import context

from hawker.store.db import sync_engine
from hawker.store.tables import Base

url = context.config.attributes["database_url"]
engine = sync_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
