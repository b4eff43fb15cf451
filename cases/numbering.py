"""Human-readable ticket numbers: ``TS20261123-0007`` = type prefix + local date + daily sequence.

The sequence is allocated inside the caller's transaction with one atomic upsert-increment on
``ticket_sequences``, so concurrent submissions never get the same number and a rolled-back ticket does
not leave a gap. SQLAlchemy 1.4 cannot compile ``RETURNING`` for SQLite, so the statement is written out;
the same SQL is valid on SQLite (3.35+) and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from cases.models import ticket_sequences
from cases.store import PREFIX

TIMEZONE_ENV = "BIANMIN_TIMEZONE"
DEFAULT_TIMEZONE = "Asia/Shanghai"

_UPSERT_RETURNING = text(
    "INSERT INTO ticket_sequences (prefix, day, last_value) VALUES (:prefix, :day, 1) "
    "ON CONFLICT (prefix, day) DO UPDATE SET last_value = ticket_sequences.last_value + 1 "
    "RETURNING last_value")
_UPSERT = text(
    "INSERT INTO ticket_sequences (prefix, day, last_value) VALUES (:prefix, :day, 1) "
    "ON CONFLICT (prefix, day) DO UPDATE SET last_value = ticket_sequences.last_value + 1")
_SQLITE_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{TIMEZONE_ENV}={name!r} 不是有效的时区名称（例如 Asia/Shanghai）") from exc


def local_zone() -> ZoneInfo:
    return _zone(os.environ.get(TIMEZONE_ENV, "").strip() or DEFAULT_TIMEZONE)


def local_date(now: dt.datetime | None = None) -> dt.date:
    """The date residents see on the wall calendar (a ticket filed at 01:00 Beijing time is that day's)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    return now.astimezone(local_zone()).date()


def format_number(prefix: str, day: dt.date, seq: int) -> str:
    """4-digit sequence, growing to 5+ digits after 9999 (TICKET_NUMBER_RE accepts both)."""
    return f"{prefix}{day:%Y%m%d}-{seq:04d}"


async def allocate(conn: AsyncConnection, ticket_type: str, day: dt.date) -> str:
    """Next number for ``ticket_type`` on ``day``; must run inside the transaction that inserts the ticket."""
    prefix = PREFIX[ticket_type]
    params = {"prefix": prefix, "day": f"{day:%Y%m%d}"}
    if conn.dialect.name != "sqlite" or _SQLITE_HAS_RETURNING:
        seq = (await conn.execute(_UPSERT_RETURNING, params)).scalar_one()
    else:  # old SQLite: the upsert holds the database write lock until commit, so read-back is still atomic
        await conn.execute(_UPSERT, params)
        seq = (await conn.execute(select(ticket_sequences.c.last_value).where(
            ticket_sequences.c.prefix == prefix, ticket_sequences.c.day == params["day"]))).scalar_one()
    return format_number(prefix, day, int(seq))
