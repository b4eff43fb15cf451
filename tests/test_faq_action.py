"""action_answer_faq / action_faq_feedback on tracker JSON fixtures, against a real SQLite database seeded with
the starter set: confident answers, "您是不是想问", nothing found, feedback, forms, the fallback's record,
and an admin edit answered by the very next call (no restart)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import ActionDefaultFallback
from actions.faq import ActionAnswerFaq, ActionFaqFeedback, close_faq_service, faq_service

FIXTURES = Path(__file__).parent / "fixtures"


def tracker(name: str, **changes: Any) -> Tracker:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    if "text" in changes:
        text = changes.pop("text")
        data["latest_message"]["text"] = text
        data["events"][-1]["text"] = text
    data.update(changes)
    return Tracker.from_dict(data)


@pytest.fixture
async def service(tmp_path, monkeypatch):
    monkeypatch.setenv("BIANMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bianmin.db'}")
    monkeypatch.delenv("BIANMIN_FAQ_THRESHOLD", raising=False)
    svc = await faq_service()
    yield svc
    await close_faq_service()


async def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


async def test_confident_answer_with_feedback_buttons(service):
    messages, events = await run(ActionAnswerFaq(), tracker("faq_question.json"))
    assert events == []                                     # no slot changes: safe inside forms too
    assert len(messages) == 1
    text, buttons = messages[0]["text"], messages[0]["buttons"]
    assert text.startswith("【身份证丢了怎么办？】")
    assert "{" not in text                                   # placeholders rendered from local settings
    assert [b["title"] for b in buttons] == ["有帮助", "没帮助"]
    assert json.loads(buttons[0]["payload"][len("/faq_feedback"):]) == {"faq_id": "shenfenzheng-lost", "helpful": True}
    assert (await service.store.list_unanswered())[1] == 0


async def test_unsure_offers_candidates_and_records_the_question(service):
    messages, _ = await run(ActionAnswerFaq(), tracker("faq_vague.json"))
    assert messages[0]["text"] == "您是不是想问："
    buttons = messages[0]["buttons"]
    assert 2 <= len(buttons) <= 4 and buttons[-1]["title"] == "都不是"
    for b in buttons[:-1]:
        assert b["payload"].startswith('/service_enquiry{"faq_id":')
        assert (await service.store.get(json.loads(b["payload"][len("/service_enquiry"):])["faq_id"])).question == b["title"]
    rows, total = await service.store.list_unanswered()
    assert total == 1 and rows[0]["question"] == "公积金的事想问问" and rows[0]["reason"] == "low_confidence"
    assert rows[0]["last_sender"] == "web-****5555"


async def test_nothing_close_apologises_and_offers_a_person(service):
    messages, _ = await run(ActionAnswerFaq(), tracker("faq_no_match.json"))
    assert "没有找到" in messages[0]["text"] and "12345" in messages[0]["text"]
    assert messages[0]["buttons"] == [{"title": "转人工", "payload": "/human_handoff"}]
    assert (await service.store.list_unanswered())[0][0]["question"] == "火星上能种土豆吗"


async def test_candidate_button_answers_exactly_that_entry(service):
    messages, _ = await run(ActionAnswerFaq(), tracker("faq_candidate_click.json"))
    assert messages[0]["text"].startswith("【怎么查公积金余额？】")
    # an entry that was unpublished in the meantime is not served
    await service.store.unpublish("gjj-query", "admin")
    messages, _ = await run(ActionAnswerFaq(), tracker("faq_candidate_click.json"))
    assert "下线" in messages[0]["text"]


async def test_unhelpful_feedback_records_rating_and_the_question(service):
    messages, events = await run(ActionFaqFeedback(), tracker("faq_feedback_unhelpful.json"))
    assert events == [] and "抱歉没能帮到您" in messages[0]["text"]
    assert messages[0]["buttons"] == [{"title": "转人工", "payload": "/human_handoff"}]
    assert await service.store.feedback_counts("juzhuzheng-apply") == {"helpful": 0, "not_helpful": 1}
    summary = await service.store.feedback_summary()
    assert summary[0]["recent_unhelpful_questions"] == ["居住证怎么办理"]   # the question the answer was for
    rows, _ = await service.store.list_unanswered()
    assert rows[0]["reason"] == "not_helpful" and rows[0]["best_faq_id"] == "juzhuzheng-apply"


async def test_helpful_feedback_thanks(service):
    messages, _ = await run(ActionFaqFeedback(), tracker("faq_feedback_helpful.json"))
    assert messages[0]["text"].startswith("感谢您的反馈")
    assert await service.store.feedback_counts("juzhuzheng-apply") == {"helpful": 1, "not_helpful": 0}
    assert (await service.store.list_unanswered())[1] == 0


async def test_none_of_these_records_the_question(service):
    messages, _ = await run(ActionFaqFeedback(), tracker("faq_none_of_these.json"))
    assert "记下您的问题" in messages[0]["text"]
    rows, _ = await service.store.list_unanswered()
    assert rows[0]["question"] == "公积金的事想问问" and rows[0]["reason"] == "none_of_these"


async def test_inside_a_form_answers_without_buttons_or_events(service):
    messages, events = await run(ActionAnswerFaq(), tracker("faq_in_form.json"))
    assert events == []
    assert messages[0]["text"].startswith("【身份证丢了怎么办？】") and messages[0]["buttons"] == []


async def test_menu_button_asks_what_to_ask(service):
    messages, _ = await run(ActionAnswerFaq(), tracker("faq_menu_button.json"))
    assert messages[0]["text"].startswith("请问您想咨询哪方面的事情")


async def test_after_the_fallback_the_original_message_is_answered(service):
    messages, _ = await run(ActionAnswerFaq(), tracker("faq_after_fallback.json"))
    assert messages[0]["text"] in ("您是不是想问：",) or messages[0]["text"].startswith("【")
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert any("低保" in t for t in titles) or "低保" in messages[0]["text"]


async def test_fallback_giving_up_records_the_question(service):
    dispatcher = CollectingDispatcher()
    events = await ActionDefaultFallback().run(dispatcher, tracker("faq_fallback_gave_up.json"), {})
    assert dispatcher.messages[0]["response"] == "utter_default" and events[0]["event"] == "rewind"
    rows, _ = await service.store.list_unanswered()
    assert rows[0]["question"] == "就是那个东西啊" and rows[0]["reason"] == "fallback"


async def test_an_admin_edit_is_answered_by_the_very_next_call(service):
    question = "社区老年食堂几点开饭？"
    t = tracker("faq_question.json", text=question)
    before, _ = await run(ActionAnswerFaq(), t)
    assert not before[0]["text"].startswith("【社区老年食堂")
    rebuilds = service.live.rebuilds

    entry = await service.store.create({"question": question, "similar": ["老年食堂什么时候吃饭"],
                                        "answer": "社区老年食堂每天11:30开饭。", "status": "published"}, "admin")
    after, _ = await run(ActionAnswerFaq(), t)
    assert after[0]["text"] == "【社区老年食堂几点开饭？】\n社区老年食堂每天11:30开饭。"
    assert service.live.rebuilds == rebuilds + 1

    await service.store.update(entry.id, {"answer": "改为每天11:00开饭。"}, "admin")
    edited, _ = await run(ActionAnswerFaq(), t)
    assert edited[0]["text"].endswith("改为每天11:00开饭。")

    again, _ = await run(ActionAnswerFaq(), t)              # no change: no rebuild
    assert service.live.rebuilds == rebuilds + 2

    await service.store.unpublish(entry.id, "admin")
    gone, _ = await run(ActionAnswerFaq(), t)
    assert not gone[0]["text"].startswith("【社区老年食堂")


async def test_threshold_is_configurable(service, monkeypatch):
    monkeypatch.setenv("BIANMIN_FAQ_THRESHOLD", "0.99")
    messages, _ = await run(ActionAnswerFaq(), tracker("faq_question.json"))
    assert messages[0]["text"] == "您是不是想问："
    assert "身份证丢了怎么办？" in [b["title"] for b in messages[0]["buttons"]]


async def test_an_unreachable_store_gets_a_polite_reply(tmp_path, monkeypatch):
    monkeypatch.setenv("BIANMIN_DATABASE_URL", "sqlite+aiosqlite:////proc/no-such-dir/bianmin.db")
    messages, events = await run(ActionAnswerFaq(), tracker("faq_question.json"))
    assert events == [] and "暂时无法访问" in messages[0]["text"] and "12345" in messages[0]["text"]
    messages, _ = await run(ActionFaqFeedback(), tracker("faq_feedback_helpful.json"))
    assert messages[0]["text"].startswith("感谢您的反馈")      # the rating is lost, the resident is not
