"""Progress feedback and rating actions (actions/progress.py) on tracker fixtures, against the real SqlCaseStore
on a temporary SQLite file."""
from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker

from actions.progress import (ActionRateTicket, ActionShowProgress, AskProgressCredentials, NOT_FOUND_NEUTRAL,
                              ValidateProgressForm, parse_rating, read_credentials)
from actions.intake import Turn
from cases.store import NewTicket, Status, submission_key
from tests.test_actions_intake import (VALID_ID, after, case_db, fixture, nlu_entities, payloads, run,  # noqa: F401
                                       says, slots_of, text_of)

VALIDATE = ValidateProgressForm()
SHOW = ActionShowProgress()
RATE = ActionRateTicket()
ME = "resident-me"


def opening(text: str, intent: str = "progress_query", sender: str = ME, **slots: Any) -> Tracker:
    """The tracker when progress_form is activated by the resident's message."""
    state = {"sender_id": sender, "slots": dict(slots),
             "latest_message": {"text": text, "intent": {"name": intent, "confidence": 1.0},
                                "entities": nlu_entities(text)},
             "events": [{"event": "action", "name": "action_session_start"}, {"event": "session_started"},
                        {"event": "action", "name": "action_listen"}, {"event": "user", "text": text},
                        {"event": "action", "name": "progress_form"},
                        {"event": "active_loop", "name": "progress_form"}],
             "active_loop": {"name": "progress_form"}, "latest_action_name": "progress_form"}
    return Tracker.from_dict(state)


def done(sender: str = ME, **slots: Any) -> Tracker:
    """The tracker when the form has finished and action_show_progress runs."""
    return Tracker.from_dict({"sender_id": sender, "slots": {"requested_slot": None, **slots},
                              "latest_message": {"text": "", "intent": {}, "entities": []}, "events": [],
                              "active_loop": {}})


async def file(stores: Any, ticket_type: str = "complaint", sender: str = ME, anonymous: bool = False,
               **fields: Any) -> Any:
    values = {"description": f"楼下烧烤店天天吵到半夜 {sender}", "phone": "13812345678", **fields}
    if anonymous:
        values.pop("phone")
    store = await stores.for_type(ticket_type)
    new = NewTicket(type=ticket_type, sender_id=sender, channel="rest", fields=values,
                    submission_key=submission_key(ticket_type, sender, values), anonymous=anonymous,
                    category="环境保护", subcategory="噪声", department="生态环境局")
    return (await store.create(new)).ticket


# ------------------------------------------------------------------------------------------------ what is needed
async def test_own_ticket_by_number_needs_nothing_more(case_db):
    ticket = await file(case_db)
    events, messages = await run(VALIDATE, opening(f"{ticket.number} 现在进展如何"))
    assert slots_of(events)["progress_ticket"] == ticket.number
    assert slots_of(events)["requested_slot"] is None and messages == []


async def test_someone_elses_ticket_needs_proof(case_db):
    ticket = await file(case_db, sender="someone-else")
    events, _ = await run(VALIDATE, opening(f"查一下{ticket.number}"))
    assert slots_of(events)["requested_slot"] == "progress_credentials"
    assert slots_of(events)["progress_need"] == "phone"                   # a complaint: its phone is enough
    _, messages = await run(AskProgressCredentials(), after(fixture("progress_asking_credentials.json")))
    assert "手机号" in text_of(messages) and "查询码" in text_of(messages)


async def test_my_tickets_without_any_in_this_conversation_asks_for_phone_and_id(case_db):
    events, _ = await run(VALIDATE, opening("我的工单", sender="nobody-yet"))
    assert slots_of(events)["requested_slot"] == "progress_credentials"
    assert slots_of(events)["progress_need"] == "phone_id"


async def test_credentials_are_read_from_one_message():
    turn = Turn("13812345678 1234", "inform", 0.9, ())
    assert read_credentials(turn) == (None, "13812345678", "1234", None)
    turn = Turn("查询码 gk233l", "inform", 0.9, ())
    assert read_credentials(turn)[3] == "GK233L"
    turn = Turn("TS20261123-0007", "progress_query", 1.0, ())
    assert read_credentials(turn) == ("TS20261123-0007", None, None, None)


async def test_unreadable_credentials_are_asked_again_then_given_up(case_db):
    ticket = await file(case_db, sender="someone-else")
    state = fixture("progress_asking_credentials.json")
    state["slots"]["progress_ticket"] = ticket.number
    events, messages = await run(VALIDATE, says(state, "不知道", "deny", form="progress_form"))
    assert slots_of(events)["requested_slot"] == "progress_credentials" and "手机号" in text_of(messages)
    events, _ = await run(VALIDATE, says(state, "不知道", "deny", form="progress_form", progress_attempts=2.0))
    assert slots_of(events)["progress_stop"] == "gave_up"


async def test_a_greeting_while_asked_for_proof_is_a_digression(case_db):
    events, _ = await run(VALIDATE, says(fixture("progress_asking_credentials.json"), "你好", "greet",
                                         form="progress_form"))
    assert events == []


# ------------------------------------------------------------------------------------------------ answers
async def test_own_ticket_shows_status_department_deadline_and_history(case_db):
    ticket = await file(case_db)
    store = await case_db.for_type("complaint")
    await store.update_status(ticket.number, Status.ASSIGNED, "staff1", "已派至区生态环境局")
    _, messages = await run(SHOW, done(progress_ticket=ticket.number))
    text = text_of(messages)
    assert f"工单 {ticket.number}" in text and "当前状态：已分派" in text and "生态环境局" in text
    assert "已受理" in text and "已分派：已派至区生态环境局" in text
    assert "staff1" not in text                                        # staff accounts are not shown to residents


async def test_unknown_number_is_politely_not_found(case_db):
    _, messages = await run(SHOW, done(progress_ticket="TS20260101-9999"))
    assert "没有查到工单 TS20260101-9999" in text_of(messages)


async def test_wrong_phone_gets_the_same_neutral_answer_as_an_unknown_phone(case_db):
    ticket = await file(case_db, sender="someone-else")
    wrong = {"progress_ticket": ticket.number, "progress_credentials": "given"}
    _, with_other_phone = await run(SHOW, done(progress_phone="13900000000", **wrong))
    await file(case_db, sender="third", phone="13911112222")
    _, with_existing_phone = await run(SHOW, done(progress_phone="13911112222", **wrong))
    assert text_of(with_other_phone) == text_of(with_existing_phone) == NOT_FOUND_NEUTRAL


async def test_right_phone_shows_the_ticket_and_remembers_the_proof(case_db):
    ticket = await file(case_db, sender="someone-else")
    events, messages = await run(SHOW, done(progress_ticket=ticket.number, progress_credentials="given",
                                            progress_phone="13812345678"))
    assert f"工单 {ticket.number}" in text_of(messages)
    assert slots_of(events)["progress_verified"] == [ticket.number]
    assert slots_of(events)["progress_phone"] is None                  # proof is not kept in slots


async def test_petition_needs_phone_and_id_last4(case_db):
    ticket = await file(case_db, "petition", sender="someone-else", id_number=VALID_ID, request="补发补偿款")
    base = {"progress_ticket": ticket.number, "progress_credentials": "given", "progress_phone": "13812345678"}
    _, messages = await run(SHOW, done(progress_id_last4="0000", **base))
    assert text_of(messages) == NOT_FOUND_NEUTRAL
    _, messages = await run(SHOW, done(progress_id_last4="4323", **base))
    assert f"工单 {ticket.number}" in text_of(messages) and "信访" in text_of(messages)


async def test_anonymous_report_is_found_by_its_query_code(case_db):
    ticket = await file(case_db, sender="someone-else", anonymous=True)
    events, _ = await run(VALIDATE, opening(f"查询码{ticket.query_code}", sender="another-device"))
    assert slots_of(events)["progress_credentials"] == "given"
    _, messages = await run(SHOW, done(sender="another-device", progress_credentials="given",
                                       progress_query_code=ticket.query_code))
    assert f"工单 {ticket.number}" in text_of(messages)


async def test_my_tickets_lists_them_with_buttons(case_db):
    first = await file(case_db)
    second = await file(case_db, "legal_aid", facts="老板拖欠工资两万三", id_number=VALID_ID)
    _, messages = await run(SHOW, done())
    assert first.number in text_of(messages) and second.number in text_of(messages)
    assert f'/progress_query{{"ticket_id": "{second.number}"}}' in payloads(messages)


async def test_store_down_is_said_plainly(monkeypatch):
    from cases.registry import close_case_stores

    monkeypatch.setenv("BIANMIN_CASE_STORE", "http")
    monkeypatch.setenv("BIANMIN_CASE_HTTP_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("BIANMIN_CASE_HTTP_RETRIES", "0")
    try:
        _, messages = await run(SHOW, done(progress_ticket="TS20261123-0001"))
    finally:
        await close_case_stores()
    assert "暂时无法查询" in text_of(messages)


# ------------------------------------------------------------------------------------------------ rating
async def test_resolved_ticket_offers_rating_and_stores_it_once(case_db):
    ticket = await file(case_db)
    store = await case_db.for_type("complaint")
    await store.update_status(ticket.number, Status.RESOLVED, "staff1", "已责令整改")
    events, messages = await run(SHOW, done(progress_ticket=ticket.number))
    assert f'/rate{{"ticket_number": "{ticket.number}", "rating": 4}}' in payloads(messages)
    assert slots_of(events)["progress_rate_ticket"] == ticket.number
    rate4 = says(fixture("progress_asking_credentials.json"), f'/rate{{"ticket_number":"{ticket.number}","rating":4}}',
                 "rate", 1.0, entities=[{"entity": "ticket_number", "value": ticket.number},
                                        {"entity": "rating", "value": 4}])
    rate4.sender_id = ME
    _, messages = await run(RATE, rate4)
    assert "感谢您的评价" in text_of(messages)
    assert (await store.get(ticket.number)).rating == 4
    _, messages = await run(RATE, rate4)
    assert "已经评价过" in text_of(messages)


async def test_invalid_rating_and_unresolved_ticket_get_polite_answers(case_db):
    ticket = await file(case_db)
    state = fixture("progress_asking_credentials.json")
    bad = says(state, "/rate", "rate", 1.0, entities=[{"entity": "ticket_number", "value": ticket.number},
                                                      {"entity": "rating", "value": 9}])
    bad.sender_id = ME
    _, messages = await run(RATE, bad)
    assert "1到5星" in text_of(messages) and len(payloads(messages)) == 5
    early = says(state, "五星", "rate", progress_rate_ticket=ticket.number)
    early.sender_id = ME
    _, messages = await run(RATE, early)
    assert "办结后才能评价" in text_of(messages)


async def test_someone_else_cannot_rate(case_db):
    ticket = await file(case_db)
    store = await case_db.for_type("complaint")
    await store.update_status(ticket.number, Status.RESOLVED, "staff1")
    intruder = says(fixture("progress_asking_credentials.json"), "/rate", "rate", 1.0,
                    entities=[{"entity": "ticket_number", "value": ticket.number}, {"entity": "rating", "value": 1}])
    _, messages = await run(RATE, intruder)
    assert "核实身份" in text_of(messages)
    assert (await store.get(ticket.number)).rating is None


@pytest.mark.parametrize("text,score", [("五星好评", 5), ("打四分吧", 4), ("★★★", 3), ("给2分", 2), ("一星 太差了", 1),
                                        ("评价一下", None)])
def test_typed_ratings(text, score):
    assert parse_rating(Turn(text, "rate", 0.9, ())) == score
