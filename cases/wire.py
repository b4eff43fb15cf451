"""JSON shapes of tickets: the case-system HTTP API, the staff APIs, the SQL store's JSON columns, the CLI.

One home for (de)serialisation, so HttpCaseStore and the API that serves it cannot drift apart. Also the
masking of a ticket's personal data for views that do not need it in plain text (lists, the CLI).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Optional, TypedDict

from bianmin.pii import mask_address, mask_id_number, mask_name, mask_phone, mask_text
from cases.store import (TICKET_TYPES, TYPE_NAMES_ZH, Deadline, NewTicket, Status, Ticket, TicketEvent)

MAX_FIELDS_CHARS = 20_000          # a whole intake form, serialised; far above any real one
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{8,128}$")

#: Ticket fields holding personal data, and how each is masked.
_FIELD_MASKS = {
    "phone": mask_phone, "contact_phone": mask_phone, "id_number": mask_id_number,
    "person_name": mask_name, "name": mask_name, "applicant_name": mask_name,
    "address": mask_address,
}


class DeadlineJSON(TypedDict):
    kind: str
    due: str            # YYYY-MM-DD
    description: str


class EventJSON(TypedDict):
    at: str             # ISO 8601, UTC
    status: str
    actor: str
    note: str


class TicketJSON(TypedDict):
    number: str
    type: str
    type_name: str
    status: str
    sender_id: str
    channel: str
    fields: dict[str, Any]
    anonymous: bool
    query_code: Optional[str]
    category: Optional[str]
    subcategory: Optional[str]
    department: Optional[str]
    deadlines: list[DeadlineJSON]
    created_at: str
    updated_at: str
    events: list[EventJSON]
    rating: Optional[int]


class NewTicketJSON(TypedDict, total=False):
    type: str
    sender_id: str
    channel: str
    fields: dict[str, Any]
    submission_key: str
    anonymous: bool
    category: Optional[str]
    subcategory: Optional[str]
    department: Optional[str]
    deadlines: list[DeadlineJSON]


class CreateResultJSON(TypedDict):
    ticket: TicketJSON
    created: bool


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


def _parse_dt(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def deadline_to_json(d: Deadline) -> DeadlineJSON:
    return DeadlineJSON(kind=d.kind, due=d.due.isoformat(), description=d.description)


def deadline_from_json(raw: Any) -> Deadline:
    if not isinstance(raw, dict):
        raise ValueError("deadline must be an object")
    return Deadline(kind=str(raw["kind"]), due=dt.date.fromisoformat(str(raw["due"])),
                    description=str(raw.get("description", "")))


def mask_value(value: Any) -> Any:
    """Phone and ID numbers inside free text (descriptions, notes) are masked wherever they appear."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return mask_fields(value)
    return value


def mask_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        masker = _FIELD_MASKS.get(key)
        out[key] = masker(str(value)) if masker and value else mask_value(value)
    return out


def ticket_to_json(ticket: Ticket, *, masked: bool = False) -> TicketJSON:
    """The one serialisation of a ticket. ``masked``: personal data hidden (lists, unaudited views)."""
    fields = mask_fields(ticket.fields) if masked else dict(ticket.fields)
    events = [EventJSON(at=_iso(e.at), status=e.status, actor=e.actor,
                        note=mask_text(e.note) if masked else e.note) for e in ticket.events]
    return TicketJSON(
        number=ticket.number, type=ticket.type, type_name=TYPE_NAMES_ZH.get(ticket.type, ticket.type),
        status=Status(ticket.status).value, sender_id=ticket.sender_id, channel=ticket.channel, fields=fields,
        anonymous=ticket.anonymous,
        query_code=("******" if ticket.query_code else None) if masked else ticket.query_code,
        category=ticket.category, subcategory=ticket.subcategory, department=ticket.department,
        deadlines=[deadline_to_json(d) for d in ticket.deadlines],
        created_at=_iso(ticket.created_at), updated_at=_iso(ticket.updated_at), events=events,
        rating=ticket.rating)


def ticket_from_json(raw: Any) -> Ticket:
    """Inverse of ``ticket_to_json`` (unmasked); raises ValueError on a malformed document."""
    try:
        if not isinstance(raw, dict):
            raise ValueError("ticket must be an object")
        return Ticket(
            number=str(raw["number"]), type=raw["type"], status=Status(raw["status"]),
            sender_id=str(raw["sender_id"]), channel=str(raw["channel"]), fields=dict(raw["fields"]),
            anonymous=bool(raw["anonymous"]), query_code=raw.get("query_code"),
            category=raw.get("category"), subcategory=raw.get("subcategory"), department=raw.get("department"),
            deadlines=[deadline_from_json(d) for d in raw.get("deadlines") or []],
            created_at=_parse_dt(raw["created_at"]), updated_at=_parse_dt(raw["updated_at"]),
            events=[TicketEvent(at=_parse_dt(e["at"]), status=str(e.get("status", "")), actor=str(e["actor"]),
                                note=str(e.get("note", ""))) for e in raw.get("events") or []],
            rating=raw.get("rating"))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed ticket document: {exc!r}") from exc


def new_ticket_to_json(new: NewTicket) -> NewTicketJSON:
    return NewTicketJSON(type=new.type, sender_id=new.sender_id, channel=new.channel, fields=new.fields,
                         submission_key=new.submission_key, anonymous=new.anonymous, category=new.category,
                         subcategory=new.subcategory, department=new.department,
                         deadlines=[deadline_to_json(d) for d in new.deadlines])


def _opt_str(raw: dict[str, Any], key: str, limit: int) -> Optional[str]:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"“{key}”应为不超过{limit}个字符的文本")
    return value


def new_ticket_from_json(raw: Any, submission_key: Optional[str] = None) -> NewTicket:
    """Validate an API payload; raises ValueError with a Chinese message naming the bad field."""
    if not isinstance(raw, dict):
        raise ValueError("请求内容应为 JSON 对象")
    ticket_type = raw.get("type")
    if ticket_type not in TICKET_TYPES:
        raise ValueError(f"工单类型“{ticket_type}”无效，可选：{'、'.join(TICKET_TYPES)}")
    sender_id, channel = raw.get("sender_id"), raw.get("channel")
    if not isinstance(sender_id, str) or not 0 < len(sender_id) <= 128:
        raise ValueError("sender_id 应为1到128个字符的文本")
    if not isinstance(channel, str) or not 0 < len(channel) <= 32:
        raise ValueError("channel 应为1到32个字符的文本")
    fields = raw.get("fields")
    if not isinstance(fields, dict):
        raise ValueError("fields 应为 JSON 对象")
    if len(json.dumps(fields, ensure_ascii=False)) > MAX_FIELDS_CHARS:
        raise ValueError("工单内容过长")
    key = submission_key or raw.get("submission_key")
    if not isinstance(key, str) or not IDEMPOTENCY_KEY_RE.match(key):
        raise ValueError("缺少有效的幂等键（Idempotency-Key：8到128个字母、数字或 _.:-）")
    anonymous = raw.get("anonymous", False)
    if not isinstance(anonymous, bool):
        raise ValueError("anonymous 应为 true 或 false")
    deadlines_raw = raw.get("deadlines") or []
    if not isinstance(deadlines_raw, list):
        raise ValueError("deadlines 应为列表")
    try:
        deadlines = [deadline_from_json(d) for d in deadlines_raw]
    except (KeyError, ValueError) as exc:
        raise ValueError("deadlines 格式不正确（需要 kind、due=YYYY-MM-DD、description）") from exc
    return NewTicket(type=ticket_type, sender_id=sender_id, channel=channel, fields=fields, submission_key=key,
                     anonymous=anonymous, category=_opt_str(raw, "category", 64),
                     subcategory=_opt_str(raw, "subcategory", 64), department=_opt_str(raw, "department", 128),
                     deadlines=deadlines)
