"""Audit log: who did what to which conversation, ticket, FAQ or account (PIPL access trail)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bianmin.db import metadata

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(64), nullable=False, index=True),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False, default=""),
    Column("detail", JSON, nullable=False, default=dict),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def record(conn: AsyncConnection, actor: str, action: str, target: str = "", **detail: Any) -> None:
    """Write one audit row inside the caller's transaction (so the audit and the change commit together)."""
    await conn.execute(insert(audit_log).values(
        at=utcnow(), actor=actor, action=action, target=target,
        detail=json.loads(json.dumps(detail, ensure_ascii=False, default=str))))


async def recent(engine: AsyncEngine, limit: int = 100, actor: str | None = None) -> list[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]
