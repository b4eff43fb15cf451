"""Asking for a person: queue the conversation for hotline staff and pause the assistant, or — outside working
hours — take a message (filed as a complaint-type ticket with ``fields.source = "留言"``).

The queue is a table in bianmin's database (``channels.handoff_models``); the web app polls it, so the staff
console shows a new entry within a second. ``ConversationPaused`` keeps Rasa silent until the web app posts
``resume`` (hand back, close, or the resident leaving the queue).
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.intake import channel_of, plan_ticket, today
from channels.handoff import (LEAVE_PAYLOAD, HandoffConfigError, action_store, expected_wait_minutes,
                              format_moment_zh, load_config)

log = logging.getLogger(__name__)

MESSAGE_SLOT = "handoff_message"
MIN_MESSAGE_CHARS = 5
MAX_MESSAGE_CHARS = 2000
#: Which earlier bot response led to the request (the reason staff see in the queue).
REASON_BY_RESPONSE = {"utter_default": "fallback", "utter_offer_handoff": "upset"}
_MEANINGFUL = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z0-9]")

LEAVE_BUTTON = {"title": "返回智能助手", "payload": LEAVE_PAYLOAD}
OFFLINE_BUTTONS = [{"title": "我要留言", "payload": "/leave_message"}, {"title": "不用了", "payload": "/deny"}]
STORE_DOWN = ("抱歉，人工服务排队系统暂时出了故障，这次转人工没有成功，您也没有进入排队。"
              "请稍后再试，或拨打12345政务服务便民热线。")


def handoff_reason(events: List[Dict[str, Any]]) -> str:
    """requested | upset (after we offered a person to an upset resident) | fallback (after we failed twice)."""
    seen_user = False
    for event in reversed(events):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return "requested"     # an earlier turn: the request did not follow our offer
            seen_user = True
        elif kind == "bot" and seen_user:
            return REASON_BY_RESPONSE.get((event.get("metadata") or {}).get("utter_action"), "requested")
    return "requested"


def queued_message(position: int, minutes: Optional[int]) -> str:
    if minutes is None:
        return (f"正在为您转接人工客服，您目前排在第{position}位。现在工作人员暂时都不在线，等待时间可能较长，请耐心等候；"
                "如果不想等了，可以点“返回智能助手”，也可以拨打12345政务服务便民热线。")
    return (f"正在为您转接人工客服，您目前排在第{position}位，预计等待约{minutes}分钟。工作人员接入后会直接在这里回复您，"
            "请不要关闭页面。如果不想等了，可以点“返回智能助手”。")


def offline_message(hours_zh: Optional[str], next_open: Optional[str]) -> str:
    """``hours_zh`` None: there are no working hours at all (BIANMIN_WORKING_HOURS=never)."""
    if hours_zh is None:
        first = "您好，目前暂时没有人工客服可以接入。"
    else:
        when = f"人工服务时间：{hours_zh}" + (f"，最近一次可以接入是{next_open}" if next_open else "")
        first = f"您好，现在是非工作时间，人工客服暂时无法接入（{when}）。"
    return first + "\n您可以现在给我们留言：我会把留言登记成工单并告诉您工单号，工作人员上班后尽快处理。需要留言吗？"


class ActionRequestHandoff(Action):
    def name(self) -> Text:
        return "action_request_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        from bianmin.audit import utcnow

        try:
            config = await load_config()
        except HandoffConfigError as exc:   # a deployment mistake: say so in the log, treat as closed
            log.error("handoff configuration: %s", exc)
            dispatcher.utter_message(text=STORE_DOWN)
            return []
        now = utcnow()
        if not config.hours.is_open(now):
            upcoming = config.hours.next_open(now)
            hours_zh = None if config.hours.mode == "never" else config.hours.describe_zh()
            dispatcher.utter_message(text=offline_message(hours_zh, format_moment_zh(upcoming) if upcoming else None),
                                     buttons=OFFLINE_BUTTONS)
            return [SlotSet(MESSAGE_SLOT, None)]   # a fresh message if they accept
        try:
            store = await action_store()
            session, _ = await store.enqueue(tracker.sender_id, handoff_reason(tracker.events), channel_of(tracker))
            position = await store.position(session)
            online = await store.staff_online()
        except (SQLAlchemyError, OSError, asyncio.TimeoutError) as exc:
            log.warning("handoff queue unavailable: %s", exc.__class__.__name__)
            dispatcher.utter_message(text=STORE_DOWN)
            return []
        if session.status != "queued":     # already with a person (a repeated request): just stay paused
            dispatcher.utter_message(text="工作人员正在为您服务，请直接在这里说明您的问题。")
            return [ConversationPaused()]
        minutes = expected_wait_minutes(position, online, config.avg_minutes)
        dispatcher.utter_message(text=queued_message(position, minutes), buttons=[LEAVE_BUTTON])
        return [ConversationPaused()]


class ValidateHandoffMessageForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_handoff_message_form"

    def validate_handoff_message(self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> Dict[Text, Any]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if intent == "human_handoff":
            dispatcher.utter_message(text="现在是非工作时间，人工客服暂时无法接入。请直接写下您要反映的事情，我来为您登记留言；"
                                          "不想留言的话，回复“不用了”即可。")
            return {MESSAGE_SLOT: None}
        text = str(slot_value or "").strip()
        if len(_MEANINGFUL.findall(text)) < MIN_MESSAGE_CHARS:
            dispatcher.utter_message(text="留言内容有点少，请用文字具体说说是什么事情、在什么地方，方便工作人员处理。")
            return {MESSAGE_SLOT: None}
        return {MESSAGE_SLOT: text[:MAX_MESSAGE_CHARS]}


class ActionSubmitHandoffMessage(Action):
    """File the message as a complaint-type ticket (idempotent: the same message again → the same ticket)."""

    def name(self) -> Text:
        return "action_submit_handoff_message"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        from cases.registry import get_case_stores
        from cases.store import CaseStoreUnavailable, NewTicket, submission_key

        text = str(tracker.get_slot(MESSAGE_SLOT) or "").strip()
        done = [SlotSet(MESSAGE_SLOT, None)]
        if not text:
            dispatcher.utter_message(text="好的，这次没有登记留言。还有其他需要随时告诉我。")
            return done
        fields = {"description": text, "source": "留言", "note": "非工作时间转人工时的留言"}
        try:
            plan = await asyncio.to_thread(plan_ticket, "complaint", fields, today())
            new = NewTicket(type="complaint", sender_id=tracker.sender_id, channel=channel_of(tracker), fields=fields,
                            submission_key=submission_key("complaint", tracker.sender_id, fields),
                            category=plan.category, subcategory=plan.subcategory, department=plan.department,
                            deadlines=plan.deadlines)
            store = await get_case_stores().for_type("complaint")
            result = await store.create(new)
        except CaseStoreUnavailable as exc:
            log.warning("message not stored: %s", exc.__class__.__name__)
            dispatcher.utter_message(
                text="抱歉，系统暂时无法保存，您的留言**没有**登记成功，也没有生成工单号。请稍后点“重新留言”再试，"
                     "或在工作时间拨打12345政务服务便民热线。",
                buttons=[{"title": "重新留言", "payload": "/leave_message"}])
            return done
        ticket = result.ticket
        lines = [f"您的留言已登记，工单号：{ticket.number}。" if result.created
                 else f"这条留言您刚才已经提交过，工单号是 {ticket.number}，不会重复登记。",
                 "工作人员上班后会尽快处理，需要时会联系您。"]
        if ticket.deadlines:
            lines.append(f"接下来：{ticket.deadlines[0].description}。")
        lines.append("发送工单号或“查询进度”可以随时查看办理情况。")
        dispatcher.utter_message(text="\n".join(lines))
        return done
