"""SqlCaseStore on a real SQLite file: the shared contract plus what only a local database can show —
failures surface as CaseStoreUnavailable and never leave half a ticket behind."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bianmin.db import create_schema, make_engine
from cases.sql_store import SqlCaseStore, contact_keys, normalise_phone
from cases.store import CaseStoreUnavailable, Status
from cases_support import CaseStoreContract, new_ticket


class TestSqliteContract(CaseStoreContract):
    backend_name = "sqlite"


async def test_unopenable_database_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database directory should be")
    # make_engine would try to create the parent directory; the engine itself only fails on connect
    broken = create_async_engine(f"sqlite+aiosqlite:///{blocker / 'cases.db'}")
    store = SqlCaseStore(broken)
    try:
        with pytest.raises(CaseStoreUnavailable):
            await store.create(new_ticket())
        with pytest.raises(CaseStoreUnavailable):
            await store.get("TS20261123-0001")
        with pytest.raises(CaseStoreUnavailable):
            await store.find_by_sender("web-x")
        with pytest.raises(CaseStoreUnavailable):
            await store.update_status("TS20261123-0001", Status.ASSIGNED, "staff")
    finally:
        await broken.dispose()
        # aiosqlite stops the worker thread of a connection that failed to open without awaiting it; let
        # those threads finish while this test's event loop still runs
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("dropped", ["ticket_events", "submission_keys", "tickets"])
async def test_failure_midway_leaves_no_half_written_ticket(tmp_path: Path, dropped: str) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cases.db'}")
    await create_schema(engine)
    store = SqlCaseStore(engine)
    try:
        kept = (await store.create(new_ticket())).ticket
        async with engine.begin() as conn:
            await conn.execute(text("PRAGMA foreign_keys=OFF"))
            await conn.execute(text(f"DROP TABLE {dropped}"))
        with pytest.raises(CaseStoreUnavailable):
            await store.create(new_ticket())
        async with engine.connect() as conn:
            if dropped != "tickets":
                assert (await conn.execute(text("SELECT COUNT(*) FROM tickets"))).scalar_one() == 1
            # the sequence increment rolled back with the ticket: the next number is not burned
            assert (await conn.execute(text("SELECT last_value FROM ticket_sequences"))).scalar_one() == 1
        if dropped == "submission_keys":
            assert (await store.get(kept.number)) is not None   # reads that do not need the table still work
    finally:
        await engine.dispose()


async def test_database_deleted_under_a_running_store(tmp_path: Path) -> None:
    db = tmp_path / "cases.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await create_schema(engine)
    store = SqlCaseStore(engine)
    try:
        await store.create(new_ticket())
        for f in tmp_path.glob("cases.db*"):
            f.unlink()
        # pooled connections still hold the unlinked file; the next connection (after a restart or a
        # recycled pool) opens a fresh empty file
        await engine.dispose()
        with pytest.raises(CaseStoreUnavailable):   # a fresh empty file has no tables
            await store.create(new_ticket())
    finally:
        await engine.dispose()


def test_contact_keys_normalise_phone_and_id() -> None:
    assert contact_keys({"phone": "+86 138-1234-5678", "id_number": "11010519491231002x"}) == ("13812345678", "002X")
    assert normalise_phone("010-62345678") == "01062345678"
    assert normalise_phone("12345") is None
    assert contact_keys({}) == (None, None)
