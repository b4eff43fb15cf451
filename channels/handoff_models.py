"""Tables of the hotline handoff: the queue of conversations waiting for / talking to a person, and which
staff members are online (for the expected wait).

Everything that must survive a restart of the web app lives here; the in-memory hub in ``channels.handoff``
only fans out live events. A sender has at most one open (queued or active) session: a partial unique index
enforces it, so a retried action cannot queue the same conversation twice.
"""
from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, text

from bianmin.db import metadata

QUEUED, ACTIVE, CLOSED = "queued", "active", "closed"
OPEN_STATUSES = (QUEUED, ACTIVE)
#: Why the conversation was queued.
REASONS = ("requested", "upset", "fallback")
#: How a session ended.
OUTCOMES = ("handed_back", "closed", "resident_left")

handoff_sessions = Table(
    "handoff_sessions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("channel", String(32), nullable=False, default="webchat"),
    Column("status", String(16), nullable=False, index=True),       # queued | active | closed
    Column("reason", String(16), nullable=False),                   # requested | upset | fallback
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(64), nullable=True),                # staff username while active
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("closed_by", String(64), nullable=True),                 # staff username or "resident"
    Column("outcome", String(16), nullable=True),                   # handed_back | closed | resident_left
    Column("last_message", String(200), nullable=True),             # masked preview for the queue
    Column("last_message_at", DateTime(timezone=True), nullable=True),
    Index("uq_handoff_sessions_open_sender", "sender_id", unique=True,
          sqlite_where=text("status != 'closed'"), postgresql_where=text("status != 'closed'")),
)

#: One row per (staff member, web app instance) with an open console socket; refreshed by the instance.
staff_presence = Table(
    "staff_presence", metadata,
    Column("username", String(64), primary_key=True),
    Column("instance", String(64), primary_key=True),
    Column("last_seen", DateTime(timezone=True), nullable=False, index=True),
)
