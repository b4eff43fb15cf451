"""The CaseStore interface and the ticket model every store, action and console shares.

A ticket number is human-readable: type prefix + date + daily sequence, e.g. ``TS20261123-0007``.
Statuses follow the hotline chain: 已受理 → 已分派 → 办理中 → 已办结 / 不予受理 → 已回访.
``create`` is idempotent: the same ``submission_key`` within ``DEDUP_WINDOW`` returns the existing ticket
(``CreateResult.created is False``) — a retried action, a double-clicked button or a re-sent complaint
never makes a second ticket.
"""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Protocol, runtime_checkable

TicketType = Literal["complaint", "petition", "legal_aid"]
TICKET_TYPES: tuple[TicketType, ...] = ("complaint", "petition", "legal_aid")
PREFIX: dict[str, str] = {"complaint": "TS", "petition": "XF", "legal_aid": "FY"}
TYPE_BY_PREFIX = {v: k for k, v in PREFIX.items()}
TYPE_NAMES_ZH = {"complaint": "投诉举报", "petition": "信访", "legal_aid": "法律援助申请"}
DEDUP_WINDOW = dt.timedelta(minutes=10)
TICKET_NUMBER_RE = re.compile(r"^(TS|XF|FY)(\d{8})-(\d{4,})$")


class Status(str, enum.Enum):
    ACCEPTED = "已受理"
    ASSIGNED = "已分派"
    IN_PROGRESS = "办理中"
    RESOLVED = "已办结"
    REJECTED = "不予受理"
    VISITED = "已回访"


#: Allowed status changes. Staff may skip ahead (e.g. resolve a simple case straight from 已受理).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.ACCEPTED: frozenset({Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED, Status.REJECTED}),
    Status.ASSIGNED: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.REJECTED}),
    Status.IN_PROGRESS: frozenset({Status.RESOLVED, Status.REJECTED}),
    Status.RESOLVED: frozenset({Status.VISITED}),
    Status.REJECTED: frozenset({Status.VISITED}),
    Status.VISITED: frozenset(),
}
RATEABLE = frozenset({Status.RESOLVED, Status.VISITED})


class CaseStoreError(Exception):
    """Base of the domain errors stores raise (mapped to HTTP codes at the web edge)."""


class CaseStoreUnavailable(CaseStoreError):
    """The store could not be reached or did not confirm the write: the ticket was NOT stored."""


class TicketNotFound(CaseStoreError):
    pass


class InvalidTransition(CaseStoreError):
    pass


class InvalidRating(CaseStoreError):
    pass


@dataclass(frozen=True)
class TicketEvent:
    at: dt.datetime
    status: str            # a Status value, or "" for a note / rating
    actor: str             # "resident", "system", a staff username
    note: str = ""


@dataclass(frozen=True)
class Deadline:
    kind: str              # "accept" | "handle" | "review" | "resolve"
    due: dt.date
    description: str       # Chinese sentence told to the resident


@dataclass
class NewTicket:
    """What an intake form (or the staff console) submits."""
    type: TicketType
    sender_id: str                     # conversation id (channel user id), used for "我的工单"
    channel: str                       # "webchat", "wechat", "staff", ...
    fields: dict[str, Any]             # form fields: description, address, occurred_at, phone, person_name, ...
    submission_key: str                # idempotency key (see submission_key())
    anonymous: bool = False
    category: Optional[str] = None     # routing result (complaints); fixed department for other types
    subcategory: Optional[str] = None
    department: Optional[str] = None
    deadlines: list[Deadline] = field(default_factory=list)


@dataclass
class Ticket:
    number: str
    type: TicketType
    status: Status
    sender_id: str
    channel: str
    fields: dict[str, Any]
    anonymous: bool
    query_code: Optional[str]          # for anonymous reports: replaces the phone when checking progress
    category: Optional[str]
    subcategory: Optional[str]
    department: Optional[str]
    deadlines: list[Deadline]
    created_at: dt.datetime
    updated_at: dt.datetime
    events: list[TicketEvent] = field(default_factory=list)
    rating: Optional[int] = None


@dataclass(frozen=True)
class CreateResult:
    ticket: Ticket
    created: bool                      # False: an identical submission within DEDUP_WINDOW already existed


@runtime_checkable
class CaseStore(Protocol):
    async def create(self, new: NewTicket) -> CreateResult: ...
    async def get(self, number: str) -> Optional[Ticket]: ...
    async def find_by_sender(self, sender_id: str, limit: int = 5) -> list[Ticket]: ...
    async def find_by_contact(self, phone: Optional[str] = None, id_last4: Optional[str] = None,
                              query_code: Optional[str] = None, limit: int = 5) -> list[Ticket]: ...
    async def update_status(self, number: str, status: Status, actor: str, note: str = "") -> Ticket: ...
    async def add_note(self, number: str, actor: str, note: str) -> Ticket: ...
    async def rate(self, number: str, score: int, sender_id: Optional[str] = None) -> Ticket: ...
    async def close(self) -> None: ...


def submission_key(ticket_type: str, sender_id: str, fields: dict[str, Any]) -> str:
    """Same resident + same type + same substance → same key (whitespace and punctuation ignored)."""
    core = fields.get("description") or fields.get("request") or fields.get("facts") or ""
    norm = re.sub(r"[\s，。！？、,.!?~～…]+", "", str(core))
    return hashlib.sha256(f"{ticket_type}\x1f{sender_id}\x1f{norm}".encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Additions for staff tools (listing, status names typed by people). Not part of the CaseStore Protocol, so
# existing implementations stay valid; SqlCaseStore and HttpCaseStore implement ``list_tickets``.

#: English aliases staff may type instead of the Chinese status names (CLI, APIs).
STATUS_ALIASES: dict[str, Status] = {
    "accepted": Status.ACCEPTED, "assigned": Status.ASSIGNED, "in_progress": Status.IN_PROGRESS,
    "in-progress": Status.IN_PROGRESS, "resolved": Status.RESOLVED, "rejected": Status.REJECTED,
    "visited": Status.VISITED,
}


def parse_status(text: str) -> Status:
    """``已办结`` / ``resolved`` / ``RESOLVED`` → Status.RESOLVED; anything else raises ValueError."""
    raw = (text or "").strip()
    for status in Status:
        if raw == status.value:
            return status
    key = raw.lower()
    if key in STATUS_ALIASES:
        return STATUS_ALIASES[key]
    names = "、".join(s.value for s in Status)
    raise ValueError(f"未知的工单状态“{raw}”，可选：{names}（或 {', '.join(sorted(set(STATUS_ALIASES) - {'in-progress'}))}）")


@dataclass(frozen=True)
class TicketPage:
    """One page of a staff listing (newest first); ``tickets`` carry no events."""
    tickets: list[Ticket]
    total: int


@runtime_checkable
class ListableCaseStore(CaseStore, Protocol):
    async def list_tickets(self, *, status: Optional[Status] = None, ticket_type: Optional[str] = None,
                           category: Optional[str] = None, limit: int = 20, offset: int = 0) -> TicketPage: ...
