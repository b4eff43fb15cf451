"""Alembic owns the schema: a database built by main before Alembic is upgraded without losing a row,
and the models agree with the migration head (a model change without a new revision fails here).

The "before" schema is the committed DDL that ``create_all`` produced on main at 2a41be0
(tests/data/schema_before_alembic.*.sql), not today's models.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from sqlalchemy import text

from bianmin.db import (BASELINE_REVISION, alembic_config, create_schema, current_revision, head_revision,
                        import_models, make_engine, metadata, upgrade_schema)
from tests.cases_support import pg_engine, pg_url, skip_without_pg

DATA = Path(__file__).parent / "data"
BACKENDS = ["sqlite", pytest.param("postgres", marks=skip_without_pg)]
#: The tables main had before Alembic (the snapshot must create exactly these).
ALL_TABLES_BEFORE = sorted([
    "audit_log", "faq_entries", "faq_feedback", "faq_history", "faq_revision", "faq_unanswered", "handoff_sessions",
    "staff_presence", "staff_sessions", "staff_users", "submission_keys", "ticket_events", "ticket_sequences",
    "tickets"])


def _snapshot(dialect: str) -> list[str]:
    sql = (DATA / f"schema_before_alembic.{dialect}.sql").read_text(encoding="utf-8")
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    return [stmt.strip() for stmt in sql.split(";\n") if stmt.strip()]


async def _engine(backend: str, tmp_path: Path) -> AsyncIterator[Any]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    url = pg_url()
    assert url is not None
    schema = f"bianmin_mig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = pg_engine(url, schema)
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    gen = _engine(request.param, tmp_path)
    yield await gen.__anext__()
    await gen.aclose()


async def _build_old(engine: Any) -> None:
    dialect = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
    async with engine.begin() as conn:
        for stmt in _snapshot(dialect):
            await conn.exec_driver_sql(stmt)


def _ts(engine: Any, value: dt.datetime) -> Any:
    # SQLAlchemy stores SQLite DateTime as naive ISO text; asyncpg wants a datetime
    return value.replace(tzinfo=None).isoformat(sep=" ") if engine.dialect.name == "sqlite" else value


async def _fill_old(engine: Any) -> None:
    """Rows as main wrote them: a ticket with events, an FAQ entry with history, a staff account with a session,
    a handoff session and an audit row. Plain SQL against the old columns, so later model changes cannot leak in."""
    from web.accounts import hash_password

    t = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)
    at = _ts(engine, t)
    rows = [
        ("INSERT INTO tickets (number, type, status, sender_id, channel, fields, anonymous, query_code, contact_phone, "
         "id_last4, category, subcategory, department, deadlines, created_at, updated_at, rating) VALUES "
         "(:n, 'complaint', '已分派', 'web-1', 'webchat', :f, false, 'ABCD2345', '13812345678', '1234', "
         "'环境保护', '噪音', '区生态环境局', :d, :at, :at, NULL)",
         {"n": "TS20261201-0001", "f": json.dumps({"description": "夜里施工噪音", "phone": "13812345678"},
                                                   ensure_ascii=False),
          "d": "[]", "at": at}),
        ("INSERT INTO ticket_events (ticket_number, at, status, actor, note, request_key) VALUES "
         "('TS20261201-0001', :at, '已受理', 'resident', '', NULL)", {"at": at}),
        ("INSERT INTO ticket_events (ticket_number, at, status, actor, note, request_key) VALUES "
         "('TS20261201-0001', :at, '已分派', 'staff:wang', '已转区生态环境局', 'rk-1')", {"at": at}),
        ("INSERT INTO submission_keys (key, ticket_number, created_at) VALUES ('sk-1', 'TS20261201-0001', :at)",
         {"at": at}),
        ("INSERT INTO ticket_sequences (prefix, day, last_value) VALUES ('TS', '20261201', 1)", {}),
        ("INSERT INTO faq_entries (id, question, question_key, \"similar\", answer, tags, department, search_text, "
         "status, valid_from, valid_until, version, created_at, created_by, updated_at, updated_by) VALUES "
         "('hukou-move', '户口迁移需要什么材料？', '户口迁移需要什么材料', :sim, '请携带身份证和户口簿到派出所办理。', "
         ":tags, '公安局', '户口 迁移 材料', 'published', NULL, NULL, 2, :at, 'admin', :at, 'admin')",
         {"sim": json.dumps(["迁户口要带什么"], ensure_ascii=False), "tags": json.dumps(["户籍"], ensure_ascii=False),
          "at": at}),
        ("INSERT INTO faq_history (faq_id, version, revision, at, actor, action, changes) VALUES "
         "('hukou-move', 1, 1, :at, 'admin', 'create', '{}')", {"at": at}),
        ("INSERT INTO faq_history (faq_id, version, revision, at, actor, action, changes) VALUES "
         "('hukou-move', 2, 2, :at, 'admin', 'update', :c)",
         {"at": at, "c": json.dumps({"answer": ["旧答案", "请携带身份证和户口簿到派出所办理。"]}, ensure_ascii=False)}),
        ("INSERT INTO faq_revision (id, revision, changed_at) VALUES (1, 2, :at)", {"at": at}),
        ("INSERT INTO staff_users (username, display_name, password_hash, role, active, created_at) VALUES "
         "('wang', '王坐席', :h, 'staff', true, :at)", {"h": hash_password("正确的密码123"), "at": at}),
        ("INSERT INTO staff_sessions (token_hash, user_id, created_at, expires_at) VALUES "
         "('th-1', (SELECT id FROM staff_users WHERE username = 'wang'), :at, :at)", {"at": at}),
        ("INSERT INTO handoff_sessions (sender_id, channel, status, reason, queued_at, claimed_by, claimed_at) "
         "VALUES ('web-1', 'webchat', 'claimed', 'asked', :at, 'wang', :at)", {"at": at}),
        ("INSERT INTO audit_log (at, actor, action, target, detail) VALUES "
         "(:at, 'staff:wang', 'ticket.status', 'TS20261201-0001', :d)", {"at": at, "d": '{"to": "processing"}'}),
    ]
    async with engine.begin() as conn:
        for sql, params in rows:
            await conn.execute(text(sql), params)


def _old_columns_sync(conn: Any) -> dict[str, list[str]]:
    from sqlalchemy import inspect

    insp = inspect(conn)
    return {t: [c["name"] for c in insp.get_columns(t)] for t in insp.get_table_names() if t != "alembic_version"}


async def _dump(engine: Any, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of the old tables, old columns only (later revisions may add columns and tables)."""
    out: dict[str, list[tuple]] = {}
    async with engine.connect() as conn:
        for table, cols in sorted(columns.items()):
            names = ", ".join(f'"{c}"' for c in cols)
            result = await conn.execute(text(f"SELECT {names} FROM {table} ORDER BY 1"))
            out[table] = [tuple(str(v) for v in row) for row in result]
    return out


def _diff_sync(conn: Any) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
    return compare_metadata(ctx, metadata)


async def test_main_database_is_adopted_and_loses_nothing(engine: Any) -> None:
    import_models()
    await _build_old(engine)
    await _fill_old(engine)
    async with engine.connect() as conn:
        columns = await conn.run_sync(_old_columns_sync)
    assert sorted(columns) == ALL_TABLES_BEFORE
    before = await _dump(engine, columns)
    assert sum(len(rows) for rows in before.values()) == 13
    assert await current_revision(engine) is None

    await upgrade_schema(engine)
    assert await current_revision(engine) == head_revision()
    assert await _dump(engine, columns) == before  # not recreated, not truncated

    # the app still reads the old rows through its own stores
    from cases.sql_store import SqlCaseStore
    from web.accounts import AccountStore

    ticket = await SqlCaseStore(engine).get("TS20261201-0001")
    assert ticket is not None and [e.status for e in ticket.events] == ["已受理", "已分派"]
    user = await AccountStore(engine).authenticate("wang", "正确的密码123")
    assert user is not None and user.display_name == "王坐席"

    async with engine.connect() as conn:
        assert await conn.run_sync(_diff_sync) == []
    await upgrade_schema(engine)  # idempotent
    assert await _dump(engine, columns) == before


async def test_partial_old_database_gets_the_missing_tables(engine: Any) -> None:
    """An older main lacked some tables (create_all only added what was missing): the baseline adds them."""
    dialect = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
    stmts = [s for s in _snapshot(dialect) if "audit_log" not in s]
    async with engine.begin() as conn:
        for stmt in stmts:
            await conn.exec_driver_sql(stmt)
    await upgrade_schema(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff_sync) == []


async def test_models_and_migration_head_agree(engine: Any) -> None:
    """Autogenerate finds nothing to do on a fresh database migrated to head: every model change has a revision."""
    await create_schema(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff_sync)
    assert diff == [], f"models differ from the migrations; add a revision (`bianmin db revision -m ...`): {diff}"


def test_baseline_is_the_root_revision() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert [r.revision for r in script.walk_revisions()][-1] == BASELINE_REVISION
    assert script.get_revision(BASELINE_REVISION).down_revision is None
