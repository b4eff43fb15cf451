"""Exactly one staff member gets a conversation, however many claim it at the same moment (real databases)."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from bianmin import audit
from bianmin.db import create_schema, make_engine
from cases_support import pg_engine, pg_url, postgres_schema
from channels.handoff import HANDOFF_KEY, HandoffStore
from channels.handoff_models import handoff_sessions
from handoff_support import add_users, sign_in, web_app
from web.app import ENGINE_KEY

CLAIMERS = 12
ROUNDS = 4


def sender() -> str:
    return f"web-{uuid.uuid4()}"


async def test_concurrent_http_claims_have_exactly_one_winner(tmp_path: Path) -> None:
    async with web_app(tmp_path / "var") as (url, app):
        names = [f"staff{i:02d}" for i in range(CLAIMERS)]
        await add_users(app, *[(n, "staff", f"坐席{i}") for i, n in enumerate(names)])
        clients = [await sign_in(url, n) for n in names]
        try:
            store: HandoffStore = app[HANDOFF_KEY].store
            for _ in range(ROUNDS):
                session, _ = await store.enqueue(sender(), "requested")

                async def claim(i: int) -> tuple[int, str]:
                    async with clients[i].post(f"{url}/api/staff/handoff/{session.id}/claim") as r:
                        return r.status, names[i]

                results = await asyncio.gather(*[claim(i) for i in range(CLAIMERS)])
                statuses = [s for s, _ in results]
                assert statuses.count(200) == 1, statuses
                assert statuses.count(409) == CLAIMERS - 1, statuses
                winner = next(n for s, n in results if s == 200)
                row = await store.get(session.id)
                assert row is not None and row.status == "active" and row.claimed_by == winner
                claims = [r for r in await audit.recent(app[ENGINE_KEY], 1000)
                          if r["action"] == "handoff.claim" and r["target"] == f"handoff/{session.id}"]
                assert [r["actor"] for r in claims] == [winner]
        finally:
            for c in clients:
                await c.close()


async def race(stores: list[HandoffStore], claimers_per_store: int) -> None:
    """Several engines (like several web app instances) race for each of a few queued sessions."""
    for _ in range(ROUNDS):
        session, _ = await stores[0].enqueue(sender(), "requested")
        jobs = [store.claim(session.id, f"s{k}-{i}") for k, store in enumerate(stores) for i in range(claimers_per_store)]
        won = await asyncio.gather(*jobs)
        assert won.count(True) == 1, won
        async with stores[0].engine.connect() as conn:
            row = (await conn.execute(select(handoff_sessions).where(handoff_sessions.c.id == session.id))).one()
        assert row.status == "active" and row.claimed_by is not None


async def test_sqlite_claims_from_several_processes_worth_of_engines(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bianmin.db'}"
    engines = [make_engine(url) for _ in range(3)]
    await create_schema(engines[0])
    try:
        await race([HandoffStore(e) for e in engines], 8)
    finally:
        for e in engines:
            await e.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(pg_url() is None, reason="BIANMIN_TEST_POSTGRES_URL not set")
async def test_postgres_claims_have_exactly_one_winner() -> None:
    assert pg_url() is not None
    with postgres_schema() as (url, schema):
        engines = [pg_engine(url, schema) for _ in range(3)]
        try:
            await create_schema(engines[0])
            await race([HandoffStore(e) for e in engines], 8)
        finally:
            for e in engines:
                await e.dispose()


async def test_a_restarted_web_app_still_knows_who_has_which_conversation(tmp_path: Path) -> None:
    var = tmp_path / "var"
    waiting, talking = sender(), sender()
    async with web_app(var) as (url, app):
        await add_users(app, ("zhangsan", "staff", "张三"))
        store: HandoffStore = app[HANDOFF_KEY].store
        await store.enqueue(waiting, "upset")
        session, _ = await store.enqueue(talking, "requested")
        client = await sign_in(url, "zhangsan")
        async with client.post(f"{url}/api/staff/handoff/{session.id}/claim") as r:
            assert r.status == 200
        await client.close()
    async with web_app(var) as (url, app):            # a new process on the same database
        client = await sign_in(url, "zhangsan")
        try:
            async with client.get(f"{url}/api/staff/handoff/queue") as r:
                queue = (await r.json())["sessions"]
        finally:
            await client.close()
    by_sender = {s["sender_short"]: s for s in queue}
    assert by_sender[waiting[-6:]]["status"] == "queued" and by_sender[waiting[-6:]]["reason"] == "upset"
    assert by_sender[talking[-6:]]["status"] == "active" and by_sender[talking[-6:]]["claimed_by_name"] == "张三"
