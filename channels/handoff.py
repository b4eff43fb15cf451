"""Hotline handoff: a resident waits for a person, a staff member takes the conversation over, then hands it
back to the assistant (or closes it).

Three layers, one home:

- ``WorkingHours`` / ``HandoffConfig`` — when people answer (``BIANMIN_WORKING_HOURS``, Asia/Shanghai, public
  holidays and adjusted working days from ``knowledge/sla.yml``) and how long a conversation takes on average.
- ``HandoffStore`` — the queue in bianmin's database (``channels.handoff_models``). Every state change is one
  conditional UPDATE (``… WHERE status = 'queued'``), so two staff members claiming at once get one winner and
  one "already taken". Used by the action server (queueing) and the web app (everything else).
- ``HandoffService`` + ``Hub`` — the web app side: Rasa pause/resume through its HTTP API, the audit trail, and
  live fan-out over WebSockets (``/ws/staff`` for consoles, ``/ws/chat`` for residents' pages).

Rasa itself stays silent while a person answers: ``action_request_handoff`` returns ``ConversationPaused``;
resident messages are still sent to Rasa (it records them and predicts nothing); staff messages and notices
are appended to the tracker as ``bot`` events with ``metadata.from`` = ``staff`` / ``system``; handing back
posts ``resume`` + ``action_listen`` (so the next message is matched like any fresh turn).

The action server tells the web app about a newly queued conversation through the database: the web app polls
the open sessions once a second (``POLL_SECONDS``). No second protocol, no shared secret, nothing lost if the
web app restarts, and every web app instance sees the same queue.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import re
import socket
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional
from zoneinfo import ZoneInfo

from aiohttp import ClientResponseError, WSMsgType, web
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bianmin import audit
from bianmin.pii import mask_text
from channels.handoff_models import (ACTIVE, CLOSED, OPEN_STATUSES, QUEUED, REASONS, handoff_sessions,
                                     staff_presence)
from channels.rasa_client import RasaClient, RasaUnavailable
from channels.webchat import ChatReply, transcript
from web.accounts import AccountStore, StaffUser, staff_users

log = logging.getLogger(__name__)

TIMEZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_WORKING_HOURS = "mon-fri 09:00-17:30"
DEFAULT_AVG_MINUTES = 6.0
POLL_SECONDS = 1.0             # web app: how often the open sessions are read (new queue entries appear within this)
PRESENCE_SECONDS = 10.0        # web app: how often it says which staff have a console open
PRESENCE_WINDOW = dt.timedelta(seconds=45)   # a staff member counts as online this long after the last refresh
MAX_STAFF_MESSAGE = 2000
MAX_SOCKETS_PER_SENDER = 5

#: name -> (default, meaning); the README's "Hotline staff and handoff" section lists the same.
ENV_VARS: dict[str, tuple[str, str]] = {
    "BIANMIN_WORKING_HOURS": (DEFAULT_WORKING_HOURS,
                              "When staff answer (Asia/Shanghai), e.g. \"mon-fri 09:00-12:00,13:30-17:30; sat 09:00-12:00\"; "
                              "\"always\" / \"never\". Holidays and adjusted working days come from knowledge/sla.yml."),
    "BIANMIN_HANDOFF_AVG_MINUTES": (str(int(DEFAULT_AVG_MINUTES)),
                                    "Average minutes a staff member spends on one conversation (for the expected wait)."),
}

#: Intents staff may start when handing a conversation back (trigger_intent) -> what the console shows.
HANDBACK_INTENTS: dict[str, str] = {
    "complaint": "投诉/举报登记",
    "petition": "信访登记",
    "legal_aid": "法律援助申请",
    "progress_query": "查询工单进度",
    "service_enquiry": "办事咨询",
}
REASON_NAMES_ZH = {"requested": "主动要求", "upset": "情绪激动", "fallback": "助手未能理解"}

LEAVE_PAYLOAD = "/leave_queue"
_LEAVE_TEXTS = frozenset({
    "不等了", "不想等了", "我不等了", "算了不等了", "不等了谢谢", "算了", "返回智能助手", "回到智能助手", "取消排队",
    "不排了", "不排队了", "退出排队", "取消转人工", "不用人工了", "不要人工了",
})
_PUNCT = re.compile(r"[\s,.!?;:，。！？；：、~～…]+")

NOTICE_BOT_BACK = "智能助手已回来为您服务"


class HandoffConfigError(ValueError):
    """BIANMIN_WORKING_HOURS / BIANMIN_HANDOFF_AVG_MINUTES cannot be read; the message says why."""


# ================================================================================================ working hours
_DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_DAY_ZH = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
Interval = tuple[int, int]     # minutes since midnight: [start, end)


def _minutes_of(raw: str, spec: str) -> int:
    m = _TIME.match(raw.strip())
    if not m or int(m.group(2)) > 59 or int(m.group(1)) > 24 or (int(m.group(1)) == 24 and int(m.group(2))):
        raise HandoffConfigError(f"BIANMIN_WORKING_HOURS={spec!r}：时间“{raw}”应写成 HH:MM（00:00–24:00）")
    return int(m.group(1)) * 60 + int(m.group(2))


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_days(raw: str, spec: str) -> list[int]:
    days: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if "-" in part:
            a, _, b = part.partition("-")
            if a not in _DAYS or b not in _DAYS:
                raise HandoffConfigError(f"BIANMIN_WORKING_HOURS={spec!r}：星期“{part}”应写成 mon-fri 这样的英文缩写")
            lo, hi = _DAYS[a], _DAYS[b]
            days += list(range(lo, hi + 1)) if lo <= hi else list(range(lo, 8)) + list(range(1, hi + 1))
        elif part in _DAYS:
            days.append(_DAYS[part])
        else:
            raise HandoffConfigError(f"BIANMIN_WORKING_HOURS={spec!r}：星期“{part}”应是 mon tue wed thu fri sat sun 之一")
    return days


@dataclass(frozen=True)
class WorkingHours:
    """When hotline staff answer, in Asia/Shanghai time."""
    spec: str
    mode: str                                          # "schedule" | "always" | "never"
    week: Mapping[int, tuple[Interval, ...]]           # ISO weekday -> intervals
    groups: tuple[tuple[tuple[int, ...], tuple[Interval, ...]], ...] = ()   # as written, for describe_zh
    holidays: frozenset[dt.date] = frozenset()         # closed all day
    workdays: frozenset[dt.date] = frozenset()         # 调休上班: open with a normal working day's hours

    @classmethod
    def parse(cls, spec: str, holidays: Iterable[dt.date] = (), workdays: Iterable[dt.date] = ()) -> "WorkingHours":
        s = (spec or "").strip().lower()
        if s in ("always", "24x7", "24/7"):
            return cls(spec, "always", {})
        if s in ("never", "closed", "off", "none"):
            return cls(spec, "never", {})
        if not s:
            raise HandoffConfigError("BIANMIN_WORKING_HOURS 为空：请写成 \"mon-fri 09:00-17:30\" 或 always / never")
        week: dict[int, list[Interval]] = {}
        groups = []
        for part in re.split(r"[;；]", s):
            part = part.strip()
            if not part:
                continue
            m = re.match(r"^([a-z,\-\s]+?)\s+(\d.*)$", part)
            if not m:
                raise HandoffConfigError(f"BIANMIN_WORKING_HOURS={spec!r}：“{part}”应写成 “mon-fri 09:00-17:30”")
            days = _parse_days(m.group(1).replace(" ", ""), spec)
            intervals = []
            for rng in m.group(2).split(","):
                a, sep, b = rng.strip().partition("-")
                if not sep:
                    raise HandoffConfigError(f"BIANMIN_WORKING_HOURS={spec!r}：时段“{rng.strip()}”应写成 09:00-17:30")
                start, end = _minutes_of(a, spec), _minutes_of(b, spec)
                if start >= end:
                    raise HandoffConfigError(f"BIANMIN_WORKING_HOURS={spec!r}：时段“{rng.strip()}”的结束时间应晚于开始时间")
                intervals.append((start, end))
            for d in days:
                week.setdefault(d, []).extend(intervals)
            groups.append((tuple(days), tuple(intervals)))
        return cls(spec, "schedule", {d: tuple(sorted(v)) for d, v in week.items()}, tuple(groups),
                   frozenset(holidays), frozenset(workdays))

    def intervals_on(self, day: dt.date) -> tuple[Interval, ...]:
        if self.mode == "always":
            return ((0, 24 * 60),)
        if self.mode == "never" or day in self.holidays:
            return ()
        if day in self.workdays:   # 调休上班: the hours of a normal working day
            return next((self.week[d] for d in range(1, 6) if self.week.get(d)), ())
        return self.week.get(day.isoweekday(), ())

    def is_open(self, when: dt.datetime) -> bool:
        local = when.astimezone(TIMEZONE)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.intervals_on(local.date()))

    def next_open(self, when: dt.datetime, horizon_days: int = 30) -> Optional[dt.datetime]:
        """The next moment (≥ ``when``) staff answer, or None when there is none within ``horizon_days``."""
        local = when.astimezone(TIMEZONE)
        for offset in range(horizon_days + 1):
            day = local.date() + dt.timedelta(days=offset)
            for start, end in self.intervals_on(day):
                begin = dt.datetime.combine(day, dt.time(), TIMEZONE) + dt.timedelta(minutes=start)
                finish = dt.datetime.combine(day, dt.time(), TIMEZONE) + dt.timedelta(minutes=end)
                if finish > local:
                    return max(begin, local)
        return None

    def describe_zh(self) -> str:
        """E.g. "周一至周五 09:00-17:30（法定节假日除外）"."""
        if self.mode == "always":
            return "全天24小时"
        if self.mode == "never":
            return "暂未开通"
        parts = []
        for days, intervals in self.groups:
            ordered = sorted(set(days))
            if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
                when = f"{_DAY_ZH[ordered[0]]}至{_DAY_ZH[ordered[-1]]}"
            else:
                when = "、".join(_DAY_ZH[d] for d in ordered)
            parts.append(f"{when} {'、'.join(f'{_fmt(a)}-{_fmt(b)}' for a, b in intervals)}")
        return "；".join(parts) + "（法定节假日除外）"


def format_moment_zh(when: dt.datetime) -> str:
    local = when.astimezone(TIMEZONE)
    return f"{local.month}月{local.day}日（{_DAY_ZH[local.isoweekday()]}）{local.hour:02d}:{local.minute:02d}"


@dataclass(frozen=True)
class HandoffConfig:
    hours: WorkingHours
    avg_minutes: float

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "HandoffConfig":
        """Reads the variables; holidays come from the SLA calendar (knowledge/sla.yml). Sync: reads a file once."""
        from knowledge.sla import SlaConfigError, default_policy

        e = os.environ if env is None else env
        spec = (e.get("BIANMIN_WORKING_HOURS") or "").strip() or DEFAULT_WORKING_HOURS
        raw_avg = (e.get("BIANMIN_HANDOFF_AVG_MINUTES") or "").strip()
        try:
            avg = float(raw_avg) if raw_avg else DEFAULT_AVG_MINUTES
        except ValueError:
            raise HandoffConfigError(f"BIANMIN_HANDOFF_AVG_MINUTES={raw_avg!r}：应是分钟数") from None
        if not 0 < avg <= 240:
            raise HandoffConfigError(f"BIANMIN_HANDOFF_AVG_MINUTES={raw_avg!r}：应在 0–240 分钟之间")
        try:
            policy = default_policy()
            holidays, workdays = policy.holidays, policy.workdays
        except (OSError, SlaConfigError) as exc:
            log.warning("working hours without holidays: %s", exc)
            holidays, workdays = frozenset(), frozenset()
        return cls(WorkingHours.parse(spec, holidays, workdays), avg)


_config_cache: dict[tuple[str, str], HandoffConfig] = {}


async def load_config() -> HandoffConfig:
    """The process's configuration (re-read when the variables change; the file is read in a thread)."""
    key = (os.environ.get("BIANMIN_WORKING_HOURS", ""), os.environ.get("BIANMIN_HANDOFF_AVG_MINUTES", ""))
    if key not in _config_cache:
        _config_cache[key] = await asyncio.to_thread(HandoffConfig.from_env)
    return _config_cache[key]


def expected_wait_minutes(position: int, staff_online: int, avg_minutes: float) -> Optional[int]:
    """Rough wait for the ``position``-th in the queue: position × average handling time ÷ staff online.
    None when nobody is online (no honest estimate)."""
    if staff_online <= 0:
        return None
    return max(1, math.ceil(max(1, position) * avg_minutes / staff_online))


def is_leave_request(text: str, status: str) -> bool:
    """The resident wants to stop waiting / go back to the assistant (the button works in any open state,
    typed words only while still queued — once a person answers, words go to that person)."""
    if (text or "").strip() == LEAVE_PAYLOAD:
        return True
    return status == QUEUED and _PUNCT.sub("", text or "") in _LEAVE_TEXTS


# ================================================================================================ the store
@dataclass(frozen=True)
class HandoffSession:
    id: int
    sender_id: str
    channel: str
    status: str
    reason: str
    queued_at: dt.datetime
    claimed_by: Optional[str]
    claimed_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    closed_by: Optional[str]
    outcome: Optional[str]
    last_message: Optional[str]
    last_message_at: Optional[dt.datetime]


def _utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _session(row: Any) -> HandoffSession:
    m = row._mapping
    return HandoffSession(
        id=m["id"], sender_id=m["sender_id"], channel=m["channel"], status=m["status"], reason=m["reason"],
        queued_at=_utc(m["queued_at"]), claimed_by=m["claimed_by"], claimed_at=_utc(m["claimed_at"]),  # type: ignore[arg-type]
        closed_at=_utc(m["closed_at"]), closed_by=m["closed_by"], outcome=m["outcome"],
        last_message=m["last_message"], last_message_at=_utc(m["last_message_at"]))


class HandoffStore:
    """The handoff queue in bianmin's database. Each change is a single conditional UPDATE (first statement of its
    transaction, so SQLite queues concurrent writers instead of failing) with its audit row in the same commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def enqueue(self, sender_id: str, reason: str, channel: str = "webchat",
                      now: Optional[dt.datetime] = None) -> tuple[HandoffSession, bool]:
        """Queue ``sender_id`` (idempotent: an open session is returned as it is, ``created`` False)."""
        if reason not in REASONS:
            raise ValueError(f"unknown handoff reason {reason!r}")
        for _ in range(2):
            try:
                async with self.engine.begin() as conn:
                    result = await conn.execute(insert(handoff_sessions).values(
                        sender_id=sender_id, channel=channel[:32], status=QUEUED, reason=reason,
                        queued_at=now or audit.utcnow()))
                    new_id = result.inserted_primary_key[0]
                session = await self.get(new_id)
                assert session is not None
                return session, True
            except IntegrityError:
                existing = await self.open_session(sender_id)
                if existing is not None:
                    return existing, False
        raise RuntimeError("could not queue the conversation")  # closed and reopened in between twice: not expected

    async def get(self, session_id: int) -> Optional[HandoffSession]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(handoff_sessions).where(handoff_sessions.c.id == session_id))).first()
        return _session(row) if row is not None else None

    async def open_session(self, sender_id: str) -> Optional[HandoffSession]:
        query = select(handoff_sessions).where(handoff_sessions.c.sender_id == sender_id,
                                               handoff_sessions.c.status.in_(OPEN_STATUSES))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _session(row) if row is not None else None

    async def open_sessions(self) -> list[HandoffSession]:
        query = (select(handoff_sessions).where(handoff_sessions.c.status.in_(OPEN_STATUSES))
                 .order_by(handoff_sessions.c.queued_at, handoff_sessions.c.id))
        async with self.engine.connect() as conn:
            return [_session(r) for r in await conn.execute(query)]

    async def position(self, session: HandoffSession) -> int:
        """1 for the next conversation to be taken; 0 when the session is not waiting."""
        if session.status != QUEUED:
            return 0
        hs = handoff_sessions.c
        query = select(func.count()).select_from(handoff_sessions).where(
            hs.status == QUEUED,
            or_(hs.queued_at < session.queued_at, and_(hs.queued_at == session.queued_at, hs.id <= session.id)))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def staff_online(self, now: Optional[dt.datetime] = None) -> int:
        since = (now or audit.utcnow()) - PRESENCE_WINDOW
        query = select(func.count(func.distinct(staff_presence.c.username))).where(staff_presence.c.last_seen >= since)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def claim(self, session_id: int, username: str) -> bool:
        """The one conditional UPDATE that makes claims safe: only a queued session can be taken."""
        hs = handoff_sessions.c
        async with self.engine.begin() as conn:
            result = await conn.execute(update(handoff_sessions)
                                        .where(hs.id == session_id, hs.status == QUEUED)
                                        .values(status=ACTIVE, claimed_by=username, claimed_at=audit.utcnow()))
            if result.rowcount != 1:
                return False
            await audit.record(conn, username, "handoff.claim", f"handoff/{session_id}")
        return True

    async def transfer(self, session_id: int, from_user: Optional[str], to_user: str, actor: str) -> bool:
        """Active session of ``from_user`` (None: whoever has it — admins) goes to ``to_user``."""
        hs = handoff_sessions.c
        where = [hs.id == session_id, hs.status == ACTIVE]
        if from_user is not None:
            where.append(hs.claimed_by == from_user)
        async with self.engine.begin() as conn:
            result = await conn.execute(update(handoff_sessions).where(*where)
                                        .values(claimed_by=to_user, claimed_at=audit.utcnow()))
            if result.rowcount != 1:
                return False
            await audit.record(conn, actor, "handoff.transfer", f"handoff/{session_id}", to=to_user,
                               **({"from": from_user} if from_user else {}))
        return True

    async def finish(self, session_id: int, outcome: str, by: str, *, statuses: tuple[str, ...] = OPEN_STATUSES,
                     claimed_by: Optional[str] = None) -> bool:
        """Close an open session (``claimed_by``: only if that staff member has it)."""
        hs = handoff_sessions.c
        where = [hs.id == session_id, hs.status.in_(statuses)]
        if claimed_by is not None:
            where.append(hs.claimed_by == claimed_by)
        async with self.engine.begin() as conn:
            result = await conn.execute(update(handoff_sessions).where(*where).values(
                status=CLOSED, outcome=outcome, closed_by=by[:64], closed_at=audit.utcnow()))
            if result.rowcount != 1:
                return False
            await audit.record(conn, by[:64], f"handoff.{outcome}", f"handoff/{session_id}")
        return True

    async def note_message(self, session_id: int, preview: str) -> None:
        """Remember the latest resident message (masked) so the queue can show it."""
        async with self.engine.begin() as conn:
            await conn.execute(update(handoff_sessions).where(handoff_sessions.c.id == session_id)
                               .values(last_message=mask_text(preview)[:80], last_message_at=audit.utcnow()))

    async def refresh_presence(self, instance: str, usernames: Iterable[str]) -> None:
        now = audit.utcnow()
        names = sorted(set(usernames))
        async with self.engine.begin() as conn:
            await conn.execute(delete(staff_presence).where(staff_presence.c.instance == instance))
            if names:
                await conn.execute(insert(staff_presence),
                                   [{"username": n, "instance": instance, "last_seen": now} for n in names])


# ---------------------------------------------------------------------------------- the action server's store
_action_stores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, HandoffStore]]" = \
    weakref.WeakKeyDictionary()


async def action_store() -> HandoffStore:
    """The store of the running event loop (the action server's entry point; tests get a fresh one per loop)."""
    from bianmin.db import create_schema, make_engine
    from bianmin.settings import Settings

    url = Settings.from_env().database_url
    loop = asyncio.get_running_loop()
    found = _action_stores.get(loop)
    if found is not None and found[0] == url:
        return found[1]
    engine = make_engine(url)
    last: Optional[BaseException] = None
    for _ in range(3):     # the web app may be creating the schema at the same moment: retry
        try:
            await create_schema(engine)
            break
        except (SQLAlchemyError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
    else:
        await engine.dispose()
        raise last  # type: ignore[misc]
    if found is not None:
        await found[1].engine.dispose()
    store = HandoffStore(engine)
    _action_stores[loop] = (url, store)
    return store


async def close_action_store() -> None:
    found = _action_stores.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found[1].engine.dispose()


# ================================================================================================ live fan-out
class Hub:
    """In-memory fan-out of live events to the sockets of THIS web app process (state lives in the database)."""

    def __init__(self) -> None:
        self.staff: dict[str, set[web.WebSocketResponse]] = {}
        self.residents: dict[str, set[web.WebSocketResponse]] = {}

    @staticmethod
    async def _send(sockets: Iterable[web.WebSocketResponse], event: Mapping[str, Any]) -> None:
        for ws in list(sockets):
            if ws.closed:
                continue
            try:
                await ws.send_json(event)
            except (ConnectionError, RuntimeError) as exc:   # closing under our feet: the socket's loop cleans up
                log.debug("websocket send failed: %s", exc)

    async def to_staff(self, username: Optional[str], event: Mapping[str, Any]) -> None:
        if username:
            await self._send(self.staff.get(username, ()), event)

    async def to_all_staff(self, event: Mapping[str, Any]) -> None:
        await self._send([ws for group in self.staff.values() for ws in group], event)

    async def to_resident(self, sender_id: str, event: Mapping[str, Any]) -> None:
        await self._send(self.residents.get(sender_id, ()), event)

    def online_staff(self) -> list[str]:
        return [name for name, group in self.staff.items() if any(not ws.closed for ws in group)]


# ================================================================================================ the service
class HandoffError(Exception):
    status = 400


class SessionNotFound(HandoffError):
    status = 404


class NotYourSession(HandoffError):
    status = 403


class SessionConflict(HandoffError):
    status = 409


class InvalidHandoffRequest(HandoffError):
    status = 422


def bot_event(text: str, **metadata: Any) -> dict[str, Any]:
    """A tracker ``bot`` event; ``metadata.from`` = staff | system marks who spoke (see webchat.transcript)."""
    return {"event": "bot", "text": text, "metadata": metadata, "timestamp": time.time()}


def resume_events(kind: str) -> list[dict[str, Any]]:
    """Un-pause Rasa. ``utter_handoff_resumed`` (with its notice) sits between the handoff and the next turn, so the
    next message is a fresh turn after ``action_listen`` and the rules that follow action_request_handoff (the
    out-of-hours offer: 好的 / 不用了) cannot fire on it."""
    return [{"event": "resume"}, {"event": "action", "name": "utter_handoff_resumed"},
            bot_event(NOTICE_BOT_BACK, **{"from": "system", "kind": kind, "utter_action": "utter_handoff_resumed"}),
            {"event": "action", "name": "action_listen"}]


DEACTIVATE_FORM_EVENTS: list[dict[str, Any]] = [{"event": "active_loop", "name": None},
                                                {"event": "slot", "name": "requested_slot", "value": None}]


HIDDEN_SLOTS = frozenset({"requested_slot", "session_started_metadata"})
_slot_labels: Optional[dict[str, str]] = None


def slot_labels() -> dict[str, str]:
    """Chinese labels for the console's "已收集信息": the intake forms' field labels (actions.intake) + ours."""
    global _slot_labels
    if _slot_labels is None:
        labels = {"handoff_message": "留言内容", "intake_type": "登记类型"}
        try:
            from actions.intake import all_specs

            for spec in all_specs():
                labels.update({f.slot: f.label for f in spec.fields})
        except ImportError as exc:   # labels are cosmetic: the console then shows slot names
            log.warning("intake field labels unavailable: %s", exc)
        _slot_labels = labels
    return _slot_labels


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.astimezone(dt.timezone.utc).isoformat() if value else None


class HandoffService:
    """The web app's side of the handoff (one per web app process)."""

    def __init__(self, store: HandoffStore, rasa: RasaClient, hub: Optional[Hub] = None,
                 instance: Optional[str] = None) -> None:
        self.store = store
        self.rasa = rasa
        self.hub = hub or Hub()
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._names: dict[str, str] = {}
        self._last_signature: Any = None
        self._poller: Optional[asyncio.Task] = None
        self.staff_tokens: "weakref.WeakKeyDictionary[web.WebSocketResponse, str]" = weakref.WeakKeyDictionary()
        self._presence_lock = asyncio.Lock()    # this instance's presence rows: one writer at a time

    # ------------------------------------------------------------------ lookups
    async def display_name(self, username: Optional[str]) -> str:
        if not username:
            return ""
        if username not in self._names:
            async with self.store.engine.connect() as conn:
                row = (await conn.execute(select(staff_users.c.display_name)
                                          .where(staff_users.c.username == username))).first()
            self._names[username] = row.display_name if row is not None else username
        return self._names[username]

    async def session_json(self, s: HandoffSession) -> dict[str, Any]:
        return {"id": s.id, "sender_short": s.sender_id[-6:], "channel": s.channel,
                "status": s.status, "reason": s.reason, "reason_zh": REASON_NAMES_ZH.get(s.reason, s.reason),
                "queued_at": _iso(s.queued_at), "claimed_by": s.claimed_by,
                "claimed_by_name": await self.display_name(s.claimed_by) if s.claimed_by else None,
                "claimed_at": _iso(s.claimed_at), "closed_at": _iso(s.closed_at), "outcome": s.outcome,
                "last_message": s.last_message, "last_message_at": _iso(s.last_message_at)}

    async def queue_event(self, sessions: Optional[list[HandoffSession]] = None) -> dict[str, Any]:
        sessions = await self.store.open_sessions() if sessions is None else sessions
        return {"type": "queue", "sessions": [await self.session_json(s) for s in sessions],
                "staff_online": await self.store.staff_online(), "now": _iso(audit.utcnow())}

    async def publish_queue(self) -> None:
        """Tell this process's consoles about the queue now (other instances see it at their next poll)."""
        sessions = await self.store.open_sessions()
        event = await self.queue_event(sessions)
        self._last_signature = self._signature(sessions, event["staff_online"])
        await self.hub.to_all_staff(event)

    @staticmethod
    def _signature(sessions: list[HandoffSession], online: int) -> Any:
        return (online, tuple((s.id, s.status, s.claimed_by, s.last_message_at) for s in sessions))

    async def _session_for(self, session_id: int, user: StaffUser, *, statuses: tuple[str, ...] = (ACTIVE,),
                           own: bool = True) -> HandoffSession:
        session = await self.store.get(session_id)
        if session is None:
            raise SessionNotFound("没有找到这个会话。")
        if session.status not in statuses:
            raise SessionConflict({QUEUED: "这个会话还在排队，请先接入。", ACTIVE: "这个会话已被接入。",
                                   CLOSED: "这个会话已经结束。"}[session.status])
        if own and session.status == ACTIVE and session.claimed_by != user.username and not user.is_admin:
            raise NotYourSession("这个会话由其他同事接待，您不能操作。")
        return session

    # ------------------------------------------------------------------ staff actions
    async def claim(self, session_id: int, user: StaffUser) -> HandoffSession:
        if not await self.store.claim(session_id, user.username):
            session = await self.store.get(session_id)
            if session is None:
                raise SessionNotFound("没有找到这个会话。")
            raise SessionConflict("这个会话已被其他同事接入或已结束。" if session.status != QUEUED else "接入失败，请重试。")
        session = await self.store.get(session_id)
        assert session is not None
        notice = f"人工客服 {user.display_name} 已接入，正在为您服务"
        await self._record(session.sender_id, [bot_event(notice, **{"from": "system", "kind": "handoff.claimed",
                                                                     "staff": user.display_name})])
        await self.hub.to_resident(session.sender_id, {"type": "message", "from": "system", "text": notice})
        await self.hub.to_resident(session.sender_id, {"type": "state", "status": ACTIVE,
                                                       "staff_name": user.display_name})
        await self.publish_queue()
        return session

    async def send(self, session_id: int, user: StaffUser, text: str) -> dict[str, Any]:
        from bot.components.normalizers import strip_control

        text = strip_control(text or "").strip()
        if not text:
            raise InvalidHandoffRequest("消息不能为空。")
        if len(text) > MAX_STAFF_MESSAGE:
            raise InvalidHandoffRequest(f"消息不能超过{MAX_STAFF_MESSAGE}个字。")
        session = await self._session_for(session_id, user)
        if session.claimed_by != user.username:
            raise NotYourSession("只有接待这个会话的同事可以发消息；如需接手，请先转给自己。")
        # Recorded first: a message Rasa did not store is not shown as sent (the console gets a 503).
        await self.rasa.append_events(session.sender_id, [bot_event(text, **{"from": "staff",
                                                                             "staff": user.display_name})])
        message = {"type": "message", "session_id": session.id, "from": "staff", "text": text,
                   "staff_name": user.display_name, "at": _iso(audit.utcnow())}
        await self.hub.to_resident(session.sender_id, message)
        await self.hub.to_staff(session.claimed_by, message)
        return message

    async def hand_back(self, session_id: int, user: StaffUser, intent: Optional[str] = None) -> list[dict[str, Any]]:
        """Resume the assistant; with ``intent`` (e.g. complaint) start that intake at once via trigger_intent.
        Rasa first, then the database: if Rasa is down nothing changes and the staff member can retry."""
        if intent is not None and intent not in HANDBACK_INTENTS:
            raise InvalidHandoffRequest("不支持的办理事项。")
        session = await self._session_for(session_id, user)
        events = DEACTIVATE_FORM_EVENTS if intent is not None else []
        await self.rasa.append_events(session.sender_id, events + resume_events("handoff.handed_back"))
        if not await self.store.finish(session.id, "handed_back", user.username, statuses=(ACTIVE,),
                                       claimed_by=None if user.is_admin else user.username):
            raise SessionConflict("这个会话刚刚已结束。")
        await self.hub.to_resident(session.sender_id, {"type": "message", "from": "system", "text": NOTICE_BOT_BACK})
        await self.hub.to_resident(session.sender_id, {"type": "state", "status": "none"})
        messages: list[dict[str, Any]] = []
        if intent is not None:
            try:
                got = await self.rasa.trigger_intent(session.sender_id, intent)
            except (RasaUnavailable, ClientResponseError) as exc:
                log.warning("trigger_intent after hand back failed: %s", exc)
                got = []
            # The REST channel cannot push (no get_output_channel): the replies come back here and go out live.
            messages = [{"from": "bot", "text": m.get("text") or "", "buttons": m.get("buttons") or []} for m in got]
            for m in messages:
                await self.hub.to_resident(session.sender_id, {"type": "message", **m})
        await self.hub.to_staff(session.claimed_by, {"type": "session", "session_id": session.id,
                                                     "event": "handed_back"})
        await self.publish_queue()
        return messages

    async def close(self, session_id: int, user: StaffUser) -> None:
        session = await self._session_for(session_id, user)
        goodbye = "感谢您的耐心，本次人工服务已结束。如果还有其他问题，可以直接发消息，智能助手会继续为您服务。"
        ended = f"人工客服 {user.display_name} 已结束本次服务"
        await self.rasa.append_events(session.sender_id, [
            bot_event(ended, **{"from": "system", "kind": "handoff.closed"}),
            bot_event(goodbye, **{"from": "staff", "staff": user.display_name}),
            *DEACTIVATE_FORM_EVENTS, *resume_events("handoff.closed")])
        if not await self.store.finish(session.id, "closed", user.username, statuses=(ACTIVE,),
                                       claimed_by=None if user.is_admin else user.username):
            raise SessionConflict("这个会话刚刚已结束。")
        await self.hub.to_resident(session.sender_id, {"type": "message", "from": "system", "text": ended})
        await self.hub.to_resident(session.sender_id, {"type": "message", "from": "staff", "text": goodbye,
                                                       "staff_name": user.display_name})
        await self.hub.to_resident(session.sender_id, {"type": "message", "from": "system", "text": NOTICE_BOT_BACK})
        await self.hub.to_resident(session.sender_id, {"type": "state", "status": "none"})
        await self.hub.to_staff(session.claimed_by, {"type": "session", "session_id": session.id, "event": "closed"})
        await self.publish_queue()

    async def transfer(self, session_id: int, user: StaffUser, target: str) -> HandoffSession:
        target = (target or "").strip()
        if not target:
            raise InvalidHandoffRequest("请填写要转给的同事的用户名。")
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(staff_users).where(staff_users.c.username == target))).first()
        if row is None or not row.active or row.role not in ("staff", "admin"):
            raise InvalidHandoffRequest(f"没有可接待的同事“{target}”。")
        session = await self._session_for(session_id, user)
        if target == session.claimed_by:
            raise InvalidHandoffRequest("这个会话已经由这位同事接待。")
        if not await self.store.transfer(session.id, None if user.is_admin else user.username, target, user.username):
            raise SessionConflict("这个会话刚刚已结束或已转走。")
        notice = f"已为您转接人工客服 {row.display_name}"
        await self._record(session.sender_id, [bot_event(notice, **{"from": "system", "kind": "handoff.transferred",
                                                                     "staff": row.display_name})])
        await self.hub.to_resident(session.sender_id, {"type": "message", "from": "system", "text": notice})
        await self.hub.to_resident(session.sender_id, {"type": "state", "status": ACTIVE,
                                                       "staff_name": row.display_name})
        await self.hub.to_staff(target, {"type": "session", "session_id": session.id, "event": "transferred_in",
                                         "from": user.display_name})
        await self.hub.to_staff(session.claimed_by, {"type": "session", "session_id": session.id,
                                                     "event": "transferred_out", "to": row.display_name})
        await self.publish_queue()
        refreshed = await self.store.get(session.id)
        assert refreshed is not None
        return refreshed

    async def detail(self, session_id: int, user: StaffUser) -> dict[str, Any]:
        """Transcript and slots (personal data: audited). Queued sessions: any staff; active: its owner or admins."""
        session = await self._session_for(session_id, user, statuses=(QUEUED, ACTIVE, CLOSED),
                                          own=not user.is_admin)
        if session.status == CLOSED and not user.is_admin and session.closed_by != user.username:
            raise NotYourSession("这个会话已结束，只有结束它的同事或管理员可以查看。")
        async with self.store.engine.begin() as conn:   # no trail, no data (PIPL): recorded before it is shown
            await audit.record(conn, user.username, "handoff.view", f"handoff/{session.id}")
        tracker = await self.rasa.tracker(session.sender_id)
        labels = slot_labels()
        from cases.store import TYPE_NAMES_ZH

        shown = lambda k, v: TYPE_NAMES_ZH.get(v, v) if k == "intake_type" else v  # noqa: E731 - 投诉举报, not complaint
        slots = [{"name": k, "label": labels.get(k, k), "value": shown(k, v)}
                 for k, v in (tracker.get("slots") or {}).items() if v not in (None, "", [], {}) and k not in HIDDEN_SLOTS]
        return {"session": await self.session_json(session), "transcript": transcript(tracker.get("events") or []),
                "slots": slots, "active_loop": (tracker.get("active_loop") or {}).get("name")}

    async def _record(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        """Notices are best effort: the database already holds the change; the page still gets them live."""
        try:
            await self.rasa.append_events(sender_id, events)
        except RasaUnavailable as exc:
            log.warning("could not record a handoff notice in the tracker: %s", exc)

    # ------------------------------------------------------------------ the resident side
    async def state_event(self, sender_id: str) -> dict[str, Any]:
        session = await self.store.open_session(sender_id)
        if session is None:
            return {"type": "state", "status": "none"}
        return {"type": "state", "status": session.status,
                "staff_name": await self.display_name(session.claimed_by) if session.claimed_by else None}

    async def resident_hook(self, sender_id: str, text: str, metadata: dict[str, Any]) -> ChatReply:
        """webchat's hook: the handoff path, or — if bianmin's database is unreachable — a plain send to Rasa, so
        the chat keeps working (a paused conversation then simply stays silent)."""
        try:
            return await self.resident_message(sender_id, text, metadata)
        except SQLAlchemyError as exc:
            log.warning("handoff check skipped, database error: %s", exc.__class__.__name__)
            return {"messages": list(await self.rasa.send(sender_id, text, metadata))}

    async def resident_message(self, sender_id: str, text: str, metadata: dict[str, Any]) -> ChatReply:
        """Every resident chat message passes here (the webchat hook). Raises RasaUnavailable like a plain send."""
        session = await self.store.open_session(sender_id)
        if session is None:
            if text.strip() == LEAVE_PAYLOAD:    # an old 返回智能助手 button: nothing to leave
                return {"messages": [{"from": "bot", "text": "您现在就在和智能助手对话，请问有什么可以帮您？"}],
                        "handoff": {"status": "none"}}
            replies = list(await self.rasa.send(sender_id, text, metadata))
            queued = await self.store.open_session(sender_id)   # this very message may have queued the conversation
            if queued is not None:
                state = await self.state_event(sender_id)
                await self.hub.to_resident(sender_id, state)
                return {"messages": replies, "handoff": {k: v for k, v in state.items() if k != "type"}}
            if not replies:
                replies = await self._unpause_orphan(sender_id)
            return {"messages": replies}
        replies = list(await self.rasa.send(sender_id, text, metadata))   # recorded; Rasa is paused and stays silent
        if is_leave_request(text, session.status):
            statuses = (QUEUED, ACTIVE) if text.strip() == LEAVE_PAYLOAD else (QUEUED,)
            if await self.store.finish(session.id, "resident_left", "resident", statuses=statuses):
                return await self._resident_left(session)
            session = await self.store.open_session(sender_id) or session   # claimed meanwhile: a normal message
        await self.store.note_message(session.id, text)
        if session.status == ACTIVE:
            await self.hub.to_staff(session.claimed_by, {
                "type": "message", "session_id": session.id, "from": "user",
                "text": (metadata.get("display") or text), "at": _iso(audit.utcnow())})
        return {"messages": replies, "handoff": {"status": session.status,
                                                 "staff_name": await self.display_name(session.claimed_by)
                                                 if session.claimed_by else None}}

    async def _resident_left(self, session: HandoffSession) -> ChatReply:
        reply = "好的，已为您取消人工服务。请问还有什么可以帮您？"
        await self._record(session.sender_id, [*resume_events("handoff.resident_left"), bot_event(reply)])
        if session.status == ACTIVE:
            await self.hub.to_staff(session.claimed_by, {"type": "session", "session_id": session.id,
                                                         "event": "resident_left"})
        await self.publish_queue()
        return {"messages": [{"from": "system", "text": NOTICE_BOT_BACK}, {"from": "bot", "text": reply}],
                "handoff": {"status": "none"}}

    async def _unpause_orphan(self, sender_id: str) -> list[dict[str, Any]]:
        """Rasa said nothing and no session is open: if the tracker is still paused (a resume that never reached
        Rasa), resume it so the resident is not stuck, and ask them to send the message again."""
        try:
            tracker = await self.rasa.tracker(sender_id)
        except RasaUnavailable:
            return []
        if not tracker.get("paused"):
            return []
        log.warning("resuming a paused conversation with no open handoff session")
        await self.rasa.append_events(sender_id, resume_events("handoff.unstuck"))
        return [{"from": "bot", "text": "抱歉，刚才的消息没有处理成功，请您再发送一次。"}]

    # ------------------------------------------------------------------ background: queue polling + presence
    async def refresh_presence(self) -> None:
        async with self._presence_lock:
            await self.store.refresh_presence(self.instance, self.hub.online_staff())

    async def poll_once(self, *, presence: bool) -> None:
        if presence:
            await self.refresh_presence()
            await self._check_staff_sessions()
        if not self.hub.staff:
            self._last_signature = None
            return
        sessions = await self.store.open_sessions()
        online = await self.store.staff_online()
        signature = self._signature(sessions, online)
        if signature != self._last_signature:
            self._last_signature = signature
            await self.hub.to_all_staff(await self.queue_event(sessions))

    async def _check_staff_sessions(self) -> None:
        """Close consoles whose login ended (logout, disabled account, expiry)."""
        accounts = AccountStore(self.store.engine)
        for ws, token in list(self.staff_tokens.items()):
            if not ws.closed and await accounts.session_user(token) is None:
                await ws.close(code=4401, message=b"session ended")

    async def run_poller(self) -> None:
        ticks = 0
        every = max(1, int(PRESENCE_SECONDS / POLL_SECONDS))
        while True:
            try:
                await self.poll_once(presence=ticks % every == 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # the database may be briefly unavailable: keep polling
                log.warning("handoff poll failed: %s", exc.__class__.__name__)
            ticks += 1
            await asyncio.sleep(POLL_SECONDS)

    async def start(self) -> None:
        self._poller = asyncio.create_task(self.run_poller())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
        for group in list(self.hub.staff.values()) + list(self.hub.residents.values()):
            for ws in list(group):
                await ws.close(code=1001, message=b"server shutdown")
        try:
            async with self._presence_lock:
                await self.store.refresh_presence(self.instance, [])
        except SQLAlchemyError:
            pass

    # ------------------------------------------------------------------ sockets
    async def staff_socket(self, request: web.Request, user: StaffUser, token: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=25)
        await ws.prepare(request)
        first = user.username not in self.hub.online_staff()
        self.hub.staff.setdefault(user.username, set()).add(ws)
        self.staff_tokens[ws] = token
        try:
            if first:
                await self.refresh_presence()
            await ws.send_json({"type": "hello", "user": {"username": user.username,
                                                           "display_name": user.display_name, "role": user.role}})
            await ws.send_json(await self.queue_event())
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and "ping" in msg.data[:32]:
                    await ws.send_json({"type": "pong"})
        finally:
            group = self.hub.staff.get(user.username, set())
            group.discard(ws)
            if not group:
                self.hub.staff.pop(user.username, None)
                try:
                    await self.refresh_presence()
                except SQLAlchemyError:
                    pass
        return ws

    async def resident_socket(self, request: web.Request, sender_id: str) -> web.StreamResponse:
        group = self.hub.residents.setdefault(sender_id, set())
        if len([ws for ws in group if not ws.closed]) >= MAX_SOCKETS_PER_SENDER:
            return web.json_response({"error": "连接过多，请关闭多余的页面后重试。"}, status=429)
        ws = web.WebSocketResponse(heartbeat=25)
        await ws.prepare(request)
        group.add(ws)
        try:
            await ws.send_json(await self.state_event(sender_id))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and "ping" in msg.data[:32]:
                    await ws.send_json({"type": "pong"})
        finally:
            group.discard(ws)
            if not group:
                self.hub.residents.pop(sender_id, None)
        return ws


# ================================================================================================ wiring
HANDOFF_KEY = web.AppKey("handoff", HandoffService)

