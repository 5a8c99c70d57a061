"""Alembic environment: run with the connection the app hands over (see ``webui.history.db``)."""

from alembic import context

from webui.history.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` command line: use the configured URL
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    connection = engine.connect()

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
