"""Tables of the SQL case store (SQLAlchemy Core, on bianmin's shared ``metadata``).

Timestamps are stored in UTC. Personal data stays in ``fields`` (JSON) apart from the two lookup keys a
resident checks progress with: ``contact_phone`` (digits only) and ``id_last4``.
"""
from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, PrimaryKeyConstraint, String,
                        Table)

from bianmin.db import metadata

tickets = Table(
    "tickets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("anonymous", Boolean, nullable=False, default=False),
    Column("query_code", String(16), nullable=True, unique=True),   # unique index: lookups and uniqueness
    Column("contact_phone", String(20), nullable=True, index=True),
    Column("id_last4", String(4), nullable=True),
    Column("category", String(64), nullable=True),
    Column("subcategory", String(64), nullable=True),
    Column("department", String(128), nullable=True),
    Column("deadlines", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("rating", Integer, nullable=True),
)
Index("ix_tickets_status_type", tickets.c.status, tickets.c.type)

ticket_events = Table(
    "ticket_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_number", String(32), ForeignKey("tickets.number", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, default=""),   # a Status value, "" for notes and ratings
    Column("actor", String(64), nullable=False),
    Column("note", String(2000), nullable=False, default=""),
    # Idempotency key of the request that made this change (HTTP API retries): unique, so a replayed
    # request cannot append a second event or apply a change twice.
    Column("request_key", String(128), nullable=True, unique=True),
)

ticket_sequences = Table(
    "ticket_sequences", metadata,
    Column("prefix", String(4), nullable=False),
    Column("day", String(8), nullable=False),                   # local date, YYYYMMDD
    Column("last_value", Integer, nullable=False),
    PrimaryKeyConstraint("prefix", "day"),
)

submission_keys = Table(
    "submission_keys", metadata,
    Column("key", String(128), primary_key=True),
    Column("ticket_number", String(32), ForeignKey("tickets.number", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
