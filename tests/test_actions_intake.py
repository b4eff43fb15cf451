"""Intake form actions (actions/intake.py + the per-type specs) on tracker fixtures captured from the real stack.

Each test plays one resident message into a fixture state the way Rasa hands it to ``validate_intake_form`` (user
event, then the form runs), with entities from the real NLU entity extractor, and runs the real action classes with
a CollectingDispatcher. Submission tests use the real SqlCaseStore on a temporary SQLite file, or the real
HttpCaseStore pointed at a closed port for "store down".
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import socket
from pathlib import Path
from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import complaint, legal_aid, petition  # noqa: F401  (register the specs)
from actions.intake import (AskConfirmation, ActionCancelIntake, ActionFinishIntake, ActionStartIntake,
                            ValidateIntakeForm, _ASK_ACTIONS)
from actions.session import ActionSessionStart

FIXTURES = Path(__file__).parent / "fixtures" / "trackers"
REFERENCE_DAY = dt.date(2026, 11, 23)
DOMAIN: dict[str, Any] = {"session_config": {"carry_over_slots_to_new_session": True}}
VALID_ID = "320102197811054323"       # checksum-valid (GB 11643)
BAD_ID = "320102197811054321"         # same, wrong check character


# ------------------------------------------------------------------------------------------------ harness
def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


_finder = None


def nlu_entities(text: str) -> list[dict[str, Any]]:
    """What the NLU's rule-based extractor reports for ``text`` (button payloads carry their own entities)."""
    global _finder
    if text.startswith("/"):
        return []
    if _finder is None:
        from bot.components.zh_pipeline import default_finder

        _finder = default_finder()
    return [m.as_rasa_entity() for m in _finder.extract(text, REFERENCE_DAY)]


def says(state: dict[str, Any], text: str, intent: str, confidence: float = 0.99,
         entities: Optional[list[dict[str, Any]]] = None, form: str = "intake_form", **slots: Any) -> Tracker:
    """The tracker the form's validation action receives after the resident says ``text``."""
    s = copy.deepcopy(state)
    s["slots"].update(slots)
    ents = nlu_entities(text) if entities is None else entities
    s["latest_message"] = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": ents}
    s["events"] += [{"event": "user", "text": text, "parse_data": s["latest_message"]},
                    {"event": "slot", "name": "requested_slot", "value": s["slots"].get("requested_slot")},
                    {"event": "action", "name": form}]
    return Tracker.from_dict(s)


def after(state: dict[str, Any], **slots: Any) -> Tracker:
    """The tracker as it stands (e.g. for an ask action or the submit action), with some slots changed."""
    s = copy.deepcopy(state)
    s["slots"].update(slots)
    return Tracker.from_dict(s)


async def run(action: Any, tracker: Tracker, domain: Optional[dict[str, Any]] = None) -> tuple[list, list]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain or DOMAIN)
    return events, dispatcher.messages


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def text_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def payloads(messages: list[dict[str, Any]]) -> list[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


@pytest.fixture(autouse=True)
def _reference_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIANMIN_REFERENCE_DATE", REFERENCE_DAY.isoformat())


@pytest.fixture
async def case_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The real SQL case store on a fresh SQLite file (this test's event loop gets its own CaseStores)."""
    from cases.registry import close_case_stores, get_case_stores

    monkeypatch.setenv("BIANMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bianmin.db'}")
    for var in ("BIANMIN_CASE_STORE", "BIANMIN_CASE_STORE_COMPLAINT", "BIANMIN_CASE_STORE_PETITION",
                "BIANMIN_CASE_STORE_LEGAL_AID", "BIANMIN_CASE_HTTP_URL"):
        monkeypatch.delenv(var, raising=False)
    yield get_case_stores()
    await close_case_stores()


@pytest.fixture
async def store_down(monkeypatch: pytest.MonkeyPatch):
    """Complaints go to an external case system that is down (nothing listens on the port)."""
    from cases.registry import close_case_stores

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("BIANMIN_CASE_STORE_COMPLAINT", "http")
    monkeypatch.setenv("BIANMIN_CASE_HTTP_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("BIANMIN_CASE_HTTP_RETRIES", "1")
    monkeypatch.setenv("BIANMIN_CASE_HTTP_TIMEOUT", "2")
    yield
    await close_case_stores()


VALIDATE = ValidateIntakeForm()
OPENING = "上周三晚上楼下KTV吵到半夜 我住朝阳区建国路88号3栋501 电话13812345678"


# ------------------------------------------------------------------------------------------------ facts up front
async def test_opening_message_fills_every_fact_it_contains():
    events, messages = await run(VALIDATE, Tracker.from_dict(fixture("complaint_opening.json")))
    slots = slots_of(events)
    assert slots["intake_occurred_at"] == "2026-11-18 晚上"
    assert slots["intake_address"].startswith("朝阳区建国路88号3栋")
    assert slots["intake_phone"] == "13812345678"
    assert "KTV吵到半夜" in slots["intake_description"]
    assert "13812345678" not in slots["intake_description"] and "电话" not in slots["intake_description"]
    assert slots["requested_slot"] == "intake_person_name"        # only the (optional) name is still missing


async def test_opening_request_without_facts_fills_nothing():
    state = fixture("complaint_opening.json")
    state["latest_message"] = {"text": "我要投诉", "intent": {"name": "complaint", "confidence": 1.0}, "entities": []}
    events, _ = await run(VALIDATE, Tracker.from_dict(state))
    assert slots_of(events) == {"requested_slot": "intake_description"}


async def test_anonymous_report_up_front_skips_phone_and_name():
    state = fixture("complaint_opening.json")
    text = "匿名举报 我们小区旁边的工厂晚上偷排废气 味道特别呛"
    state["latest_message"] = {"text": text, "intent": {"name": "complaint", "confidence": 1.0},
                               "entities": nlu_entities(text)}
    events, messages = await run(VALIDATE, Tracker.from_dict(state))
    slots = slots_of(events)
    assert slots["intake_anonymous"] is True
    assert slots["intake_description"] == "我们小区旁边的工厂晚上偷排废气 味道特别呛"
    assert "查询码" in text_of(messages)
    assert slots["requested_slot"] == "intake_address"


# ------------------------------------------------------------------------------------------------ validation
async def test_short_description_asks_for_more_detail():
    events, messages = await run(VALIDATE, says(fixture("complaint_started.json"), "路灯坏了", "complaint"))
    assert slots_of(events)["intake_description"] is None
    assert "具体" in text_of(messages)
    assert slots_of(events)["requested_slot"] == "intake_description"


@pytest.mark.parametrize("confidence", [0.61, 0.95])
async def test_invalid_phone_gets_a_clear_prompt_with_an_example(confidence):
    # the NLU reads "1381234" as goodbye ("88"); it is still an answer, not a farewell
    events, messages = await run(VALIDATE, says(fixture("complaint_asking_phone.json"), "1381234", "goodbye",
                                                confidence))
    slots = slots_of(events)
    assert slots["intake_phone"] is None and slots["requested_slot"] == "intake_phone"
    assert "13812345678" in text_of(messages) and "010-62345678" in text_of(messages)
    assert slots["intake_reprompted"] == "intake_phone"     # the ask action will not repeat the question


async def test_phone_and_name_in_one_answer():
    events, _ = await run(VALIDATE, says(fixture("complaint_asking_phone.json"), "13912345678 我叫王建国", "inform"))
    slots = slots_of(events)
    assert slots["intake_phone"] == "13912345678" and slots["intake_person_name"] == "王建国"
    assert slots["requested_slot"] == "intake_confirmed"


async def test_bad_id_checksum_is_refused_and_a_valid_one_accepted():
    state = fixture("legal_aid_asking_id.json")
    events, messages = await run(VALIDATE, says(state, BAD_ID, "goodbye", 0.61))
    assert "身份证号校验未通过，请核对后重新输入" in text_of(messages)
    assert slots_of(events)["intake_id_number"] is None
    events, _ = await run(VALIDATE, says(state, VALID_ID, "goodbye", 0.61))
    assert slots_of(events)["intake_id_number"] == VALID_ID
    assert slots_of(events)["requested_slot"] == "intake_phone"


async def test_future_date_is_refused():
    state = fixture("complaint_asking_phone.json")
    state["slots"].pop("intake_occurred_at")
    state["slots"]["requested_slot"] = "intake_occurred_at"
    events, messages = await run(VALIDATE, says(state, "2030年1月1日", "inform"))
    assert slots_of(events)["intake_occurred_at"] is None
    assert "不能晚于今天" in text_of(messages)


async def test_optional_name_can_be_skipped():
    state = fixture("complaint_summary.json")
    state["slots"].pop("intake_person_name")
    state["slots"]["requested_slot"] = "intake_person_name"
    events, _ = await run(VALIDATE, says(state, "不留", "deny", 0.88))
    assert slots_of(events)["intake_person_name"] == ""
    assert slots_of(events)["requested_slot"] == "intake_confirmed"


async def test_not_wanting_to_leave_a_phone_makes_it_anonymous():
    events, messages = await run(VALIDATE, says(fixture("complaint_asking_phone.json"), "不想留电话", "deny", 0.7))
    slots = slots_of(events)
    assert slots["intake_anonymous"] is True
    assert slots["requested_slot"] == "intake_confirmed"          # neither phone nor name is asked any more
    assert "匿名" in text_of(messages)


async def test_legal_aid_in_arbitration_is_told_it_can_still_apply():
    state = fixture("legal_aid_asking_id.json")
    state["slots"].pop("intake_litigation")
    state["slots"].pop("intake_person_name")
    state["slots"]["requested_slot"] = "intake_litigation"
    events, messages = await run(VALIDATE, says(state, "已经申请劳动仲裁了", "service_enquiry", 1.0))
    assert slots_of(events)["intake_litigation"] is True
    assert "同样可以申请法律援助" in text_of(messages)


@pytest.mark.parametrize("text,intent,value", [("没有", "deny", False), ("还没打官司", "inform", False),
                                               ("已经起诉到法院了", "inform", True), ("正在仲裁", "inform", True)])
async def test_yes_no_answers_in_words(text, intent, value):
    state = _asking(fixture("legal_aid_asking_id.json"), "intake_litigation", intake_litigation=None,
                    intake_person_name=None)
    events, _ = await run(VALIDATE, says(state, text, intent))
    assert slots_of(events)["intake_litigation"] is value


async def test_an_unrelated_sentence_is_not_a_yes():
    state = _asking(fixture("legal_aid_asking_id.json"), "intake_litigation", intake_litigation=None,
                    intake_person_name=None)
    events, messages = await run(VALIDATE, says(state, "我是农民工讨薪 应该免审吧", "service_enquiry", 1.0))
    assert slots_of(events)["intake_litigation"] is None and payloads(messages) == ["/affirm", "/deny"]


async def test_petition_in_litigation_stops_before_personal_data_and_files_nothing(case_db):
    state = fixture("petition_asking_litigation.json")
    events, _ = await run(VALIDATE, says(state, "已经起诉到法院了", "inform"))
    assert slots_of(events)["intake_stop"] == "litigation"
    assert slots_of(events)["requested_slot"] is None
    done = after(state, intake_litigation=True, intake_stop="litigation", requested_slot=None)
    events, messages = await run(ActionFinishIntake(), done)
    assert "不予受理" in text_of(messages) and "/legal_aid" in payloads(messages)
    assert "工单号" not in text_of(messages)
    assert slots_of(events)["intake_facts"] is None
    store = await case_db.for_type("petition")
    assert await store.find_by_sender(state["sender_id"]) == []


def _asking(state: dict[str, Any], slot: str, **values: Any) -> dict[str, Any]:
    state["slots"].update(values, requested_slot=slot)
    return state


async def test_a_body_named_like_an_enquiry_is_an_answer_and_a_bare_no_is_not():
    state = _asking(fixture("petition_asking_litigation.json"), "intake_agency", intake_litigation=False)
    events, _ = await run(VALIDATE, says(state, "某某街道办事处", "service_enquiry", 1.0))
    assert slots_of(events)["intake_agency"] == "某某街道办事处"
    events, messages = await run(VALIDATE, says(state, "没有", "deny", 1.0))
    assert slots_of(events)["intake_agency"] is None and "不涉及具体单位" in text_of(messages)


async def test_correction_to_an_invalid_value_explains_and_asks_again():
    events, messages = await run(VALIDATE, says(fixture("complaint_summary.json"), "电话写错了，应该是1391234",
                                                "correct"))
    assert slots_of(events)["intake_phone"] is None and "号码好像不对" in text_of(messages)
    assert slots_of(events)["intake_reprompted"] == "intake_phone" == slots_of(events)["requested_slot"]


# ------------------------------------------------------------------------------------------------ digressions, cancel
async def test_service_enquiry_mid_form_is_a_digression():
    events, _ = await run(VALIDATE, says(fixture("complaint_asking_phone.json"), "对了，居住证怎么办？",
                                         "service_enquiry", 0.99))
    assert events == []          # no slot set: Rasa rejects the form and the digression rule answers


async def test_form_coming_back_after_a_digression_reads_nothing_and_asks_again():
    state = fixture("complaint_asking_phone.json")
    state["latest_message"] = {"text": "对了，居住证怎么办？", "intent": {"name": "service_enquiry", "confidence": 0.99},
                               "entities": []}
    state["events"] += [{"event": "user", "text": "对了，居住证怎么办？"}, {"event": "action", "name": "intake_form"},
                        {"event": "action_execution_rejected", "name": "intake_form"},
                        {"event": "action", "name": "action_answer_faq"},
                        {"event": "bot", "text": "居住证可以在居住地派出所申领……"},
                        {"event": "action", "name": "intake_form"}]
    events, messages = await run(VALIDATE, Tracker.from_dict(state))
    assert slots_of(events) == {"requested_slot": "intake_phone"} and messages == []


async def test_out_of_scope_with_a_date_word_is_still_a_digression():
    events, _ = await run(VALIDATE, says(fixture("complaint_started.json"), "今天股票行情怎么样", "out_of_scope", 0.99))
    assert events == []


@pytest.mark.parametrize("text,intent", [("算了不投诉了", "cancel"), ("取消", "cancel"), ("/cancel", "cancel"),
                                         ("我不想投诉了", "complaint")])
async def test_cancel_at_any_step(text, intent):
    events, _ = await run(VALIDATE, says(fixture("complaint_asking_phone.json"), text, intent))
    assert slots_of(events)["intake_stop"] == "cancelled" and slots_of(events)["requested_slot"] is None


async def test_a_fact_mentioning_cancellation_is_not_a_cancel():
    state = fixture("petition_asking_litigation.json")
    state["slots"].pop("intake_facts")
    state["slots"]["requested_slot"] = "intake_facts"
    events, _ = await run(VALIDATE, says(state, "取消了我家的低保资格 也不说明理由", "petition", 0.9))
    assert slots_of(events)["intake_facts"] == "取消了我家的低保资格 也不说明理由"


async def test_cancelled_intake_is_confirmed_and_forgotten(case_db):
    state = fixture("complaint_asking_phone.json")
    events, messages = await run(ActionFinishIntake(), after(state, intake_stop="cancelled", requested_slot=None))
    assert "已取消本次投诉" in text_of(messages)
    assert all(v is None for k, v in slots_of(events).items() if k.startswith("intake_"))
    store = await case_db.for_type("complaint")
    assert await store.find_by_sender(state["sender_id"]) == []


async def test_cancel_outside_the_form_forgets_a_half_filled_intake():
    events, messages = await run(ActionCancelIntake(), after(fixture("complaint_asking_phone.json"),
                                                             requested_slot=None))
    assert "已取消" in text_of(messages) and slots_of(events)["intake_description"] is None


# ------------------------------------------------------------------------------------------------ summary, corrections
async def test_summary_masks_personal_data_and_offers_submit_modify_cancel():
    state = fixture("legal_aid_asking_id.json")
    events, messages = await run(AskConfirmation(), after(state, intake_id_number=VALID_ID,
                                                          intake_phone="15088886666",
                                                          requested_slot="intake_confirmed"))
    text = text_of(messages)
    assert "320***********4323" in text and "150****6666" in text
    assert VALID_ID not in text and "15088886666" not in text
    assert "赵敏" in text and "劳动" in text
    assert payloads(messages) == ["/affirm", "/correct", "/cancel"]


async def test_submit_button_confirms():
    events, _ = await run(VALIDATE, says(fixture("complaint_summary.json"), "/affirm", "affirm", 1.0))
    assert slots_of(events)["intake_confirmed"] is True and slots_of(events)["requested_slot"] is None


async def test_correction_without_new_value_asks_that_field_again():
    events, messages = await run(VALIDATE, says(fixture("complaint_summary.json"), "电话写错了", "correct"))
    slots = slots_of(events)
    assert slots["intake_phone"] is None and slots["intake_confirmed"] is None
    assert slots["requested_slot"] == "intake_phone"
    assert slots.get("intake_address", "unchanged") == "unchanged"        # nothing else touched


async def test_correction_with_the_new_value_in_the_same_message():
    events, messages = await run(VALIDATE, says(fixture("complaint_summary.json"),
                                                "地址不对，应该是朝阳区建国路99号", "correct", 0.97))
    slots = slots_of(events)
    assert slots["intake_address"] == "朝阳区建国路99号"
    assert slots["requested_slot"] == "intake_confirmed"                  # the summary again
    assert "已改为：朝阳区建国路99号" in text_of(messages)


async def test_correction_keeps_the_whole_address_with_estate_and_building():
    full = "海淀区学院路30号华清嘉园小区5号楼"
    events, messages = await run(VALIDATE, says(fixture("complaint_summary.json"),
                                                f"地址不对，应该是{full}下", "correct", 0.97))
    assert slots_of(events)["intake_address"].startswith(full)
    assert f"已改为：{full}" in text_of(messages)


async def test_the_longest_address_mention_wins():
    ents = [{"entity": "address", "value": "海淀区学院路30号", "start": 0, "end": 9},
            {"entity": "address", "value": "海淀区学院路30号华清嘉园小区5号楼", "start": 0, "end": 18}]
    events, _ = await run(VALIDATE, says(fixture("complaint_summary.json"), "地址不对，应该是海淀区学院路30号华清嘉园小区5号楼",
                                         "correct", 0.97, entities=ents))
    assert slots_of(events)["intake_address"] == "海淀区学院路30号华清嘉园小区5号楼"


async def test_correction_of_a_name_in_words():
    events, _ = await run(VALIDATE, says(fixture("complaint_summary.json"), "名字写错了，应该是王建华", "correct"))
    assert slots_of(events)["intake_person_name"] == "王建华"


async def test_modify_button_then_picking_a_field():
    state = fixture("complaint_summary.json")
    events, _ = await run(VALIDATE, says(state, "/correct", "correct", 1.0))
    assert slots_of(events)["intake_correcting"] is True
    assert slots_of(events)["requested_slot"] == "intake_confirmed"
    _, messages = await run(AskConfirmation(), after(state, intake_correcting=True))
    assert "要修改哪一项" in text_of(messages)
    assert '/correct{"intake_field": "intake_phone"}' in payloads(messages)
    events, _ = await run(VALIDATE, says(state, '/correct{"intake_field": "intake_phone"}', "correct", 1.0,
                                         entities=[{"entity": "intake_field", "value": "intake_phone"}],
                                         intake_correcting=True))
    assert slots_of(events)["intake_phone"] is None and slots_of(events)["requested_slot"] == "intake_phone"
    events, _ = await run(VALIDATE, says(state, "电话", "inform", intake_correcting=True))
    assert slots_of(events)["intake_phone"] is None and slots_of(events)["requested_slot"] == "intake_phone"


async def test_unclear_answer_at_the_summary_explains_the_buttons():
    events, messages = await run(VALIDATE, says(fixture("complaint_summary.json"), "他们晚上也排污", "complaint", 0.8))
    assert slots_of(events)["intake_confirmed"] is None
    assert payloads(messages) == ["/affirm", "/correct", "/cancel"]


# ------------------------------------------------------------------------------------------------ asking
async def test_privacy_note_precedes_the_first_personal_question_only():
    state = fixture("complaint_asking_phone.json")
    ask_phone = _ASK_ACTIONS["intake_phone"]()
    events, messages = await run(ask_phone, after(state, intake_privacy_noted=None))
    assert "不会对外公开" in text_of(messages) and slots_of(events) == {"intake_privacy_noted": True}
    events, messages = await run(ask_phone, after(state, intake_privacy_noted=True))
    assert "不会对外公开" not in text_of(messages) and "联系电话" in text_of(messages)


async def test_petition_privacy_note_says_why_real_names_are_needed():
    state = fixture("petition_asking_litigation.json")
    _, messages = await run(_ASK_ACTIONS["intake_person_name"](), after(state))
    assert "实名" in text_of(messages)


async def test_yes_no_questions_have_buttons():
    _, messages = await run(_ASK_ACTIONS["intake_litigation"](), after(fixture("petition_asking_litigation.json")))
    assert payloads(messages) == ["/affirm", "/deny"]


async def test_matter_types_are_buttons():
    state = fixture("legal_aid_asking_id.json")
    _, messages = await run(_ASK_ACTIONS["intake_matter_type"](), after(state))
    assert len(payloads(messages)) == 8 and '/inform{"legal_matter_type": "工伤"}' in payloads(messages)


# ------------------------------------------------------------------------------------------------ start, session
async def test_new_request_starts_clean_and_resume_keeps_the_answers():
    state = fixture("complaint_asking_phone.json")
    state["latest_message"] = {"text": "我要申请法律援助", "intent": {"name": "legal_aid", "confidence": 1.0}, "entities": []}
    events, messages = await run(ActionStartIntake(), Tracker.from_dict(state))
    slots = slots_of(events)
    assert slots["intake_type"] == "legal_aid" and slots["intake_description"] is None
    assert "法律援助申请" in text_of(messages)
    state["latest_message"] = {"text": "/resume_intake", "intent": {"name": "resume_intake", "confidence": 1.0},
                               "entities": []}
    events, messages = await run(ActionStartIntake(), Tracker.from_dict(state))
    assert "intake_description" not in slots_of(events) and "接着填写" in text_of(messages)


async def test_new_session_offers_to_continue_a_half_filled_intake():
    state = fixture("complaint_asking_phone.json")
    events, messages = await run(ActionSessionStart(), after(state))
    assert events[0]["event"] == "session_started" and events[-1] == {**events[-1], "event": "action",
                                                                       "name": "action_listen"}
    carried = slots_of(events)
    assert carried["intake_description"] == "小区门口的路灯坏了一个多月没人修"
    assert "requested_slot" not in carried                       # the form is not silently resumed
    assert payloads(messages) == ["/resume_intake", "/restart_intake", "/cancel"]
    assert "问题描述" in text_of(messages)


async def test_new_session_without_unfinished_intake_says_nothing():
    state = fixture("complaint_asking_phone.json")
    events, messages = await run(ActionSessionStart(), after(state, intake_ticket="TS20261123-0001"))
    assert messages == [] and slots_of(events)["intake_ticket"] == "TS20261123-0001"


# ------------------------------------------------------------------------------------------------ submission
async def test_submission_files_one_ticket_and_a_second_click_gets_the_same_number(case_db, caplog):
    caplog.set_level(logging.INFO)
    done = after(fixture("complaint_summary.json"), intake_confirmed=True, requested_slot=None)
    events, messages = await run(ActionFinishIntake(), done)
    number = slots_of(events)["last_ticket_number"]
    assert number.startswith("TS") and f"工单号：{number}" in text_of(messages)
    assert "城市管理局" in text_of(messages) and "个工作日内" in text_of(messages)
    events, messages = await run(ActionFinishIntake(), done)            # double-clicked 提交 / retried action
    assert "您刚才已提交过相同的事项" in text_of(messages) and number in text_of(messages)
    store = await case_db.for_type("complaint")
    tickets = await store.find_by_sender(done.sender_id)
    assert [t.number for t in tickets] == [number]
    ticket = tickets[0]
    assert ticket.fields["phone"] == "13812345678" and ticket.fields["person_name"] == "张伟"
    assert ticket.category == "城乡建设" and ticket.deadlines and ticket.deadlines[0].kind == "resolve"
    assert "13812345678" not in caplog.text and "张伟" not in caplog.text


async def test_replayed_submit_after_the_dedup_window_files_no_second_ticket(case_db):
    """Finding 9: 提交 sent again 10+ minutes after a finished complaint (slots still set, dedup key expired)."""
    import datetime as dt

    from sqlalchemy import update

    from cases.models import submission_keys

    done = after(fixture("complaint_summary.json"), intake_confirmed=True, requested_slot=None)
    events, _ = await run(ActionFinishIntake(), done)
    number = slots_of(events)["last_ticket_number"]
    store = await case_db.for_type("complaint")
    async with store.engine.begin() as conn:          # the dedup window has passed
        await conn.execute(update(submission_keys).values(
            created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=11)))
    replay = after(fixture("complaint_summary.json"), intake_confirmed=True, requested_slot=None,
                   intake_ticket=number, last_ticket_number=number)
    events, messages = await run(ActionFinishIntake(), replay)
    assert [t.number for t in await store.find_by_sender(done.sender_id)] == [number]
    assert number in text_of(messages) and "已提交过相同的事项" in text_of(messages)
    assert slots_of(events).get("intake_description", "kept") is None      # a new one needs new answers


async def test_anonymous_report_gets_a_query_code_and_stores_no_phone(case_db):
    state = fixture("complaint_summary.json")
    done = after(state, intake_anonymous=True, intake_confirmed=True, requested_slot=None)
    events, messages = await run(ActionFinishIntake(), done)
    store = await case_db.for_type("complaint")
    ticket = (await store.find_by_sender(done.sender_id))[0]
    assert ticket.anonymous and ticket.query_code and f"查询码：{ticket.query_code}" in text_of(messages)
    assert "phone" not in ticket.fields and "person_name" not in ticket.fields


async def test_petition_and_legal_aid_get_their_statutory_deadlines(case_db):
    petition_state = fixture("petition_asking_litigation.json")
    done = after(petition_state, intake_litigation=False, intake_agency="某某镇人民政府", intake_raised_before=False,
                 intake_person_name="李秀英", intake_id_number=VALID_ID, intake_phone="13512345678",
                 intake_address="海淀区中关村大街27号", intake_confirmed=True, requested_slot=None)
    _, messages = await run(ActionFinishIntake(), done)
    assert "XF" in text_of(messages) and "15日内" in text_of(messages) and "60日内" in text_of(messages)
    assert "信访局" in text_of(messages)
    legal = after(fixture("legal_aid_asking_id.json"), intake_id_number=VALID_ID, intake_phone="15088886666",
                  intake_confirmed=True, requested_slot=None)
    _, messages = await run(ActionFinishIntake(), legal)
    assert "FY" in text_of(messages) and "7日内" in text_of(messages) and "法律援助中心" in text_of(messages)


async def test_store_down_says_not_submitted_keeps_the_data_and_offers_retry(store_down):
    state = fixture("complaint_summary.json")
    done = after(state, intake_confirmed=True, requested_slot=None)
    events, messages = await run(ActionFinishIntake(), done)
    text = text_of(messages)
    assert "没有**提交成功" in text and "工单号：" not in text and "TS2" not in text
    assert events == []                                                   # every answer stays in the slots
    assert payloads(messages) == ["/affirm"]
