"""One async SQLAlchemy engine per process for bianmin's own data (cases, FAQ, accounts, audit).

Tables are SQLAlchemy Core ``Table`` objects on the shared ``metadata``; each feature module defines
its own. Sessions/connections are opened per unit of work (request, action run), never shared globally.
SQLite (the embedded default) gets WAL and a busy timeout so concurrent writers queue instead of failing.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from sqlalchemy import MetaData, event
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
MODEL_MODULES = ("bianmin.audit", "web.accounts", "cases.models", "knowledge.faq_models", "channels.handoff_models")


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


async def create_schema(engine: AsyncEngine) -> None:
    """Create missing tables (idempotent). Schema changes beyond adding tables need a migration."""
    import_models()
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
