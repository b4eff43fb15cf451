"""Service enquiries answered from the curated FAQ knowledge, live: an admin's published change answers the
very next message (the index checks the FAQ revision on every query and rebuilds off the event loop).

- ``action_answer_faq`` (intent ``service_enquiry``): confident → the answer with 有帮助/没帮助 buttons;
  unsure → "您是不是想问：" with up to three candidate questions (each answers exactly that entry) and
  "都不是"; nothing close → an apology with 转人工 and the 12345 hotline. Questions it cannot answer are
  recorded for admins. It changes no slots, so it can answer in the middle of an intake form (the form's
  rule runs it and then continues the form); inside a form it shows no feedback buttons.
- ``action_faq_feedback`` (payload ``/faq_feedback{"faq_id": "…", "helpful": true|false}``; without a
  faq_id it means "都不是"): records the rating; "没帮助" also records the question as unanswered.
"""
from __future__ import annotations

import asyncio
import json
import logging
import weakref
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text, TypedDict

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from faq.store import FaqEntry, FaqStore
from knowledge.local_settings import default_settings, render
from faq.retrieval import Hit, LiveIndex, decide

log = logging.getLogger(__name__)

MAX_CANDIDATES = 3
HANDOFF_BUTTON = {"title": "转人工", "payload": "/human_handoff"}
PROMPT = ("请问您想咨询哪方面的事情？可以直接输入您的问题，例如“居住证怎么办理”“公积金怎么提取”"
          "“法律援助怎么申请”。")
STORE_DOWN = "抱歉，办事咨询知识库暂时无法访问，请稍后再试，或拨打{hotline}政务服务便民热线咨询。"
NOT_FOUND = ("抱歉，知识库里暂时没有找到这个问题的答案。我已经记下您的问题，工作人员会尽快补充。"
             "您可以换个说法再问，也可以转人工服务，或拨打{hotline}政务服务便民热线咨询。")
RETIRED = "抱歉，这条办事指南已经下线或暂不适用。您可以换个说法再问，或拨打{hotline}政务服务便民热线咨询。"
THANKS = "感谢您的反馈！还有其他问题可以继续问我。"
SORRY = ("抱歉没能帮到您，我已经把您的问题记下来交给工作人员完善。您可以换个说法再问，"
         "也可以转人工服务，或拨打{hotline}政务服务便民热线咨询。")
NONE_OF_THESE = ("好的，我已经记下您的问题，工作人员会尽快补充答案。您可以换个说法再问，"
                 "也可以转人工服务，或拨打{hotline}政务服务便民热线咨询。")


class FeedbackPayload(TypedDict, total=False):
    faq_id: str
    helpful: bool


@dataclass
class FaqService:
    """The FAQ store and the live index of one event loop (one per action-server process)."""
    url: str
    store: FaqStore
    live: LiveIndex

    async def close(self) -> None:
        await self.store.engine.dispose()


_services: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FaqService]" = weakref.WeakKeyDictionary()
_init_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


async def faq_service() -> FaqService:
    """The service of the running loop: engine, schema, first-run seed of the starter set, live index."""
    from bianmin.db import create_schema, make_engine
    from bianmin.settings import Settings

    url = Settings.from_env().database_url
    loop = asyncio.get_running_loop()
    found = _services.get(loop)
    if found is not None and found.url == url:
        return found
    lock = _init_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        found = _services.get(loop)
        if found is not None and found.url == url:
            return found
        engine = make_engine(url)
        try:
            for attempt in range(3):     # the web app may be creating the schema at the same moment
                try:
                    await create_schema(engine)
                    break
                except (SQLAlchemyError, OSError):
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.2)
            store = FaqStore(engine)
            await store.seed_if_empty()
        except BaseException:
            await engine.dispose()
            raise
        if found is not None:
            await found.close()
        service = FaqService(url, store, LiveIndex(store))
        _services[loop] = service
        return service


async def close_faq_service() -> None:
    found = _services.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


async def warm_up() -> None:
    """Seed the starter set (first run) and build the index before the first question arrives."""
    try:
        await asyncio.to_thread(default_settings().values)   # read the local settings file off the loop
        await (await faq_service()).live.current()
    except Exception:   # noqa: BLE001 - the first question retries; the action server must stay up
        log.exception("FAQ warm-up failed")
    try:   # the routing classifier: trained on first use (seconds) unless cached under $BIANMIN_VAR
        from knowledge.routing_model import default_model

        await asyncio.to_thread(default_model)
    except Exception:   # noqa: BLE001 - the first complaint ticket retries it
        log.exception("routing model warm-up failed")


def _attach_to_action_server() -> None:
    """When loaded by the rasa-sdk action server, warm up right after it starts listening (in the
    background: health checks and other actions are served meanwhile)."""
    try:
        from sanic import Sanic

        app = Sanic.get_app("rasa_sdk")
    except Exception:   # noqa: BLE001 - not inside the action server (tests, CLI)
        return

    async def start_warm_up(_app: Any, _loop: Any = None) -> None:
        asyncio.get_running_loop().create_task(warm_up())

    async def close(_app: Any, _loop: Any = None) -> None:
        await close_faq_service()   # pooled DB connections would keep the process alive after SIGTERM

    app.register_listener(start_warm_up, "after_server_start")
    app.register_listener(close, "after_server_stop")


_attach_to_action_server()


# ------------------------------------------------------------------------------------------- helpers
def _is_payload(text: Optional[str]) -> bool:
    return bool(text) and text.lstrip().startswith("/")


def resident_question(tracker: Tracker) -> Optional[str]:
    """What the resident asked. A bare ``/service_enquiry`` (a menu button, or "咨询办事流程" in the
    two-stage fallback) carries no question: then the message the fallback was unsure about is used."""
    text = (tracker.latest_message or {}).get("text") or ""
    if text.strip() and not _is_payload(text):
        return text.strip()
    for event in reversed(tracker.events[-30:]):
        if event.get("event") != "user":
            continue
        earlier = (event.get("text") or "").strip()
        if not earlier or _is_payload(earlier):
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        return earlier if intent == "nlu_fallback" else None
    return None


def last_resident_text(tracker: Tracker) -> Optional[str]:
    """The latest message the resident typed (buttons skipped)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            text = (event.get("text") or "").strip()
            if text and not _is_payload(text):
                return text
    return None


def _payload(intent: str, data: Dict[str, Any]) -> str:
    return f"/{intent}" + json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def feedback_buttons(faq_id: str) -> List[Dict[str, str]]:
    return [{"title": "有帮助", "payload": _payload("faq_feedback", {"faq_id": faq_id, "helpful": True})},
            {"title": "没帮助", "payload": _payload("faq_feedback", {"faq_id": faq_id, "helpful": False})}]


def answer_text(entry: FaqEntry) -> str:
    return f"【{entry.question}】\n{render(entry.answer)}"


def asked_before(tracker: Tracker, payload: str) -> Optional[str]:
    """The question a feedback button belongs to: the last typed message before the bot message that
    carried ``payload`` (so rating an older answer records the right question)."""
    events = tracker.events
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        buttons = (event.get("data") or {}).get("buttons") or [] if event.get("event") == "bot" else []
        if any(isinstance(b, dict) and b.get("payload") == payload for b in buttons):
            for earlier in reversed(events[:i]):
                text = (earlier.get("text") or "").strip() if earlier.get("event") == "user" else ""
                if text and not _is_payload(text):
                    return text
            break
    return last_resident_text(tracker)


async def record_fallback_question(tracker: Tracker) -> None:
    """Called when the two-stage fallback gives up: the resident's last message becomes an unanswered
    question for admins. Never raises (the fallback reply matters more than the record)."""
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    if intent not in ("nlu_fallback", "out_of_scope"):
        return    # a dialogue-policy fallback, not a question the assistant failed to understand
    question = last_resident_text(tracker)
    if not question:
        return
    try:
        service = await faq_service()
        await service.store.record_unanswered(question, tracker.sender_id, "fallback")
    except Exception:   # noqa: BLE001 - best effort; logged without the resident's text
        log.exception("could not record an unanswered question")


# ------------------------------------------------------------------------------------------- actions
class ActionAnswerFaq(Action):
    def name(self) -> Text:
        return "action_answer_faq"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        in_form = bool(tracker.active_loop_name)
        hotline = render("{hotline}")
        try:
            service = await faq_service()
        except Exception:   # noqa: BLE001
            log.exception("FAQ store unavailable")
            dispatcher.utter_message(text=STORE_DOWN.format(hotline=hotline))
            return []
        try:
            chosen = next(tracker.get_latest_entity_values("faq_id"), None)
            if chosen:
                await self._answer_chosen(dispatcher, service, str(chosen), in_form, hotline)
                return []
            question = resident_question(tracker)
            if not question:
                dispatcher.utter_message(text=PROMPT)
                return []
            hits = await service.live.search(question, k=MAX_CANDIDATES)
            await self._respond(dispatcher, tracker, service, question, hits, in_form, hotline)
        except Exception:   # noqa: BLE001 - the resident gets a polite reply, never silence
            log.exception("FAQ lookup failed")
            dispatcher.utter_message(text=STORE_DOWN.format(hotline=hotline))
        return []

    async def _answer_chosen(self, dispatcher: CollectingDispatcher, service: FaqService, faq_id: str,
                             in_form: bool, hotline: str) -> None:
        entry = await service.store.find(faq_id)
        if entry is None or not entry.is_live():
            dispatcher.utter_message(text=RETIRED.format(hotline=hotline))
            return
        dispatcher.utter_message(text=answer_text(entry), buttons=[] if in_form else feedback_buttons(entry.id))

    async def _respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, service: FaqService,
                       question: str, hits: List[Hit], in_form: bool, hotline: str) -> None:
        decision = decide(hits, max_candidates=MAX_CANDIDATES)
        best = decision.best
        if decision.kind == "answer" and best is not None:
            entry = await service.store.find(best.faq_id)
            if entry is not None and entry.is_live():
                dispatcher.utter_message(text=answer_text(entry),
                                         buttons=[] if in_form else feedback_buttons(entry.id))
                return
        await service.store.record_unanswered(question, tracker.sender_id, "low_confidence",
                                              best.faq_id if best else None, best.confidence if best else None)
        if decision.candidates:
            buttons = [{"title": h.question, "payload": _payload("service_enquiry", {"faq_id": h.faq_id})}
                       for h in decision.candidates]
            if not in_form:
                buttons.append({"title": "都不是", "payload": _payload("faq_feedback", {"helpful": False})})
            dispatcher.utter_message(text="您是不是想问：", buttons=buttons)
            return
        dispatcher.utter_message(text=NOT_FOUND.format(hotline=hotline), buttons=[] if in_form else [HANDOFF_BUTTON])


class ActionFaqFeedback(Action):
    def name(self) -> Text:
        return "action_faq_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        hotline = render("{hotline}")
        entities = {e.get("entity"): e.get("value") for e in (tracker.latest_message or {}).get("entities") or []}
        payload: FeedbackPayload = {}
        if entities.get("faq_id"):
            payload["faq_id"] = str(entities["faq_id"])
        helpful_raw = entities.get("helpful")
        payload["helpful"] = helpful_raw is True or str(helpful_raw).lower() in ("true", "1", "yes")
        try:
            service = await faq_service()
            if "faq_id" in payload:
                button = _payload("faq_feedback", {"faq_id": payload["faq_id"], "helpful": payload["helpful"]})
                question = asked_before(tracker, button) or ""
                await service.store.record_feedback(payload["faq_id"], payload["helpful"], question,
                                                    tracker.sender_id)
            else:   # "都不是": none of the offered questions
                question = last_resident_text(tracker)
                if question:
                    await service.store.record_unanswered(question, tracker.sender_id, "none_of_these")
        except Exception:   # noqa: BLE001 - the resident still gets a reply; the failure is logged
            log.exception("could not record FAQ feedback")
        if payload["helpful"]:
            dispatcher.utter_message(text=THANKS)
        elif "faq_id" in payload:
            dispatcher.utter_message(text=SORRY.format(hotline=hotline), buttons=[HANDOFF_BUTTON])
        else:
            dispatcher.utter_message(text=NONE_OF_THESE.format(hotline=hotline), buttons=[HANDOFF_BUTTON])
        return []
