"""FaqStore on a real SQLite database: CRUD, publish/unpublish, validity dates, history, revision,
import/export round trip, idempotent first-run seed, feedback and unanswered questions."""
from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bianmin.audit import audit_log
from bianmin.db import create_schema, make_engine
from faq.models import faq_entries
from faq.store import (FaqConflict, FaqNotFound, FaqStore, FaqValidationError, dump_yaml, load_yaml,
                                 question_key)
from knowledge.local_settings import LocalSettings

REPO = Path(__file__).resolve().parent.parent
ENTRY = {"question": "社区老年大学怎么报名？", "similar": ["老年大学在哪报名", "退休了想上老年大学"],
         "answer": "请到所在社区服务中心报名，咨询电话 {hotline}。", "tags": ["养老服务"], "department": "民政部门"}


PG_URL = os.environ.get("BIANMIN_TEST_POSTGRES_URL", "").strip()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request, tmp_path):
    """The store on SQLite, and on PostgreSQL (a schema of its own) when BIANMIN_TEST_POSTGRES_URL is set."""
    schema = None
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'faq.db'}")
    else:
        if not PG_URL:
            pytest.skip("BIANMIN_TEST_POSTGRES_URL not set")
        schema = f"faq_test_{uuid.uuid4().hex[:10]}"
        admin = make_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    await create_schema(engine)
    try:
        yield FaqStore(engine, LocalSettings(REPO / "knowledge" / "local_settings.yml"))
    finally:
        await engine.dispose()
        if schema:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await admin.dispose()


async def audit_count(store: FaqStore, prefix: str = "faq.") -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(audit_log)
                                   .where(audit_log.c.action.like(prefix + "%")))).scalar()


async def test_create_get_update_delete_with_history_audit_and_revision(store):
    assert await store.revision() == 0
    entry = await store.create(ENTRY, actor="alice")
    assert entry.status == "draft" and entry.version == 1 and entry.similar == tuple(ENTRY["similar"])
    assert await store.revision() == 1
    assert (await store.get(entry.id)).question == ENTRY["question"]

    updated = await store.update(entry.id, {"answer": "新的答案。", "tags": "养老服务, 老年大学"}, actor="bob",
                                 expected_version=1)
    assert updated.version == 2 and updated.tags == ("养老服务", "老年大学")
    assert await store.revision() == 2
    history = await store.history(entry.id)
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["actor"] == "bob"
    assert history[0]["changes"]["answer"] == {"old": ENTRY["answer"], "new": "新的答案。"}
    assert set(history[0]["changes"]) == {"answer", "tags"}          # field-level diff: only what changed

    # a no-op edit writes nothing
    same = await store.update(entry.id, {"answer": "新的答案。"}, actor="bob")
    assert same.version == 2 and await store.revision() == 2 and len(await store.history(entry.id)) == 2

    with pytest.raises(FaqConflict):                                 # stale version from another admin
        await store.update(entry.id, {"answer": "覆盖"}, actor="carol", expected_version=1)

    await store.delete(entry.id, actor="alice")
    with pytest.raises(FaqNotFound):
        await store.get(entry.id)
    assert (await store.history(entry.id))[0]["action"] == "delete"
    assert await store.revision() == 3
    assert await audit_count(store) == 3


async def test_validation_and_duplicates(store):
    with pytest.raises(FaqValidationError):
        await store.create({**ENTRY, "question": ""}, actor="a")
    with pytest.raises(FaqValidationError):
        await store.create({**ENTRY, "answer": "  "}, actor="a")
    with pytest.raises(FaqValidationError, match="占位符"):
        await store.create({**ENTRY, "answer": "请拨打 {no_such.setting}"}, actor="a")
    with pytest.raises(FaqValidationError, match="生效日期"):
        await store.create({**ENTRY, "valid_from": "2026-05-01", "valid_until": "2026-04-01"}, actor="a")
    with pytest.raises(FaqValidationError):
        await store.create({**ENTRY, "id": "Bad ID!"}, actor="a")
    await store.create({**ENTRY, "id": "laonian-daxue"}, actor="a")
    with pytest.raises(FaqConflict):
        await store.create({**ENTRY, "id": "laonian-daxue", "question": "别的问题？"}, actor="a")
    with pytest.raises(FaqConflict):                                 # identical question, different punctuation
        await store.create({**ENTRY, "question": "社区老年大学怎么报名"}, actor="a")
    with pytest.raises(FaqNotFound):
        await store.update("nope", {"answer": "x"}, actor="a")


async def test_publish_unpublish_and_validity_dates(store):
    entry = await store.create(ENTRY, actor="a")
    revision, docs = await store.published_docs()
    assert docs == []
    published = await store.publish(entry.id, actor="a")
    assert published.status == "published" and published.is_live()
    revision2, docs = await store.published_docs()
    assert revision2 > revision and [d.id for d in docs] == [entry.id]

    today = dt.date.today()
    future = await store.update(entry.id, {"valid_from": (today + dt.timedelta(days=3)).isoformat()}, actor="a")
    assert not future.is_live() and future.is_live(today + dt.timedelta(days=3))
    expired = await store.update(entry.id, {"valid_from": None, "valid_until": (today - dt.timedelta(days=1)).isoformat()},
                                 actor="a")
    assert not expired.is_live() and expired.is_live(today - dt.timedelta(days=1))

    draft = await store.unpublish(entry.id, actor="a")
    assert draft.status == "draft"
    assert [h["action"] for h in await store.history(entry.id)][:2] == ["unpublish", "update"]
    assert (await store.published_docs())[1] == []


async def test_search_list(store):
    a = await store.create(ENTRY, actor="a")
    b = await store.create({**ENTRY, "question": "公交老年卡怎么办？", "similar": [], "tags": ["老年人优待"]}, actor="a")
    await store.publish(b.id, actor="a")
    items, total = await store.list("老年大学")
    assert total == 1 and items[0].id == a.id
    items, total = await store.list("", status="published")
    assert [i.id for i in items] == [b.id]
    items, total = await store.list("", tag="老年人优待")
    assert [i.id for i in items] == [b.id]


async def test_import_export_round_trip(store, tmp_path):
    text = (REPO / "knowledge" / "faq" / "hukou.yml").read_text(encoding="utf-8")
    entries = load_yaml(text)
    result = await store.import_entries(entries, actor="cli")
    assert result.counts() == {"created": len(entries), "updated": 0, "unchanged": 0}
    exported = await store.export_entries()
    dumped = dump_yaml(exported)
    again = await store.import_entries(load_yaml(dumped), actor="cli")
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": len(entries)}
    assert load_yaml(dumped) == exported                              # YAML round-trips exactly
    revision = await store.revision()

    # upsert by identical question (no id) and by id
    first = exported[0]
    changed = await store.import_entries([
        {"question": first["question"], "similar": first["similar"], "answer": first["answer"] + "（已更新）"},
        {"id": exported[1]["id"], "question": exported[1]["question"], "similar": [], "answer": "短答案"},
        {"question": "全新的问题怎么办理？", "similar": ["全新问题"], "answer": "这样办理。"},
    ], actor="cli")
    assert changed.counts() == {"created": 1, "updated": 2, "unchanged": 0}
    assert (await store.get(first["id"])).status == first["status"]   # status kept when not given
    assert (await store.get(changed.created[0])).status == "draft"      # new entries default to draft
    assert await store.revision() > revision

    # all or nothing: one bad entry rejects the whole file
    before = await store.count()
    with pytest.raises(FaqValidationError, match="第2条"):
        await store.import_entries([{"question": "又一个问题？", "answer": "好"}, {"question": "", "answer": "x"}],
                                   actor="cli")
    assert await store.count() == before


async def test_seed_is_idempotent(store):
    loaded = await store.seed_if_empty()
    assert loaded == 136
    revision = await store.revision()
    assert await store.seed_if_empty() == 0
    assert await store.count() == 136 and await store.revision() == revision
    entry = await store.get("juzhuzheng-apply")
    assert entry.status == "published" and "{online_service_url}" in entry.answer
    assert (await store.history("juzhuzheng-apply"))[0]["action"] == "seed"
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(faq_entries))).scalar() == 136


async def test_feedback_and_unanswered(store):
    entry = await store.create(ENTRY, actor="a")
    await store.record_feedback(entry.id, True, "老年大学在哪报名", "web-11111111-2222")
    await store.record_feedback(entry.id, False, "老年大学学费多少 电话13812345678", "web-11111111-2222")
    counts = await store.feedback_counts(entry.id)
    assert counts == {"helpful": 1, "not_helpful": 1}
    summary = await store.feedback_summary()
    assert summary[0]["faq_id"] == entry.id and summary[0]["not_helpful"] == 1
    assert "13812345678" not in str(summary)                          # residents' numbers are masked

    rows, total = await store.list_unanswered()
    assert total == 1 and rows[0]["reason"] == "not_helpful" and rows[0]["best_faq_id"] == entry.id
    assert "13812345678" not in rows[0]["question"] and rows[0]["last_sender"] == "web-****2222"

    # the same resident repeating counts once; another resident counts again
    for sender in ("web-a-1", "web-a-1", "web-b-2"):
        await store.record_unanswered("小区能办老年食堂吗？", sender, "low_confidence")
    await store.record_unanswered("小区能办老年食堂吗", "web-c-3", "fallback")       # same question, normalised
    rows, total = await store.list_unanswered()
    canteen = next(r for r in rows if r["question"].startswith("小区能办老年食堂吗"))
    assert canteen["count"] == 3 and canteen["reason"] == "fallback"
    assert rows[0]["id"] == canteen["id"]                              # most asked first
    assert not await store.record_unanswered("/", "x", "fallback")

    created = await store.faq_from_unanswered(canteen["id"], "admin", "new",
                                              {"answer": "可以向街道申请社区老年食堂。", "status": "published"})
    assert created.question == "小区能办老年食堂吗" and created.status == "published"   # the latest wording
    assert (await store.get_unanswered(canteen["id"]))["status"] == "resolved"
    assert (await store.get_unanswered(canteen["id"]))["resolved_faq_id"] == created.id

    other = next(r for r in (await store.list_unanswered())[0])
    similar = await store.faq_from_unanswered(other["id"], "admin", "similar", target_id=entry.id)
    assert question_key(other["question"]) in {question_key(s) for s in similar.similar}
    assert (await store.list_unanswered())[1] == 0
    assert await audit_count(store, "faq.unanswered.") == 2
