"""One async SQLAlchemy engine per process for bianmin's own data (cases, FAQ, accounts, audit).

Tables are SQLAlchemy Core ``Table`` objects on the shared ``metadata``; each feature module defines
its own. The schema itself is owned by Alembic (``bianmin/migrations``): :func:`upgrade_schema` brings a
database to the head revision, and every schema change is a new revision there. Sessions/connections are opened per unit of work (request, action run), never shared globally.
SQLite (the embedded default) gets WAL and a busy timeout so concurrent writers queue instead of failing.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
from pathlib import Path
from typing import Iterator

from sqlalchemy import MetaData, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

#: Modules that define tables on ``metadata``; imported before the schema is created.
MODEL_MODULES = ("bianmin.audit", "web.accounts", "cases.models", "faq.models", "channels.handoff_models")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, **kwargs) -> AsyncEngine:  # type: ignore[no-untyped-def]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # keep a few connections open (SQLAlchemy 1.4's default for file SQLite is a new one per use)
            kwargs.setdefault("poolclass", AsyncAdaptedQueuePool)
            kwargs.setdefault("pool_size", 5)
            kwargs.setdefault("max_overflow", 10)
        engine = create_async_engine(url, connect_args={"timeout": 15}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def import_models() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside the module is a real error
                raise


#: Where the Alembic revisions live (package data, so an installed copy finds them too).
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The revision that is exactly the schema ``create_all`` built before migrations existed.
BASELINE_REVISION = "0001_baseline"
#: PostgreSQL advisory-lock key that serialises concurrent upgrades (arbitrary, fixed: "bianmin" in ASCII-ish).
_PG_LOCK_KEY = 0x6269616E6D696E

log = logging.getLogger(__name__)


def alembic_config(connection: Connection | None = None):  # type: ignore[no-untyped-def]
    """An Alembic ``Config`` pointing at bianmin's migrations; ``connection`` is what env.py migrates."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


@contextlib.contextmanager
def _sqlite_file_lock(engine: AsyncEngine) -> Iterator[None]:
    """Serialise upgrades of one SQLite file across processes (SQLite DDL is not transactional here)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(database + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _upgrade_sync(conn: Connection, revision: str) -> None:
    from alembic import command

    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables and tables & set(metadata.tables):
        # A database from before migrations: the baseline revision creates only the tables it lacks.
        log.info("database has bianmin tables but no alembic_version: adopting it at the baseline revision")
    command.upgrade(alembic_config(conn), revision)


async def upgrade_schema(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (idempotent; safe when several processes start at once)."""
    import_models()
    with _sqlite_file_lock(engine):
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_sync, revision)


def _current_sync(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_sync)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade_database_url(url: str, revision: str = "head") -> None:
    """``bianmin db upgrade`` / ``bianmin run``: open the database, upgrade it, close it."""
    engine = make_engine(url)
    try:
        await upgrade_schema(engine, revision)
    finally:
        await engine.dispose()


def new_revision(message: str) -> str:
    """Write a new revision with the difference between the models and the current head (autogenerate).

    The diff is taken against a throw-away SQLite database migrated to head, so no real database is needed.
    Returns the new file's path; review it (batch ops, data moves) before committing.
    """
    import asyncio
    import tempfile

    from alembic import command

    with tempfile.TemporaryDirectory() as tmp:
        async def go() -> str:
            engine = make_engine(f"sqlite+aiosqlite:///{tmp}/head.db")
            try:
                await upgrade_schema(engine)
                async with engine.begin() as conn:
                    script = await conn.run_sync(
                        lambda c: command.revision(alembic_config(c), message=message, autogenerate=True))
            finally:
                await engine.dispose()
            return str(script.path)

        return asyncio.run(go())


async def create_schema(engine: AsyncEngine) -> None:
    """Bring a (possibly throw-away) database to the current schema: the one helper tests and tools use.

    This runs the migrations to head; it never calls ``create_all``, so tests exercise the real schema path.
    """
    await upgrade_schema(engine)
