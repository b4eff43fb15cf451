"""Shared helpers for the case-store tests: real backends (SQLite file, PostgreSQL schema, the bianmin web
app's case API over HTTP) behind one ``open_backend`` and the contract every CaseStore must keep.

Test modules subclass ``CaseStoreContract`` and set ``backend_name``; pytest runs the same tests once per
backend, so the contract is written once.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Optional

import pytest
from sqlalchemy import text, update

from bianmin.db import create_schema, make_engine
from bianmin.settings import Settings
from bianmin.spawn import free_port
from tests.conftest import serve_app
from cases.models import submission_keys
from cases.store import (DEDUP_WINDOW, Deadline, InvalidRating, InvalidTransition, NewTicket,
                         Status, TicketNotFound, submission_key)
from cases.sql_store import QUERY_CODE_ALPHABET, SqlCaseStore

REPO = Path(__file__).resolve().parent.parent
PG_ENV = "BIANMIN_TEST_POSTGRES_URL"
API_TOKEN = "test-case-api-token-0123456789"
CASE_TABLES = ("ticket_events", "submission_keys", "tickets", "ticket_sequences", "audit_log")


def pg_url() -> Optional[str]:
    return os.environ.get(PG_ENV, "").strip() or None


skip_without_pg = pytest.mark.skipif(pg_url() is None, reason=f"{PG_ENV} not set")


def new_ticket(ticket_type: str = "complaint", sender: Optional[str] = None, description: Optional[str] = None,
               **extra: Any) -> NewTicket:
    sender = sender or f"web-{uuid.uuid4()}"
    fields = {"description": description or f"小区门口夜里施工噪音很大 {uuid.uuid4().hex[:8]}",
              "address": "朝阳区建国路88号3栋501室", "phone": "13812345678", "person_name": "张伟"}
    fields.update(extra.pop("fields", {}))
    return NewTicket(type=ticket_type, sender_id=sender, channel=extra.pop("channel", "webchat"), fields=fields,
                     submission_key=extra.pop("key", None) or submission_key(ticket_type, sender, fields), **extra)


# ------------------------------------------------------------------------------------------------ PostgreSQL
@contextlib.contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """A fresh schema with bianmin's tables for one test run (dropped afterwards): (url, schema)."""
    url = pg_url()
    assert url is not None
    schema = f"bianmin_test_{uuid.uuid4().hex[:10]}"

    async def run(sql: str, create: bool) -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()
        if create:
            scoped = pg_engine(url, schema)
            try:
                await create_schema(scoped)
            finally:
                await scoped.dispose()

    def in_thread(sql: str, create: bool) -> None:
        # a fixture may be set up while a test's event loop runs: do the work on a loop of its own
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run(sql, create)).result()

    in_thread(f'CREATE SCHEMA "{schema}"', True)
    try:
        yield url, schema
    finally:
        in_thread(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', False)


def pg_engine(url: str, schema: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    return make_engine(url, connect_args={"server_settings": {"search_path": schema}}, **kwargs)


async def truncate_pg(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(CASE_TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[tuple[str, str]]:
    if pg_url() is None:
        pytest.skip(f"{PG_ENV} not set")
    with postgres_schema() as found:
        yield found


# ------------------------------------------------------------------------------------------------ backends
@dataclass
class Backend:
    name: str
    store: Any            # SqlCaseStore or HttpCaseStore
    engine: Any           # the database behind it (to inspect and to simulate time passing)

    async def expire_submission_keys(self) -> None:
        """Move every submission key past the dedup window, as if 11 minutes had passed."""
        async with self.engine.begin() as conn:
            await conn.execute(update(submission_keys).values(
                created_at=dt.datetime.now(dt.timezone.utc) - DEDUP_WINDOW - dt.timedelta(minutes=1)))

    async def count(self, table: str) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


@contextlib.asynccontextmanager
async def web_app_server(var: Path, token: Optional[str] = API_TOKEN) -> AsyncIterator[tuple[str, Any]]:
    """The real bianmin web app on a free port (its own SQLite DB under ``var``): (base url, app)."""
    from web.app import create_app

    settings = Settings.from_env({"BIANMIN_VAR": str(var), "BIANMIN_HOME": str(REPO)})
    old = os.environ.get("BIANMIN_CASE_API_TOKEN")
    os.environ["BIANMIN_CASE_API_TOKEN"] = token or ""
    try:
        app = create_app(settings)
    finally:
        if old is None:
            os.environ.pop("BIANMIN_CASE_API_TOKEN", None)
        else:
            os.environ["BIANMIN_CASE_API_TOKEN"] = old
    async with serve_app(app) as url:
        yield url, app


@contextlib.asynccontextmanager
async def open_backend(name: str, tmp_path: Path, pg: Optional[tuple[str, str]] = None) -> AsyncIterator[Backend]:
    if name == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cases.db'}")
        await create_schema(engine)
        try:
            yield Backend(name, SqlCaseStore(engine), engine)
        finally:
            await engine.dispose()
    elif name == "postgres":
        assert pg is not None
        engine = pg_engine(*pg)
        await truncate_pg(engine)
        try:
            yield Backend(name, SqlCaseStore(engine), engine)
        finally:
            await engine.dispose()
    elif name == "http":
        from cases.http_store import HttpCaseStore
        from web.app import ENGINE_KEY

        async with web_app_server(tmp_path / "var") as (url, app):
            store = HttpCaseStore(url, API_TOKEN, timeout=10, retries=1, backoff=0.05)
            try:
                yield Backend(name, store, app[ENGINE_KEY])
            finally:
                await store.close()
    else:
        raise ValueError(name)


NUMBER_RE = re.compile(r"^(TS|XF|FY)\d{8}-\d{4,}$")


# ------------------------------------------------------------------------------------------------ the contract
class CaseStoreContract:
    """What every CaseStore does, whatever is behind it."""

    backend_name = ""

    @pytest.fixture
    async def backend(self, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
        pg = request.getfixturevalue("pg_schema") if self.backend_name == "postgres" else None
        async with open_backend(self.backend_name, tmp_path, pg) as b:
            yield b

    # ---- create / get
    async def test_create_stores_an_accepted_ticket_with_routing_and_deadlines(self, backend: Backend) -> None:
        deadline = Deadline("resolve", dt.date(2026, 12, 7), "承办部门将在10个工作日内（2026年12月7日前）办理并答复您")
        new = new_ticket(category="环境保护", subcategory="噪声污染", department="区生态环境局", deadlines=[deadline])
        result = await backend.store.create(new)
        t = result.ticket
        assert result.created is True
        assert NUMBER_RE.match(t.number) and t.number.startswith("TS")
        assert t.status is Status.ACCEPTED
        assert (t.category, t.subcategory, t.department) == ("环境保护", "噪声污染", "区生态环境局")
        assert t.deadlines == [deadline]
        assert [(e.status, e.actor) for e in t.events] == [("已受理", "resident")]
        assert t.query_code is None and t.rating is None
        again = await backend.store.get(t.number)
        assert again is not None
        assert again.number == t.number and again.fields == new.fields and again.deadlines == [deadline]
        assert again.created_at.tzinfo is not None
        assert abs((again.created_at - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60
        assert [e.status for e in again.events] == ["已受理"]

    async def test_each_type_has_its_prefix(self, backend: Backend) -> None:
        prefixes = {}
        for ticket_type in ("complaint", "petition", "legal_aid"):
            prefixes[ticket_type] = (await backend.store.create(new_ticket(ticket_type))).ticket.number[:2]
        assert prefixes == {"complaint": "TS", "petition": "XF", "legal_aid": "FY"}

    async def test_get_unknown_or_malformed_number_is_none(self, backend: Backend) -> None:
        assert await backend.store.get("TS20200101-9999") is None
        assert await backend.store.get("not-a-number") is None

    # ---- idempotency
    async def test_same_submission_within_window_returns_the_existing_ticket(self, backend: Backend) -> None:
        new = new_ticket()
        first = await backend.store.create(new)
        second = await backend.store.create(new)
        assert first.created and not second.created
        assert second.ticket.number == first.ticket.number
        assert len(await backend.store.find_by_sender(new.sender_id)) == 1
        other = await backend.store.create(new_ticket(sender=new.sender_id, description="另一件事：路灯坏了"))
        assert other.created and other.ticket.number != first.ticket.number

    async def test_expired_submission_key_makes_a_new_ticket(self, backend: Backend) -> None:
        new = new_ticket()
        first = await backend.store.create(new)
        await backend.expire_submission_keys()
        second = await backend.store.create(new)
        third = await backend.store.create(new)
        assert second.created and second.ticket.number != first.ticket.number
        assert not third.created and third.ticket.number == second.ticket.number

    async def test_concurrent_identical_submissions_make_exactly_one_ticket(self, backend: Backend) -> None:
        new = new_ticket("petition")
        results = await asyncio.gather(*[backend.store.create(new) for _ in range(12)])
        assert sum(r.created for r in results) == 1
        assert len({r.ticket.number for r in results}) == 1
        assert len(await backend.store.find_by_sender(new.sender_id)) == 1
        assert await backend.count("tickets") == 1
        assert await backend.count("ticket_events") == 1

    async def test_concurrent_distinct_submissions_get_distinct_numbers(self, backend: Backend) -> None:
        results = await asyncio.gather(*[backend.store.create(new_ticket()) for _ in range(20)])
        numbers = [r.ticket.number for r in results]
        assert all(r.created for r in results)
        assert len(set(numbers)) == 20
        by_day: dict[str, list[int]] = {}
        for n in numbers:   # a run across local midnight starts the next day's sequence at 1
            by_day.setdefault(n[:10], []).append(int(n.split("-")[1]))
        for seqs in by_day.values():
            assert sorted(seqs) == list(range(1, len(seqs) + 1))   # no gaps, no repeats

    # ---- lifecycle
    async def test_full_lifecycle_appends_an_event_per_change(self, backend: Backend) -> None:
        t = (await backend.store.create(new_ticket())).ticket
        steps = [(Status.ASSIGNED, "派至区生态环境局"), (Status.IN_PROGRESS, ""), (Status.RESOLVED, "已责令停工"),
                 (Status.VISITED, "居民表示满意")]
        for status, note in steps:
            t2 = await backend.store.update_status(t.number, status, "staff-li", note)
            assert t2.status is status
            assert t2.updated_at >= t.updated_at
            t = t2
        stored = await backend.store.get(t.number)
        assert stored is not None and stored.status is Status.VISITED
        assert [(e.status, e.actor, e.note) for e in stored.events] == [
            ("已受理", "resident", ""), ("已分派", "staff-li", "派至区生态环境局"), ("办理中", "staff-li", ""),
            ("已办结", "staff-li", "已责令停工"), ("已回访", "staff-li", "居民表示满意")]

    async def test_staff_may_skip_ahead_or_reject(self, backend: Backend) -> None:
        a = (await backend.store.create(new_ticket())).ticket
        assert (await backend.store.update_status(a.number, Status.RESOLVED, "staff")).status is Status.RESOLVED
        b = (await backend.store.create(new_ticket())).ticket
        await backend.store.update_status(b.number, Status.REJECTED, "staff", "属于诉讼范围，建议向法院起诉")
        assert (await backend.store.update_status(b.number, Status.VISITED, "staff")).status is Status.VISITED

    @pytest.mark.parametrize("path, bad", [
        ([], Status.VISITED), ([], Status.ACCEPTED), ([Status.ASSIGNED], Status.ASSIGNED),
        ([Status.IN_PROGRESS], Status.ASSIGNED), ([Status.RESOLVED], Status.IN_PROGRESS),
        ([Status.REJECTED, Status.VISITED], Status.RESOLVED)])
    async def test_transitions_outside_the_chain_are_refused(self, backend: Backend, path: list[Status],
                                                             bad: Status) -> None:
        t = (await backend.store.create(new_ticket())).ticket
        for status in path:
            t = await backend.store.update_status(t.number, status, "staff")
        with pytest.raises(InvalidTransition):
            await backend.store.update_status(t.number, bad, "staff")
        after = await backend.store.get(t.number)
        assert after is not None and after.status is t.status and len(after.events) == len(t.events)

    async def test_changes_to_unknown_tickets_raise_not_found(self, backend: Backend) -> None:
        with pytest.raises(TicketNotFound):
            await backend.store.update_status("TS20200101-0001", Status.ASSIGNED, "staff")
        with pytest.raises(TicketNotFound):
            await backend.store.add_note("XF20200101-0001", "staff", "备注")
        with pytest.raises(TicketNotFound):
            await backend.store.rate("FY20200101-0001", 5)

    async def test_notes_are_events_without_status_change(self, backend: Backend) -> None:
        t = (await backend.store.create(new_ticket())).ticket
        noted = await backend.store.add_note(t.number, "staff-wang", "已电话联系居民，约定周三上门")
        assert noted.status is Status.ACCEPTED
        assert (noted.events[-1].status, noted.events[-1].actor, noted.events[-1].note) == \
            ("", "staff-wang", "已电话联系居民，约定周三上门")

    async def test_replayed_request_key_changes_nothing_twice(self, backend: Backend) -> None:
        t = (await backend.store.create(new_ticket())).ticket
        key = f"req-{uuid.uuid4().hex}"
        first = await backend.store.update_status(t.number, Status.ASSIGNED, "staff", "派单", request_key=key)
        again = await backend.store.update_status(t.number, Status.ASSIGNED, "staff", "派单", request_key=key)
        assert first.status is again.status is Status.ASSIGNED
        assert len(again.events) == 2
        note_key = f"req-{uuid.uuid4().hex}"
        await backend.store.add_note(t.number, "staff", "同一条备注", request_key=note_key)
        final = await backend.store.add_note(t.number, "staff", "同一条备注", request_key=note_key)
        assert [e.note for e in final.events].count("同一条备注") == 1

    # ---- rating
    async def test_rating_only_after_resolution_once_and_in_range(self, backend: Backend) -> None:
        new = new_ticket()
        t = (await backend.store.create(new)).ticket
        with pytest.raises(InvalidRating):
            await backend.store.rate(t.number, 5)
        await backend.store.update_status(t.number, Status.RESOLVED, "staff")
        for bad in (0, 6, -1, True):
            with pytest.raises(InvalidRating):
                await backend.store.rate(t.number, bad)
        with pytest.raises(TicketNotFound):       # somebody else's ticket looks like no ticket at all
            await backend.store.rate(t.number, 4, sender_id="web-someone-else")
        rated = await backend.store.rate(t.number, 4, sender_id=new.sender_id)
        assert rated.rating == 4 and rated.events[-1].note == "居民评价：4分"
        with pytest.raises(InvalidRating):
            await backend.store.rate(t.number, 5)
        assert (await backend.store.get(t.number)).rating == 4

    async def test_visited_tickets_are_rateable(self, backend: Backend) -> None:
        t = (await backend.store.create(new_ticket())).ticket
        await backend.store.update_status(t.number, Status.REJECTED, "staff")
        with pytest.raises(InvalidRating):
            await backend.store.rate(t.number, 3)
        await backend.store.update_status(t.number, Status.VISITED, "staff")
        assert (await backend.store.rate(t.number, 3)).rating == 3

    # ---- lookups
    async def test_find_by_sender_newest_first_with_limit(self, backend: Backend) -> None:
        sender = f"web-{uuid.uuid4()}"
        numbers = []
        for i in range(4):
            numbers.append((await backend.store.create(new_ticket(sender=sender, description=f"第{i}件事"))).ticket.number)
        await backend.store.create(new_ticket())   # someone else's
        found = await backend.store.find_by_sender(sender)
        assert [t.number for t in found] == numbers[::-1]
        assert [t.number for t in await backend.store.find_by_sender(sender, limit=2)] == numbers[:1:-1]
        assert found[0].events and found[0].events[0].status == "已受理"
        assert await backend.store.find_by_sender("web-nobody") == []

    async def test_find_by_contact_phone_and_id_last4(self, backend: Backend) -> None:
        aid = (await backend.store.create(new_ticket("legal_aid", fields={
            "phone": "139 1234 5678", "id_number": "11010519491231002X"}))).ticket
        other = (await backend.store.create(new_ticket(fields={"phone": "13912345678"}))).ticket
        by_phone = await backend.store.find_by_contact(phone="+86 139-1234-5678")
        assert {t.number for t in by_phone} == {aid.number, other.number}
        assert [t.number for t in await backend.store.find_by_contact(phone="13912345678", id_last4="002x")] == \
            [aid.number]
        assert await backend.store.find_by_contact(phone="13912345678", id_last4="1234") == []
        assert await backend.store.find_by_contact(phone="13900000000", id_last4="002X") == []
        assert await backend.store.find_by_contact() == []

    async def test_anonymous_ticket_gets_a_query_code(self, backend: Backend) -> None:
        anon = (await backend.store.create(new_ticket(anonymous=True, fields={"phone": ""}))).ticket
        code = anon.query_code
        assert code is not None and len(code) == 6 and set(code) <= set(QUERY_CODE_ALPHABET)
        for typed in (code, code.lower(), f" {code[:3]} {code[3:]} "):
            assert [t.number for t in await backend.store.find_by_contact(query_code=typed)] == [anon.number]
        assert await backend.store.find_by_contact(query_code="ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY") == []
        codes = {(await backend.store.create(new_ticket(anonymous=True))).ticket.query_code for _ in range(5)}
        assert len(codes) == 5 and code not in codes

    async def test_list_tickets_filters_and_pages(self, backend: Backend) -> None:
        made = [(await backend.store.create(new_ticket(category="环境保护" if i % 2 else "城乡建设"))).ticket
                for i in range(5)]
        await backend.store.create(new_ticket("petition"))
        await backend.store.update_status(made[0].number, Status.ASSIGNED, "staff")
        page = await backend.store.list_tickets(ticket_type="complaint", limit=2)
        assert page.total == 5 and [t.number for t in page.tickets] == [made[4].number, made[3].number]
        page2 = await backend.store.list_tickets(ticket_type="complaint", limit=2, offset=4)
        assert [t.number for t in page2.tickets] == [made[0].number]
        assert (await backend.store.list_tickets(category="环境保护")).total == 2
        assigned = await backend.store.list_tickets(status=Status.ASSIGNED)
        assert [t.number for t in assigned.tickets] == [made[0].number] and assigned.total == 1
        assert (await backend.store.list_tickets()).total == 6


__all__ = ["Backend", "CaseStoreContract", "open_backend", "pg_schema", "new_ticket",
           "skip_without_pg", "web_app_server", "postgres_schema", "pg_engine", "truncate_pg", "free_port"]
