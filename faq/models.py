"""FAQ tables (SQLAlchemy Core on the shared ``bianmin.db.metadata``).

- ``faq_entries``: the curated knowledge; ``status`` draft/published, optional validity dates;
  ``version`` counts the entry's own changes (optimistic locking in the admin console).
- ``faq_history``: one row per change with a field-level diff ``{field: {"old": .., "new": ..}}``.
- ``faq_revision``: a single row whose ``revision`` goes up with every change to any entry, so a
  process holding an in-memory index can tell with one cheap SELECT that it must rebuild.
- ``faq_feedback``: 有帮助 / 没帮助 per answer, with the question the resident asked.
- ``faq_unanswered``: questions the assistant could not answer (or answered unhelpfully), one row per
  normalised question text with a count; admins turn them into FAQs and the row is marked resolved.
"""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Index, Integer, String, Table, Text

from bianmin.db import metadata

STATUSES = ("draft", "published")
STATUS_NAMES_ZH = {"draft": "草稿", "published": "已发布"}
UNANSWERED_REASONS = ("low_confidence", "none_of_these", "not_helpful", "fallback")
UNANSWERED_STATUSES = ("open", "resolved", "ignored")

faq_entries = Table(
    "faq_entries", metadata,
    Column("id", String(64), primary_key=True),
    Column("question", Text, nullable=False),
    Column("question_key", String(255), nullable=False, index=True),   # normalised question, for upserts
    Column("similar", JSON, nullable=False, default=list),
    Column("answer", Text, nullable=False),
    Column("tags", JSON, nullable=False, default=list),
    Column("department", String(128), nullable=False, default=""),
    Column("search_text", Text, nullable=False, default=""),  # id, questions, answer, tags: for admin search
    Column("status", String(16), nullable=False, default="draft", index=True),
    Column("valid_from", Date, nullable=True),
    Column("valid_until", Date, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
)

faq_history = Table(
    "faq_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("faq_id", String(64), nullable=False, index=True),   # no FK: history outlives a deleted entry
    Column("version", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),     # create / update / publish / unpublish / delete / import / seed
    Column("changes", JSON, nullable=False, default=dict),
)

faq_revision = Table(
    "faq_revision", metadata,
    Column("id", Integer, primary_key=True),           # always 1
    Column("revision", Integer, nullable=False, default=0),
    Column("changed_at", DateTime(timezone=True), nullable=True),
)

faq_feedback = Table(
    "faq_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("faq_id", String(64), nullable=False, index=True),
    Column("helpful", Boolean, nullable=False),
    Column("question", Text, nullable=False, default=""),     # what the resident asked (phone/ID masked)
    Column("sender", String(64), nullable=False, default=""),  # masked conversation id
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)

faq_unanswered = Table(
    "faq_unanswered", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("question_key", String(255), nullable=False, unique=True),
    Column("question", Text, nullable=False),                 # the latest wording (phone/ID masked)
    Column("count", Integer, nullable=False, default=1),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False, index=True),
    Column("last_sender", String(64), nullable=False, default=""),     # masked
    Column("last_sender_hash", String(16), nullable=False, default=""),  # de-duplicates repeats by one resident
    Column("reason", String(32), nullable=False),
    Column("best_faq_id", String(64), nullable=True),          # the closest FAQ at the time, if any
    Column("best_confidence", Integer, nullable=True),         # percent
    Column("status", String(16), nullable=False, default="open", index=True),
    Column("resolved_faq_id", String(64), nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)

Index("ix_faq_unanswered_status_count", faq_unanswered.c.status, faq_unanswered.c.count)
