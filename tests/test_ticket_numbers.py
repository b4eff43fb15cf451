"""Ticket numbers: format, local (Beijing) date, daily reset, 5 digits after 9999, and uniqueness under 50
concurrent writers on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bianmin.db import create_schema, make_engine
from cases.models import ticket_sequences
from cases.numbering import allocate, format_number, local_date
from cases.sql_store import SqlCaseStore
from cases.store import TICKET_NUMBER_RE
from cases_support import new_ticket, pg_engine, pg_schema, skip_without_pg, truncate_pg  # noqa: F401

UTC = dt.timezone.utc


def test_format() -> None:
    assert format_number("TS", dt.date(2026, 11, 23), 7) == "TS20261123-0007"
    assert format_number("FY", dt.date(2026, 1, 2), 12345) == "FY20260102-12345"
    assert TICKET_NUMBER_RE.match("FY20260102-12345")


def test_local_date_is_beijing_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIANMIN_TIMEZONE", raising=False)
    assert local_date(dt.datetime(2026, 11, 23, 15, 59, tzinfo=UTC)) == dt.date(2026, 11, 23)
    assert local_date(dt.datetime(2026, 11, 23, 16, 0, tzinfo=UTC)) == dt.date(2026, 11, 24)   # 00:00 in Beijing
    monkeypatch.setenv("BIANMIN_TIMEZONE", "UTC")
    assert local_date(dt.datetime(2026, 11, 23, 16, 0, tzinfo=UTC)) == dt.date(2026, 11, 23)
    monkeypatch.setenv("BIANMIN_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="BIANMIN_TIMEZONE"):
        local_date()


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def test_sequence_resets_daily_and_per_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIANMIN_TIMEZONE", raising=False)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await create_schema(engine)
    clock = Clock(dt.datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    store = SqlCaseStore(engine, clock=clock)
    try:
        numbers = [(await store.create(new_ticket())).ticket.number for _ in range(3)]
        assert numbers == ["TS20261123-0001", "TS20261123-0002", "TS20261123-0003"]
        assert (await store.create(new_ticket("petition"))).ticket.number == "XF20261123-0001"
        clock.now = dt.datetime(2026, 11, 23, 16, 30, tzinfo=UTC)          # 00:30 on the 24th in Beijing
        assert (await store.create(new_ticket())).ticket.number == "TS20261124-0001"
        clock.now = dt.datetime(2026, 11, 23, 15, 0, tzinfo=UTC)           # back on the 23rd: continues
        assert (await store.create(new_ticket())).ticket.number == "TS20261123-0004"
    finally:
        await engine.dispose()


async def test_five_digits_after_9999(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await create_schema(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(ticket_sequences).values(prefix="TS", day="20261123", last_value=9998))
            assert await allocate(conn, "complaint", dt.date(2026, 11, 23)) == "TS20261123-9999"
            assert await allocate(conn, "complaint", dt.date(2026, 11, 23)) == "TS20261123-10000"
            assert TICKET_NUMBER_RE.match("TS20261123-10000")
    finally:
        await engine.dispose()


async def test_rolled_back_allocation_is_not_burned(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await create_schema(engine)
    day = dt.date(2026, 11, 23)
    try:
        async with engine.connect() as conn:
            async with conn.begin() as tx:
                assert await allocate(conn, "legal_aid", day) == "FY20261123-0001"
                await tx.rollback()
        async with engine.begin() as conn:
            assert await allocate(conn, "legal_aid", day) == "FY20261123-0001"
    finally:
        await engine.dispose()


NOON_BEIJING = dt.datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


async def _fifty_concurrent(store: SqlCaseStore, engine) -> None:  # type: ignore[no-untyped-def]
    results = await asyncio.gather(*[store.create(new_ticket(("complaint", "petition")[i % 2])) for i in range(50)])
    numbers = [r.ticket.number for r in results]
    assert len(set(numbers)) == 50
    for prefix in ("TS", "XF"):
        seqs = sorted(int(n.split("-")[1]) for n in numbers if n.startswith(prefix))
        assert seqs == list(range(1, 26)), f"{prefix}: gaps or repeats {seqs}"
    async with engine.connect() as conn:
        stored = {r.prefix: r.last_value for r in await conn.execute(select(ticket_sequences))}
    assert stored == {"TS": 25, "XF": 25}


async def test_fifty_concurrent_writers_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await create_schema(engine)
    try:
        await _fifty_concurrent(SqlCaseStore(engine, clock=Clock(NOON_BEIJING)), engine)
    finally:
        await engine.dispose()


@skip_without_pg
@pytest.mark.postgres
async def test_fifty_concurrent_writers_postgres(pg_schema) -> None:  # noqa: F811
    engine = pg_engine(*pg_schema, pool_size=50, max_overflow=0)
    await truncate_pg(engine)
    try:
        await _fifty_concurrent(SqlCaseStore(engine, clock=Clock(NOON_BEIJING)), engine)
    finally:
        await engine.dispose()
