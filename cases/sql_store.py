"""SqlCaseStore: the CaseStore on bianmin's own database (SQLite embedded, PostgreSQL when scaled out).

Every operation is one short transaction on a connection of its own. Writes that depend on the current
state are single compare-and-set UPDATEs (``… WHERE status IN (allowed predecessors)``), so two staff
members changing the same ticket cannot both win, and the first statement of every write transaction is a
write (SQLite then takes its write lock up front instead of failing a read→write upgrade under load).

Idempotent create: the ``submission_keys`` row (primary key = submission key) is inserted in the same
transaction as the ticket. Two identical submissions racing each other both try to insert it; the loser's
whole transaction (ticket, events, sequence increment) rolls back and it returns the winner's ticket with
``created=False``.

Personal data at rest: a ticket's ``fields`` (the whole intake form: phone, ID number, names, address, the
description) are stored sealed with AES-256-GCM (``{"sealed": "v1.<key id>.…"}``, authenticated with the
ticket number), and ``contact_phone`` holds a blind index (HMAC of the digits), never the phone itself; see
bianmin/crypto.py for the keys. ``reseal_tickets`` migrates plaintext rows and re-seals under a new key.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import secrets
import weakref
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bianmin.crypto import DataKeyError, DataKeys, is_sealed, key_id_of
from bianmin.settings import Settings
from cases.models import submission_keys, ticket_events, tickets
from cases.numbering import allocate, local_date
from cases.store import (DEDUP_WINDOW, RATEABLE, TICKET_NUMBER_RE, TICKET_TYPES, TRANSITIONS, CaseStoreError,
                         CaseStoreUnavailable, CreateResult, InvalidRating, InvalidTransition, NewTicket, Status,
                         Ticket, TicketEvent, TicketNotFound, TicketPage)
from cases.wire import deadline_from_json, deadline_to_json

log = logging.getLogger(__name__)

QUERY_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I: read out over the phone
QUERY_CODE_LENGTH = 6
MAX_NOTE_CHARS = 2000
MAX_LIMIT = 100
_CREATE_ATTEMPTS = 4

#: Extra statements a caller runs inside the store's transaction (e.g. an audit row that must commit with it).
InTransaction = Callable[[AsyncConnection], Awaitable[None]]
_DB_ERRORS = (SQLAlchemyError, OSError, asyncio.TimeoutError)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def normalise_phone(phone: Optional[str]) -> Optional[str]:
    """Digits only, without a +86/0086 country prefix: "138-1234-5678" and "+8613812345678" match."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", str(phone))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if 7 <= len(digits) <= 20 else None


def normalise_id_last4(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    value = str(value).strip().upper()
    return value[-4:] if len(value) >= 4 else None


def normalise_query_code(code: Optional[str]) -> Optional[str]:
    if not code:
        return None
    code = re.sub(r"[\s-]", "", str(code)).upper()
    return code if len(code) == QUERY_CODE_LENGTH else None


def contact_keys(fields: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """(contact_phone, id_last4) a resident can later check progress with, from the intake form's fields."""
    phone = normalise_phone(fields.get("phone") or fields.get("contact_phone"))
    id_last4 = normalise_id_last4(fields.get("id_number") or fields.get("id_last4"))
    return phone, id_last4


SEALED = "sealed"


def phone_index(keys: DataKeys, digits: str) -> str:
    """What ``contact_phone`` stores: a keyed hash of the normalised digits (20 characters, fits the column)."""
    return keys.blind_index("phone", digits)


def _aad(number: str) -> str:
    return f"tickets.fields:{number}"


def seal_fields(keys: DataKeys, number: str, fields: dict[str, Any]) -> dict[str, str]:
    return {SEALED: keys.seal_text(json.dumps(fields, ensure_ascii=False, sort_keys=True), _aad(number))}


def fields_are_sealed(stored: Any) -> bool:
    return isinstance(stored, dict) and set(stored) == {SEALED} and is_sealed(stored[SEALED])


def open_fields(keys: DataKeys, number: str, stored: Any) -> dict[str, Any]:
    """The form as filed. A row not yet migrated (plaintext, from before encryption) reads as it is."""
    if fields_are_sealed(stored):
        return dict(json.loads(keys.open_text(stored[SEALED], _aad(number))))
    return dict(stored or {})


def default_keys() -> DataKeys:
    return DataKeys.from_env(Settings.from_env().var)


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


class SqlCaseStore:
    """CaseStore on an AsyncEngine. ``clock`` exists so tests can move time (dedup window, daily reset)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], dt.datetime] = utcnow,
                 owns_engine: bool = False, keys: Optional[DataKeys] = None) -> None:
        self.engine = engine
        self.keys = keys or default_keys()
        self._clock = clock
        self._owns_engine = owns_engine
        self._write_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = \
            weakref.WeakKeyDictionary()

    @contextlib.asynccontextmanager
    async def _write_tx(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. On SQLite this process's writers first queue on an asyncio.Lock: SQLite admits
        one writer at a time anyway, and its busy handler polls with sleeps — unfair under load (seconds-long
        tail latencies in bench/cases_throughput.py). Other processes still wait on SQLite's busy timeout."""
        if self.engine.dialect.name != "sqlite":
            async with self.engine.begin() as conn:
                yield conn
            return
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        async with self.engine.connect() as conn:   # opening the connection needs no lock
            async with lock:
                async with conn.begin():
                    yield conn

    def _now(self) -> dt.datetime:
        return _as_utc(self._clock())

    @staticmethod
    def _unavailable(what: str, exc: BaseException) -> CaseStoreUnavailable:
        log.warning("case store (sql): %s failed: %s", what, type(exc).__name__)
        return CaseStoreUnavailable(f"工单库暂时无法访问（{what}）")

    # ---------------------------------------------------------------------------------------------- create
    async def create(self, new: NewTicket) -> CreateResult:
        if new.type not in TICKET_TYPES:
            raise ValueError(f"unknown ticket type {new.type!r}")
        if not new.submission_key:
            raise ValueError("submission_key is required")
        for _ in range(_CREATE_ATTEMPTS):
            now = self._now()
            try:
                async with self._write_tx() as conn:
                    existing = await self._claim_key(conn, new.submission_key, now)
                    if existing is not None:
                        ticket = await self._load(conn, existing)
                        if ticket is not None:
                            return CreateResult(ticket, created=False)
                    ticket = await self._insert(conn, new, now)
                return CreateResult(ticket, created=True)
            except IntegrityError:
                # An identical submission committed first (submission key) or, very rarely, a query code
                # collided: nothing of ours was stored; look again.
                continue
            except _DB_ERRORS as exc:
                raise self._unavailable("create", exc) from exc
        raise CaseStoreUnavailable("工单库繁忙，工单未能保存")

    async def _claim_key(self, conn: AsyncConnection, key: str, now: dt.datetime) -> Optional[str]:
        """Forget the key if its window has passed (a write: SQLite takes the write lock here); return the
        number of the ticket an identical submission made within the window, if any."""
        await conn.execute(delete(submission_keys).where(submission_keys.c.key == key,
                                                         submission_keys.c.created_at < now - DEDUP_WINDOW))
        return (await conn.execute(select(submission_keys.c.ticket_number)
                                   .where(submission_keys.c.key == key))).scalar_one_or_none()

    async def _new_query_code(self, conn: AsyncConnection) -> str:
        for _ in range(10):
            code = "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(QUERY_CODE_LENGTH))
            taken = (await conn.execute(select(tickets.c.id).where(tickets.c.query_code == code))).first()
            if taken is None:
                return code
        raise CaseStoreUnavailable("无法生成查询码")  # 32**6 codes: only reachable with a broken RNG

    async def _insert(self, conn: AsyncConnection, new: NewTicket, now: dt.datetime) -> Ticket:
        number = await allocate(conn, new.type, local_date(now))
        query_code = await self._new_query_code(conn) if new.anonymous else None
        phone, id_last4 = contact_keys(new.fields)
        actor = "system" if new.channel == "staff" else "resident"
        await conn.execute(insert(tickets).values(
            number=number, type=new.type, status=Status.ACCEPTED.value, sender_id=new.sender_id,
            channel=new.channel, fields=seal_fields(self.keys, number, new.fields), anonymous=new.anonymous,
            query_code=query_code, contact_phone=phone_index(self.keys, phone) if phone else None,
            id_last4=id_last4, category=new.category, subcategory=new.subcategory,
            department=new.department, deadlines=[deadline_to_json(d) for d in new.deadlines],
            created_at=now, updated_at=now, rating=None))
        await conn.execute(insert(ticket_events).values(
            ticket_number=number, at=now, status=Status.ACCEPTED.value, actor=actor, note=""))
        await conn.execute(insert(submission_keys).values(key=new.submission_key, ticket_number=number,
                                                          created_at=now))
        return Ticket(number=number, type=new.type, status=Status.ACCEPTED, sender_id=new.sender_id,
                      channel=new.channel, fields=dict(new.fields), anonymous=new.anonymous, query_code=query_code,
                      category=new.category, subcategory=new.subcategory, department=new.department,
                      deadlines=list(new.deadlines), created_at=now, updated_at=now,
                      events=[TicketEvent(at=now, status=Status.ACCEPTED.value, actor=actor)], rating=None)

    # ---------------------------------------------------------------------------------------------- reads
    def _ticket(self, row: Row, events: Sequence[Row] = ()) -> Ticket:
        try:
            fields = open_fields(self.keys, row.number, row.fields)
        except DataKeyError as exc:
            # wrong or missing key: refuse loudly rather than show an empty form
            log.error("case store (sql): ticket %s does not open: %s", row.number, exc)
            raise CaseStoreUnavailable("工单数据暂时无法读取") from exc
        return Ticket(
            number=row.number, type=row.type, status=Status(row.status), sender_id=row.sender_id,
            channel=row.channel, fields=fields, anonymous=bool(row.anonymous),
            query_code=row.query_code, category=row.category, subcategory=row.subcategory,
            department=row.department, deadlines=[deadline_from_json(d) for d in row.deadlines or []],
            created_at=_as_utc(row.created_at), updated_at=_as_utc(row.updated_at),
            events=[TicketEvent(at=_as_utc(e.at), status=e.status or "", actor=e.actor, note=e.note or "")
                    for e in events],
            rating=row.rating)

    async def _load_many(self, conn: AsyncConnection, query: Any, with_events: bool = True) -> list[Ticket]:
        rows = (await conn.execute(query)).all()
        if not rows:
            return []
        by_number: dict[str, list[Row]] = {r.number: [] for r in rows}
        if with_events:
            events = await conn.execute(select(ticket_events)
                                        .where(ticket_events.c.ticket_number.in_(list(by_number)))
                                        .order_by(ticket_events.c.id))
            for e in events:
                by_number[e.ticket_number].append(e)
        return [self._ticket(r, by_number[r.number]) for r in rows]

    async def _load(self, conn: AsyncConnection, number: str) -> Optional[Ticket]:
        found = await self._load_many(conn, select(tickets).where(tickets.c.number == number))
        return found[0] if found else None

    async def get(self, number: str) -> Optional[Ticket]:
        if not isinstance(number, str) or not TICKET_NUMBER_RE.match(number.strip().upper()):
            return None
        try:
            async with self.engine.connect() as conn:
                return await self._load(conn, number.strip().upper())
        except _DB_ERRORS as exc:
            raise self._unavailable("get", exc) from exc

    @staticmethod
    def _newest_first(query: Any) -> Any:
        return query.order_by(tickets.c.created_at.desc(), tickets.c.id.desc())

    async def find_by_sender(self, sender_id: str, limit: int = 5) -> list[Ticket]:
        if not sender_id:
            return []
        query = self._newest_first(select(tickets).where(tickets.c.sender_id == sender_id)).limit(_clamp(limit))
        try:
            async with self.engine.connect() as conn:
                return await self._load_many(conn, query)
        except _DB_ERRORS as exc:
            raise self._unavailable("find_by_sender", exc) from exc

    async def find_by_contact(self, phone: Optional[str] = None, id_last4: Optional[str] = None,
                              query_code: Optional[str] = None, limit: int = 5) -> list[Ticket]:
        """By query code (anonymous reports), else by phone — narrowed to the ID's last four characters when
        given (tickets filed without an ID number then do not match). Neither → no tickets."""
        code = normalise_query_code(query_code)
        if code:
            query = select(tickets).where(tickets.c.query_code == code)
        else:
            digits = normalise_phone(phone)
            if not digits:
                return []
            query = select(tickets).where(tickets.c.contact_phone == phone_index(self.keys, digits))
            if id_last4:
                last4 = normalise_id_last4(id_last4)
                if not last4:
                    return []
                query = query.where(tickets.c.id_last4 == last4)
        query = self._newest_first(query).limit(_clamp(limit))
        try:
            async with self.engine.connect() as conn:
                return await self._load_many(conn, query)
        except _DB_ERRORS as exc:
            raise self._unavailable("find_by_contact", exc) from exc

    async def list_tickets(self, *, status: Optional[Status] = None, ticket_type: Optional[str] = None,
                           category: Optional[str] = None, limit: int = 20, offset: int = 0) -> TicketPage:
        conditions = []
        if status is not None:
            conditions.append(tickets.c.status == Status(status).value)
        if ticket_type:
            conditions.append(tickets.c.type == ticket_type)
        if category:
            conditions.append(tickets.c.category == category)
        query = self._newest_first(select(tickets).where(*conditions)).limit(_clamp(limit)).offset(max(0, offset))
        try:
            async with self.engine.connect() as conn:
                total = (await conn.execute(select(func.count()).select_from(tickets).where(*conditions))).scalar_one()
                return TicketPage(await self._load_many(conn, query, with_events=False), int(total))
        except _DB_ERRORS as exc:
            raise self._unavailable("list", exc) from exc

    # ---------------------------------------------------------------------------------------------- changes
    async def _replayed(self, conn: AsyncConnection, request_key: Optional[str]) -> bool:
        if not request_key:
            return False
        found = await conn.execute(select(ticket_events.c.id).where(ticket_events.c.request_key == request_key))
        return found.first() is not None

    async def _change(self, what: str, number: str, request_key: Optional[str],
                      body: Callable[[AsyncConnection], Awaitable[None]],
                      in_transaction: Optional[InTransaction]) -> Ticket:
        """Run ``body`` and the caller's extra statements in one transaction; return the ticket as committed.
        A request replayed with the same ``request_key`` returns the ticket without changing it again."""
        number = number.strip().upper() if isinstance(number, str) else ""
        if not TICKET_NUMBER_RE.match(number):
            raise TicketNotFound(f"没有找到工单 {number}")
        try:
            try:
                async with self._write_tx() as conn:
                    await body(conn)
                    if in_transaction is not None:
                        await in_transaction(conn)
                    ticket = await self._load(conn, number)
            except CaseStoreError:
                if request_key:
                    async with self.engine.connect() as conn:
                        if await self._replayed(conn, request_key):
                            ticket = await self._load(conn, number)
                            if ticket is not None:
                                return ticket
                raise
            except IntegrityError:
                # the same request_key committed concurrently: the change is already there
                async with self.engine.connect() as conn:
                    if not await self._replayed(conn, request_key):
                        raise
                    ticket = await self._load(conn, number)
        except _DB_ERRORS as exc:
            raise self._unavailable(what, exc) from exc
        if ticket is None:
            raise TicketNotFound(f"没有找到工单 {number}")
        return ticket

    async def _event(self, conn: AsyncConnection, number: str, now: dt.datetime, status: str, actor: str,
                     note: str, request_key: Optional[str]) -> None:
        await conn.execute(insert(ticket_events).values(ticket_number=number, at=now, status=status,
                                                        actor=actor[:64], note=note, request_key=request_key))

    async def _current(self, conn: AsyncConnection, number: str) -> Row:
        row = (await conn.execute(select(tickets.c.status, tickets.c.rating, tickets.c.sender_id)
                                  .where(tickets.c.number == number))).first()
        if row is None:
            raise TicketNotFound(f"没有找到工单 {number}")
        return row

    async def update_status(self, number: str, status: Status, actor: str, note: str = "", *,
                            request_key: Optional[str] = None,
                            in_transaction: Optional[InTransaction] = None) -> Ticket:
        status = Status(status)
        note = (note or "").strip()
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"备注不能超过{MAX_NOTE_CHARS}个字")
        allowed_from = [s.value for s, nexts in TRANSITIONS.items() if status in nexts]
        number_u = number.strip().upper() if isinstance(number, str) else ""

        async def body(conn: AsyncConnection) -> None:
            now = self._now()
            if await self._replayed(conn, request_key):
                return
            done = await conn.execute(update(tickets)
                                      .where(tickets.c.number == number_u, tickets.c.status.in_(allowed_from))
                                      .values(status=status.value, updated_at=now))
            if done.rowcount == 0:
                current = await self._current(conn, number_u)
                raise InvalidTransition(f"工单 {number_u} 当前状态为“{current.status}”，不能改为“{status.value}”")
            await self._event(conn, number_u, now, status.value, actor, note, request_key)

        return await self._change("update_status", number, request_key, body, in_transaction)

    async def add_note(self, number: str, actor: str, note: str, *, request_key: Optional[str] = None,
                       in_transaction: Optional[InTransaction] = None) -> Ticket:
        note = (note or "").strip()
        if not note:
            raise ValueError("备注内容不能为空")
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"备注不能超过{MAX_NOTE_CHARS}个字")
        number_u = number.strip().upper() if isinstance(number, str) else ""

        async def body(conn: AsyncConnection) -> None:
            now = self._now()
            if await self._replayed(conn, request_key):
                return
            done = await conn.execute(update(tickets).where(tickets.c.number == number_u).values(updated_at=now))
            if done.rowcount == 0:
                raise TicketNotFound(f"没有找到工单 {number_u}")
            await self._event(conn, number_u, now, "", actor, note, request_key)

        return await self._change("add_note", number, request_key, body, in_transaction)

    async def rate(self, number: str, score: int, sender_id: Optional[str] = None, *,
                   request_key: Optional[str] = None) -> Ticket:
        """1–5, once, after 已办结/已回访. With ``sender_id``, only the resident who filed it may rate; for
        anyone else the ticket is reported as not found (no hint that the number exists)."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidRating("评分应为1到5之间的整数")
        number_u = number.strip().upper() if isinstance(number, str) else ""

        async def body(conn: AsyncConnection) -> None:
            now = self._now()
            if await self._replayed(conn, request_key):
                return
            query = (update(tickets).where(tickets.c.number == number_u, tickets.c.rating.is_(None),
                                           tickets.c.status.in_([s.value for s in RATEABLE]))
                     .values(rating=score, updated_at=now))
            if sender_id is not None:
                query = query.where(tickets.c.sender_id == sender_id)
            if (await conn.execute(query)).rowcount == 0:
                current = await self._current(conn, number_u)
                if sender_id is not None and current.sender_id != sender_id:
                    raise TicketNotFound(f"没有找到工单 {number_u}")
                if current.rating is not None:
                    raise InvalidRating("这件工单已经评价过了，感谢您的反馈")
                raise InvalidRating(f"工单当前状态为“{current.status}”，办结后才能评价")
            await self._event(conn, number_u, now, "", "resident", f"居民评价：{score}分", request_key)

        return await self._change("rate", number, request_key, body, None)

    async def close(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()


# ---------------------------------------------------------------------------------------------- data at rest
#: Form fields that are personal data as such; purge removes them. Free-text fields are masked instead.
PERSONAL_FIELDS = frozenset({"phone", "contact_phone", "id_number", "id_last4", "person_name", "name",
                             "applicant_name", "address"})
FREE_TEXT_FIELDS = ("description", "facts", "request", "hardship", "target")
CLOSED = (Status.RESOLVED.value, Status.REJECTED.value, Status.VISITED.value)
PURGED_SENDER = "purged"


async def _locked_row(conn: AsyncConnection, ticket_id: int) -> Optional[Row]:
    """The row, after a no-op write on it: SQLite takes its write lock, PostgreSQL locks the row, so nobody
    rewrites it between this read and our UPDATE."""
    await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(id=tickets.c.id))
    return (await conn.execute(select(tickets.c.id, tickets.c.number, tickets.c.fields, tickets.c.contact_phone)
                               .where(tickets.c.id == ticket_id))).first()


def _reseal_values(keys: DataKeys, row: Row) -> Optional[dict[str, Any]]:
    """New column values for a row that is plaintext, sealed under an old key, or has a plaintext phone."""
    values: dict[str, Any] = {}
    if not fields_are_sealed(row.fields) or key_id_of(row.fields[SEALED]) != keys.active:
        values["fields"] = seal_fields(keys, row.number, open_fields(keys, row.number, row.fields))
    if row.contact_phone and not str(row.contact_phone).startswith("h1"):
        digits = normalise_phone(row.contact_phone)
        values["contact_phone"] = phone_index(keys, digits) if digits else None
    return values or None


async def reseal_tickets(engine: AsyncEngine, keys: DataKeys, *, batch: int = 200) -> dict[str, int]:
    """Seal plaintext rows (tickets filed before encryption), re-seal rows sealed under any key but the active
    one (rotation), and replace plaintext phones by their blind index. Idempotent and safe while the assistant
    runs: each row is rewritten in its own short transaction. Returns {"scanned", "rewritten"}."""
    scanned = rewritten = 0
    last_id = 0
    while True:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(tickets.c.id, tickets.c.number, tickets.c.fields,
                                              tickets.c.contact_phone)
                                       .where(tickets.c.id > last_id).order_by(tickets.c.id).limit(batch))).all()
        if not rows:
            return {"scanned": scanned, "rewritten": rewritten}
        for row in rows:
            scanned += 1
            last_id = row.id
            if _reseal_values(keys, row) is None:
                continue
            async with engine.begin() as conn:
                current = await _locked_row(conn, row.id)
                values = _reseal_values(keys, current) if current is not None else None
                if values:
                    await conn.execute(update(tickets).where(tickets.c.id == row.id).values(**values))
                    rewritten += 1


async def key_usage(engine: AsyncEngine) -> dict[str, int]:
    """How many tickets are sealed under each key id (``"plaintext"`` for rows not sealed yet)."""
    usage: dict[str, int] = {}
    async with engine.connect() as conn:
        result = await conn.stream(select(tickets.c.fields))
        async for (stored,) in result:
            kid = key_id_of(stored.get(SEALED)) if fields_are_sealed(stored) else "plaintext"
            usage[kid or "plaintext"] = usage.get(kid or "plaintext", 0) + 1
    return usage


def _purged_fields(fields: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    from bianmin.pii import mask_text   # foundation; imported here to keep the store's import light

    out = {k: v for k, v in fields.items() if k not in PERSONAL_FIELDS and not k.endswith("_name")}
    for key in FREE_TEXT_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = mask_text(out[key])
    out["purged_at"] = now.isoformat()
    return out


async def purge_closed_tickets(engine: AsyncEngine, keys: DataKeys, older_than: dt.timedelta, *,
                               actor: str = "system", now: Optional[dt.datetime] = None) -> list[str]:
    """Remove the personal data of tickets closed (已办结/不予受理/已回访) and untouched for ``older_than``:
    personal fields dropped, free text masked, the phone index, ID tail and conversation id cleared. Each
    ticket is purged with its audit row in one transaction. Returns the ticket numbers purged."""
    from bianmin import audit

    now = _as_utc(now or utcnow())
    cutoff = now - older_than
    async with engine.connect() as conn:
        rows = (await conn.execute(select(tickets.c.id, tickets.c.number)
                                   .where(tickets.c.status.in_(CLOSED), tickets.c.updated_at < cutoff,
                                          tickets.c.sender_id != PURGED_SENDER)
                                   .order_by(tickets.c.id))).all()
    purged: list[str] = []
    for row in rows:
        async with engine.begin() as conn:
            current = await _locked_row(conn, row.id)
            if current is None:
                continue
            fields = _purged_fields(open_fields(keys, current.number, current.fields), now)
            await conn.execute(update(tickets).where(tickets.c.id == row.id).values(
                fields=seal_fields(keys, current.number, fields), contact_phone=None, id_last4=None,
                sender_id=PURGED_SENDER))
            await audit.record(conn, actor, "purge_ticket_personal_data", current.number,
                               older_than_days=older_than.days)
            purged.append(current.number)
    return purged
