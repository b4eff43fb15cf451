"""SqlCaseStore on real PostgreSQL (BIANMIN_TEST_POSTGRES_URL; a fresh schema per run, dropped afterwards):
the shared contract, plus failure behaviour."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from bianmin.db import make_engine
from cases.sql_store import SqlCaseStore
from cases.store import CaseStoreUnavailable
from cases_support import CaseStoreContract, free_port, new_ticket, pg_engine, pg_schema, truncate_pg  # noqa: F401

pytestmark = pytest.mark.postgres


class TestPostgresContract(CaseStoreContract):
    backend_name = "postgres"


async def test_unreachable_server_is_unavailable(pg_schema) -> None:  # noqa: F811
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test")
    store = SqlCaseStore(engine)
    try:
        with pytest.raises(CaseStoreUnavailable):
            await store.create(new_ticket())
        with pytest.raises(CaseStoreUnavailable):
            await store.find_by_sender("web-x")
    finally:
        await engine.dispose()


async def test_failure_midway_leaves_no_half_written_ticket(pg_schema) -> None:  # noqa: F811
    url, schema = pg_schema
    engine = pg_engine(url, schema)
    await truncate_pg(engine)
    store = SqlCaseStore(engine)
    try:
        await store.create(new_ticket())
        async with engine.begin() as conn:   # make the last insert of create() fail
            await conn.execute(text("ALTER TABLE submission_keys RENAME TO submission_keys_gone"))
        try:
            with pytest.raises(CaseStoreUnavailable):
                await store.create(new_ticket())
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT COUNT(*) FROM tickets"))).scalar_one() == 1
                assert (await conn.execute(text("SELECT COUNT(*) FROM ticket_events"))).scalar_one() == 1
                assert (await conn.execute(text("SELECT last_value FROM ticket_sequences"))).scalar_one() == 1
        finally:
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE submission_keys_gone RENAME TO submission_keys"))
    finally:
        await engine.dispose()
