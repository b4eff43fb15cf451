"""action_request_handoff and the out-of-hours message, on tracker JSON fixtures (tests/fixtures/handoff_*.json)
against a real SQLite database; plus the working-hours rules they depend on."""
from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (STORE_DOWN, ActionRequestHandoff, ActionSubmitHandoffMessage,
                             ValidateHandoffMessageForm, handoff_reason, offline_message, queued_message)
from bianmin.db import create_schema, make_engine
from cases.registry import close_case_stores, get_case_stores
from channels.handoff import (LEAVE_PAYLOAD, TIMEZONE, HandoffConfig, HandoffConfigError, HandoffStore,
                              WorkingHours, action_store, close_action_store, expected_wait_minutes,
                              format_moment_zh, is_leave_request)
from channels.handoff_models import handoff_sessions

FIXTURES = Path(__file__).parent / "fixtures"


def tracker(name: str, **slots: Any) -> Tracker:
    state = json.loads((FIXTURES / f"handoff_{name}.json").read_text(encoding="utf-8"))
    state["slots"].update(slots)
    return Tracker.from_dict(state)


async def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


def text_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql+asyncpg://bianmin:nopass@127.0.0.1:{port}/bianmin"


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'bianmin.db'}"
    monkeypatch.setenv("BIANMIN_DATABASE_URL", url)
    monkeypatch.setenv("BIANMIN_VAR", str(tmp_path))
    monkeypatch.setenv("BIANMIN_WORKING_HOURS", "always")
    monkeypatch.setenv("BIANMIN_HANDOFF_AVG_MINUTES", "6")
    for name in ("BIANMIN_CASE_STORE", "BIANMIN_CASE_STORE_COMPLAINT"):
        monkeypatch.delenv(name, raising=False)
    yield url
    await close_action_store()
    await close_case_stores()


async def sessions(url: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    engine = make_engine(url)
    try:
        await create_schema(engine)
        async with engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(handoff_sessions))]
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------ in working hours
async def test_queue_position_and_expected_wait_are_told_and_rasa_is_paused(env: str) -> None:
    store = await action_store()
    await store.refresh_presence("test-instance", ["zhangsan", "lisi"])
    for i in range(2):   # two residents are already waiting
        await store.enqueue(f"web-00000000-0000-4000-8000-00000000000{i}", "requested")

    messages, events = await run(ActionRequestHandoff(), tracker("request"))

    text = text_of(messages)
    assert "排在第3位" in text and "预计等待约9分钟" in text, text          # 3 × 6 min ÷ 2 staff online
    assert messages[0]["buttons"] == [{"title": "返回智能助手", "payload": LEAVE_PAYLOAD}]
    assert events == [{"event": "pause", "timestamp": None}]
    rows = [r for r in await sessions(env) if r["sender_id"] == "web-11111111-2222-4333-8444-555555555555"]
    assert len(rows) == 1 and rows[0]["status"] == "queued" and rows[0]["reason"] == "requested"
    assert rows[0]["channel"] == "webchat"


async def test_asking_again_does_not_queue_twice(env: str) -> None:
    first, _ = await run(ActionRequestHandoff(), tracker("request"))
    second, events = await run(ActionRequestHandoff(), tracker("request"))
    assert "排在第1位" in text_of(first) and "排在第1位" in text_of(second)
    assert {"event": "pause", "timestamp": None} in events
    assert len(await sessions(env)) == 1


@pytest.mark.parametrize("fixture,reason", [("request", "requested"), ("after_fallback", "fallback"),
                                            ("after_upset", "upset")])
async def test_the_reason_is_recorded_for_staff(env: str, fixture: str, reason: str) -> None:
    await run(ActionRequestHandoff(), tracker(fixture))
    assert [r["reason"] for r in await sessions(env)] == [reason]


async def test_with_nobody_online_no_wait_is_promised(env: str) -> None:
    messages, events = await run(ActionRequestHandoff(), tracker("request"))
    text = text_of(messages)
    assert "排在第1位" in text and "暂时都不在线" in text and "预计等待" not in text
    assert {"event": "pause", "timestamp": None} in events


async def test_a_broken_queue_is_said_plainly_and_nothing_pauses(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIANMIN_DATABASE_URL", closed_port_url())
    messages, events = await run(ActionRequestHandoff(), tracker("request"))
    assert text_of(messages) == STORE_DOWN
    assert events == []


# ------------------------------------------------------------------------------------------ outside working hours
async def test_outside_working_hours_a_message_is_offered_instead_of_a_queue(env: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIANMIN_WORKING_HOURS", "never")
    messages, events = await run(ActionRequestHandoff(), tracker("request"))
    text = text_of(messages)
    assert "暂时没有人工客服" in text and "留言" in text and "工单号" in text
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/leave_message", "/deny"]
    assert all(e.get("event") != "pause" for e in events)
    assert events == [{"event": "slot", "timestamp": None, "name": "handoff_message", "value": None}]
    assert await sessions(env) == []


def test_the_offline_message_names_the_hours_and_the_next_opening() -> None:
    hours = WorkingHours.parse("mon-fri 09:00-17:30")
    friday_evening = dt.datetime(2026, 11, 27, 18, 0, tzinfo=TIMEZONE)
    upcoming = hours.next_open(friday_evening)
    text = offline_message(hours.describe_zh(), format_moment_zh(upcoming))
    assert "周一至周五 09:00-17:30" in text and "11月30日（周一）09:00" in text


async def test_a_message_becomes_a_ticket_and_a_retry_does_not_duplicate_it(env: str) -> None:
    t = tracker("message_filled")
    messages, events = await run(ActionSubmitHandoffMessage(), t)
    text = text_of(messages)
    assert "您的留言已登记，工单号：TS" in text, text
    number = text.split("工单号：")[1][:15]
    again, _ = await run(ActionSubmitHandoffMessage(), t)
    assert f"工单号是 {number}" in text_of(again) and "不会重复登记" in text_of(again)
    store = await get_case_stores().for_type("complaint")
    found = await store.find_by_sender(t.sender_id)
    assert [x.number for x in found] == [number]
    assert found[0].fields["source"] == "留言" and found[0].type == "complaint"
    assert {"event": "slot", "timestamp": None, "name": "handoff_message", "value": None} in events


async def test_a_message_is_never_claimed_stored_when_the_store_is_down(env: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIANMIN_DATABASE_URL", closed_port_url())
    messages, _ = await run(ActionSubmitHandoffMessage(), tracker("message_filled"))
    text = text_of(messages)
    assert "没有**登记成功" in text and "工单号：" not in text and "TS" not in text
    assert messages[0]["buttons"] == [{"title": "重新留言", "payload": "/leave_message"}]


@pytest.mark.parametrize("value,intent,accepted", [
    ("小区门口的路灯坏了一个多月", "complaint", True),
    ("好的", "affirm", False),
    ("😡😡😡", "express_upset", False),
    ("转人工", "human_handoff", False),
])
def test_the_message_form_wants_a_real_message(value: str, intent: str, accepted: bool) -> None:
    t = tracker("message_filled")
    t.latest_message = {**t.latest_message, "text": value, "intent": {"name": intent, "confidence": 1.0}}
    dispatcher = CollectingDispatcher()
    result = ValidateHandoffMessageForm().validate_handoff_message(value, dispatcher, t, {})
    assert result == {"handoff_message": value if accepted else None}
    assert bool(dispatcher.messages) is not accepted


# ------------------------------------------------------------------------------------------ pure rules
def test_reason_is_read_from_the_bot_response_just_before_the_request() -> None:
    assert handoff_reason(tracker("request").events) == "requested"
    assert handoff_reason(tracker("after_fallback").events) == "fallback"
    assert handoff_reason(tracker("after_upset").events) == "upset"
    # an offer two turns ago does not count
    events = tracker("after_upset").events + [{"event": "bot", "text": "好的", "metadata": {}},
                                              {"event": "user", "text": "转人工"}]
    assert handoff_reason(events) == "requested"


def test_expected_wait() -> None:
    assert expected_wait_minutes(1, 1, 6) == 6
    assert expected_wait_minutes(3, 2, 6) == 9
    assert expected_wait_minutes(1, 4, 6) == 2
    assert expected_wait_minutes(1, 10, 1) == 1        # never "0 minutes"
    assert expected_wait_minutes(2, 0, 6) is None      # nobody online: no estimate
    assert "预计等待约9分钟" in queued_message(3, 9) and "预计" not in queued_message(3, None)


@pytest.mark.parametrize("when,is_open", [
    ((2026, 11, 23, 8, 59), False),    # Monday before opening
    ((2026, 11, 23, 9, 0), True),
    ((2026, 11, 23, 12, 30), False),   # lunch break
    ((2026, 11, 23, 17, 29), True),
    ((2026, 11, 23, 17, 30), False),
    ((2026, 11, 28, 10, 0), True),     # Saturday morning
    ((2026, 11, 29, 10, 0), False),    # Sunday
    ((2026, 10, 1, 10, 0), False),     # a public holiday (Thursday)
    ((2026, 10, 10, 15, 0), True),     # an adjusted working Saturday: weekday hours
])
def test_working_hours_schedule(when: tuple[int, ...], is_open: bool) -> None:
    hours = WorkingHours.parse("mon-fri 09:00-12:00,13:30-17:30; sat 09:00-12:00",
                               holidays=[dt.date(2026, 10, 1)], workdays=[dt.date(2026, 10, 10)])
    assert hours.is_open(dt.datetime(*when, tzinfo=TIMEZONE)) is is_open
    assert hours.describe_zh() == "周一至周五 09:00-12:00、13:30-17:30；周六 09:00-12:00（法定节假日除外）"


def test_working_hours_are_shanghai_time() -> None:
    hours = WorkingHours.parse("mon-fri 09:00-17:30")
    assert hours.is_open(dt.datetime(2026, 11, 23, 1, 30, tzinfo=dt.timezone.utc))        # 09:30 in Shanghai
    assert not hours.is_open(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.timezone.utc))    # 17:30 in Shanghai


def test_always_and_never() -> None:
    now = dt.datetime.now(TIMEZONE)
    assert WorkingHours.parse("always").is_open(now) and not WorkingHours.parse("never").is_open(now)
    assert WorkingHours.parse("never").next_open(now) is None


@pytest.mark.parametrize("spec", ["mon-fri 9-17", "weekdays 09:00-17:00", "mon 10:00-09:00", "mon-fri 09:00"])
def test_bad_working_hours_are_explained(spec: str) -> None:
    with pytest.raises(HandoffConfigError) as err:
        WorkingHours.parse(spec)
    assert "BIANMIN_WORKING_HOURS" in str(err.value)


def test_holidays_come_from_the_sla_calendar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.sla as sla

    source = (Path(sla.__file__).with_name("sla.yml")).read_text(encoding="utf-8")
    custom = tmp_path / "sla.yml"
    custom.write_text(source.replace("holidays: []", "holidays: [2026-11-23]"), encoding="utf-8")
    monkeypatch.setenv("BIANMIN_SLA_FILE", str(custom))
    monkeypatch.setattr(sla, "_default", None)
    config = HandoffConfig.from_env({"BIANMIN_WORKING_HOURS": "mon-fri 09:00-17:30"})
    monkeypatch.setattr(sla, "_default", None)
    assert not config.hours.is_open(dt.datetime(2026, 11, 23, 10, 0, tzinfo=TIMEZONE))
    assert config.hours.is_open(dt.datetime(2026, 11, 24, 10, 0, tzinfo=TIMEZONE))


def test_bad_average_minutes_are_explained() -> None:
    with pytest.raises(HandoffConfigError):
        HandoffConfig.from_env({"BIANMIN_HANDOFF_AVG_MINUTES": "abc"})
    with pytest.raises(HandoffConfigError):
        HandoffConfig.from_env({"BIANMIN_HANDOFF_AVG_MINUTES": "0"})


@pytest.mark.parametrize("text,status,leave", [
    (LEAVE_PAYLOAD, "queued", True), (LEAVE_PAYLOAD, "active", True),
    ("不等了", "queued", True), ("不等了！", "queued", True), ("算了 不等了", "queued", True),
    ("不等了", "active", False),            # a person is answering: words go to that person
    ("我等了很久了", "queued", False),
])
def test_leaving_the_queue(text: str, status: str, leave: bool) -> None:
    assert is_leave_request(text, status) is leave


async def test_store_claims_only_queued_sessions(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    await create_schema(engine)
    try:
        store = HandoffStore(engine)
        session, created = await store.enqueue("web-00000000-0000-4000-8000-000000000001", "requested")
        assert created and await store.position(session) == 1
        assert await store.claim(session.id, "zhangsan") and not await store.claim(session.id, "lisi")
        assert not await store.transfer(session.id, "lisi", "wangwu", "lisi")      # not lisi's to give away
        assert await store.transfer(session.id, "zhangsan", "wangwu", "zhangsan")
        assert (await store.get(session.id)).claimed_by == "wangwu"  # type: ignore[union-attr]
        assert await store.finish(session.id, "closed", "wangwu", claimed_by="wangwu")
        assert not await store.finish(session.id, "closed", "wangwu")
        again, created = await store.enqueue("web-00000000-0000-4000-8000-000000000001", "upset")
        assert created and again.id != session.id       # a closed session does not block a new request
    finally:
        await engine.dispose()
