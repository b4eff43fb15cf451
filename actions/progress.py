"""Progress feedback (查询进度) and rating (评价).

``progress_form`` decides what it still needs: nothing for a ticket filed in this conversation (or "我的工单"
when this conversation has tickets); otherwise proof that the resident is the one who filed it — the phone
(complaints), the phone and the last four characters of the ID number (petitions, legal aid, or no number
given), or the query code of an anonymous report. ``action_show_progress`` then answers: status, department,
deadline and the ticket's history, and offers 1–5 ★ once the ticket is 已办结/已回访 and not yet rated.

A wrong combination gets the same neutral "没有查到" whether or not the phone exists.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.intake import DIGRESSION_CONFIDENCE, REQUESTED_SLOT, Turn, is_fresh_turn, wants_cancel
from bot.components.normalizers import (ID_CANDIDATE, LANDLINE, MOBILE, TICKET_ID, normalize_for_matching,
                                        normalize_phone, normalize_ticket_id)
from cases.store import (RATEABLE, TYPE_BY_PREFIX, TYPE_NAMES_ZH, CaseStoreUnavailable, InvalidRating, Status,
                         Ticket, TicketNotFound)

log = logging.getLogger(__name__)

FORM = "progress_form"
TICKET_SLOT = "progress_ticket"          # the number asked about (None: "我的工单")
CREDENTIALS_SLOT = "progress_credentials"   # "given" once phone (+ID last 4) or a query code is known
PHONE_SLOT = "progress_phone"
LAST4_SLOT = "progress_id_last4"
CODE_SLOT = "progress_query_code"
NEED_SLOT = "progress_need"              # what proof is asked for: phone | phone_id
STOP_SLOT = "progress_stop"              # cancelled | gave_up
ATTEMPTS_SLOT = "progress_attempts"
VERIFIED_SLOT = "progress_verified"      # numbers this conversation has proven it may see (and rate)
RATE_SLOT = "progress_rate_ticket"       # the ticket last offered for rating (typed ratings: "五星")
REPROMPTED_SLOT = "progress_reprompted"  # the validator already asked again, with the reason
TRANSIENT_SLOTS = (TICKET_SLOT, CREDENTIALS_SLOT, PHONE_SLOT, LAST4_SLOT, CODE_SLOT, NEED_SLOT, STOP_SLOT,
                   ATTEMPTS_SLOT, REPROMPTED_SLOT)
MAX_ATTEMPTS = 2
LIST_LIMIT = 5
CONTACT_LIMIT = 50

QUERY_CODE = re.compile(r"(?<![A-Za-z0-9])([A-HJ-NP-Za-hj-np-z2-9]{6})(?![A-Za-z0-9])")   # cases.sql_store alphabet
#: Not an answer to "手机号和身份证后四位": another request, a greeting... (general rules answer it)
DIGRESSION_INTENTS = frozenset({"complaint", "petition", "legal_aid", "service_enquiry", "human_handoff", "greet",
                                "goodbye", "thanks", "out_of_scope", "bad_input"})
LAST4 = re.compile(r"(?<![0-9A-Za-z])(\d{3}[\dXx])(?![0-9A-Za-z])")
STARS = "★★★★★"
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}

NOT_FOUND_NEUTRAL = "没有查到与您提供的信息相符的工单，请核对后再试；也可以拨打12345热线查询。"
UNAVAILABLE = "抱歉，系统暂时无法查询工单，请稍后再试。"
PRIVACY = "为保护您的隐私，"


def _stores() -> Any:
    from cases.registry import get_case_stores

    return get_case_stores()


def verified(tracker: Tracker) -> list[str]:
    value = tracker.get_slot(VERIFIED_SLOT)
    return list(value) if isinstance(value, list) else []


def needs_id(number: Optional[str]) -> bool:
    """Petitions and legal aid are checked with phone + ID last 4; so is a lookup without a number."""
    return number is None or TYPE_BY_PREFIX.get(number[:2]) != "complaint"


async def _get(number: str) -> Optional[Ticket]:
    try:
        store = await _stores().for_number(number)
    except TicketNotFound:
        return None
    return await store.get(number)


async def _gather(call: Any) -> list[Ticket]:
    """Run ``call(store)`` on every configured store; each store's own types only, newest first, no duplicates.
    Raises CaseStoreUnavailable only when no store answered."""
    stores = _stores()
    all_stores = await stores.all()
    results = await asyncio.gather(*(call(s) for s in all_stores), return_exceptions=True)
    tickets: dict[str, Ticket] = {}
    failures = 0
    for store, result in zip(all_stores, results):
        if isinstance(result, CaseStoreUnavailable):
            failures += 1
            continue
        if isinstance(result, BaseException):
            raise result
        types = set(stores.types_of(store)) or None
        for t in result:
            if types is None or t.type in types:
                tickets.setdefault(t.number, t)
    if failures and failures == len(all_stores):
        raise CaseStoreUnavailable("no case store answered")
    return sorted(tickets.values(), key=lambda t: t.created_at, reverse=True)


async def tickets_of_sender(sender_id: str) -> list[Ticket]:
    return (await _gather(lambda s: s.find_by_sender(sender_id, limit=LIST_LIMIT)))[:LIST_LIMIT]


async def tickets_by_contact(phone: Optional[str], last4: Optional[str], code: Optional[str]) -> list[Ticket]:
    if code:
        return await _gather(lambda s: s.find_by_contact(query_code=code, limit=CONTACT_LIMIT))
    if not phone:
        return []
    return await _gather(lambda s: s.find_by_contact(phone=phone, id_last4=last4, limit=CONTACT_LIMIT))


# ------------------------------------------------------------------------------------------------ the form
class ValidateProgressForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_progress_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> List[Text]:
        if tracker.get_slot(STOP_SLOT) or tracker.get_slot(CREDENTIALS_SLOT):
            return []
        number = tracker.get_slot(TICKET_SLOT)
        try:
            if number:
                if number in verified(tracker):
                    return []
                ticket = await _get(number)
                if ticket is None or ticket.sender_id == tracker.sender_id:
                    return []
            elif await tickets_of_sender(tracker.sender_id):
                return []
        except CaseStoreUnavailable:
            return []          # action_show_progress tells the resident
        return [CREDENTIALS_SLOT]

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events = self.interpret(dispatcher, tracker) if is_fresh_turn(tracker, FORM) else []
        if events is None:
            return []
        tracker.add_slots(events)
        required = await self.required_slots([], dispatcher, tracker, domain)
        next_slot = next((s for s in required if tracker.slots.get(s) is None), None)
        if next_slot == CREDENTIALS_SLOT:
            events.append(SlotSet(NEED_SLOT, "phone_id" if needs_id(tracker.get_slot(TICKET_SLOT)) else "phone"))
        return events + [SlotSet(REQUESTED_SLOT, next_slot)]

    def interpret(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List[EventType]]:
        """Ticket number and proof of identity from the message; None for a digression (the form is rejected,
        the general rule for that intent answers, and the form asks again)."""
        turn = Turn.of(tracker)
        asked = tracker.get_slot(REQUESTED_SLOT) == CREDENTIALS_SLOT and tracker.active_loop.get("name") == FORM
        if asked and wants_cancel(turn):
            return [SlotSet(STOP_SLOT, "cancelled")]
        creds = read_credentials(turn)
        if asked and not any(creds) and is_digression(turn):
            return None
        number, phone, last4, code = creds
        events: List[EventType] = []
        if number:
            events.append(SlotSet(TICKET_SLOT, number))
        phone = phone or tracker.get_slot(PHONE_SLOT)
        last4 = last4 or tracker.get_slot(LAST4_SLOT)
        if phone:
            events.append(SlotSet(PHONE_SLOT, phone))
        if last4:
            events.append(SlotSet(LAST4_SLOT, last4))
        if code:
            events.append(SlotSet(CODE_SLOT, code))
        number_now = number or tracker.get_slot(TICKET_SLOT)
        if code or (phone and (last4 or not needs_id(number_now))):
            return events + [SlotSet(CREDENTIALS_SLOT, "given")]
        if not asked or number:
            return events
        attempts = int(tracker.get_slot(ATTEMPTS_SLOT) or 0) + 1
        if attempts > MAX_ATTEMPTS:
            return events + [SlotSet(STOP_SLOT, "gave_up")]
        if phone and not last4:
            dispatcher.utter_message(text="还需要身份证号的后四位（最后一位可能是X），例如：1234。")
        else:
            dispatcher.utter_message(text="没能识别您提供的信息。请发送手机号和身份证号后四位，例如：13812345678 1234；"
                                          "匿名举报请发送6位查询码。不查了可以说“取消”。")
        return events + [SlotSet(ATTEMPTS_SLOT, float(attempts)), SlotSet(CREDENTIALS_SLOT, None),
                         SlotSet(REPROMPTED_SLOT, True)]


def read_credentials(turn: Turn) -> tuple[Optional[str], Optional[str], Optional[str], Optional[str]]:
    """(ticket number, phone, ID last 4, query code) found in the message."""
    number = turn.entity("ticket_id")
    phone = turn.entity("phone")
    id_number = turn.entity("id_number") or turn.entity("id_number_invalid")
    if turn.payload:
        return number, phone, id_number[-4:] if id_number else None, None
    norm = normalize_for_matching(turn.text)
    number = number or normalize_ticket_id(norm)
    phone = phone or normalize_phone(norm)
    rest = ID_CANDIDATE.sub(" ", TICKET_ID.sub(" ", norm))
    rest = LANDLINE.sub(" ", MOBILE.sub(" ", rest))
    last4 = id_number[-4:].upper() if id_number else None
    if last4 is None:
        m = LAST4.search(rest)
        last4 = m.group(1).upper() if m else None
    code = None
    if not phone:
        m = QUERY_CODE.search(rest)
        code = m.group(1).upper() if m else None
    return number, phone, last4, code


def is_digression(turn: Turn) -> bool:
    return turn.intent in DIGRESSION_INTENTS and (turn.payload or turn.confidence >= DIGRESSION_CONFIDENCE)


class AskProgressCredentials(Action):
    def name(self) -> Text:
        return f"action_ask_{CREDENTIALS_SLOT}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot(REPROMPTED_SLOT):
            return [SlotSet(REPROMPTED_SLOT, None)]
        number = tracker.get_slot(TICKET_SLOT)
        if number and tracker.get_slot(NEED_SLOT) == "phone":
            text = (f"{PRIVACY}查看工单 {number} 需要核实身份：请发送提交时留的手机号；匿名举报请发送查询码。"
                    "（只用于这次核实，不会另作他用。）")
        elif number:
            text = (f"{PRIVACY}查看工单 {number} 需要核实身份：请发送提交时留的手机号和身份证号后四位，"
                    "例如：13812345678 1234。（只用于这次核实，不会另作他用。）")
        else:
            text = ("没有查到您在本次对话中提交的工单。如果是通过电话或其他渠道提交的，请发送提交时留的手机号和身份证号后四位"
                    "（例如：13812345678 1234），匿名举报请发送查询码；投诉也可以直接发送工单号查询。")
        dispatcher.utter_message(text=text)
        return []


# ------------------------------------------------------------------------------------------------ answering
def _local(value: Any) -> Any:
    from cases.numbering import local_zone

    return value.astimezone(local_zone())


def ticket_details(ticket: Ticket) -> str:
    lines = [f"工单 {ticket.number}（{TYPE_NAMES_ZH.get(ticket.type, ticket.type)}）",
             f"当前状态：{ticket.status.value}"]
    kind = " · ".join(p for p in (ticket.category, ticket.subcategory) if p)
    if ticket.department:
        lines.append(f"承办部门：{ticket.department}" + (f"（{kind}）" if kind and ticket.type == "complaint" else ""))
    if ticket.status not in (Status.RESOLVED, Status.REJECTED, Status.VISITED):
        for d in ticket.deadlines:
            lines.append(f"办理时限：{d.description}")
    created = _local(ticket.created_at)
    lines.append(f"提交时间：{created.year}年{created.month}月{created.day}日")
    history = [e for e in ticket.events if e.status or e.note]
    if history:
        lines.append("办理记录：")
        for e in history[-8:]:
            at = _local(e.at)
            what = e.status or "备注"
            note = f"：{e.note}" if e.note else ""
            lines.append(f"· {at.month}月{at.day}日 {at:%H:%M} {what}{note}")
    if ticket.rating:
        lines.append(f"您的评价：{STARS[:ticket.rating]}")
    return "\n".join(lines)


def rating_buttons(number: str) -> list[dict[str, str]]:
    return [{"title": STARS[:n], "payload": "/rate" + json.dumps({"ticket_number": number, "rating": n})}
            for n in range(1, 6)]


def ticket_list(tickets: list[Ticket]) -> tuple[str, list[dict[str, str]]]:
    lines = ["您最近的工单："]
    buttons = []
    for i, t in enumerate(tickets, 1):
        created = _local(t.created_at)
        lines.append(f"{i}. {t.number} {TYPE_NAMES_ZH.get(t.type, t.type)} · {t.status.value} · "
                     f"{created.month}月{created.day}日提交")
        buttons.append({"title": f"查看 {t.number}", "payload": "/progress_query" + json.dumps({"ticket_id": t.number})})
    lines.append("点击可以查看详细进度。")
    return "\n".join(lines), buttons


class ActionShowProgress(Action):
    """After ``progress_form``: one ticket's progress, or the list of the resident's tickets."""

    def name(self) -> Text:
        return "action_show_progress"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        clear = [SlotSet(s, None) for s in TRANSIENT_SLOTS]
        stop = tracker.get_slot(STOP_SLOT)
        if stop == "cancelled":
            dispatcher.utter_message(text="好的，不查了。还有其他需要随时告诉我。")
            return clear
        if stop == "gave_up":
            dispatcher.utter_message(text="还是没能识别您提供的信息。您可以稍后发送工单号再查，或拨打12345热线查询。")
            return clear
        try:
            events = await self._answer(dispatcher, tracker)
        except CaseStoreUnavailable:
            dispatcher.utter_message(text=UNAVAILABLE)
            return clear
        return clear + events

    async def _answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
        number = tracker.get_slot(TICKET_SLOT)
        known = verified(tracker)
        given = tracker.get_slot(CREDENTIALS_SLOT) == "given"
        phone, last4, code = (tracker.get_slot(PHONE_SLOT), tracker.get_slot(LAST4_SLOT),
                              tracker.get_slot(CODE_SLOT))
        if number:
            ticket = await _get(number)
            if ticket is None:
                dispatcher.utter_message(text=f"没有查到工单 {number}，请核对工单号是否正确（格式如 TS20261123-0007）。")
                return []
            allowed = ticket.sender_id == tracker.sender_id or number in known
            if not allowed and given:
                found = await tickets_by_contact(phone, last4 if needs_id(number) else None, code)
                allowed = any(t.number == ticket.number for t in found)
            if not allowed:
                dispatcher.utter_message(text=NOT_FOUND_NEUTRAL)
                return []
            return self._show(dispatcher, tracker, ticket, known)
        if given:
            tickets = await tickets_by_contact(phone, last4, code)
            if not tickets:
                dispatcher.utter_message(text=NOT_FOUND_NEUTRAL)
                return []
        else:
            tickets = await tickets_of_sender(tracker.sender_id)
            if not tickets:
                dispatcher.utter_message(text="您在本次对话中还没有提交过工单。")
                return []
        tickets = tickets[:LIST_LIMIT]
        if len(tickets) == 1:
            return self._show(dispatcher, tracker, tickets[0], known)
        text, buttons = ticket_list(tickets)
        dispatcher.utter_message(text=text, buttons=buttons)
        mine = [t.number for t in tickets if t.sender_id != tracker.sender_id and t.number not in known]
        return [SlotSet(VERIFIED_SLOT, known + mine)] if mine else []

    @staticmethod
    def _show(dispatcher: CollectingDispatcher, tracker: Tracker, ticket: Ticket, known: list[str]) -> List[EventType]:
        events: List[EventType] = []
        if ticket.sender_id != tracker.sender_id and ticket.number not in known:
            events.append(SlotSet(VERIFIED_SLOT, known + [ticket.number]))
        dispatcher.utter_message(text=ticket_details(ticket))
        if ticket.status in RATEABLE and ticket.rating is None:
            dispatcher.utter_message(text="这件事已经办结，请您对办理结果打个分（1到5星）：",
                                     buttons=rating_buttons(ticket.number))
            events.append(SlotSet(RATE_SLOT, ticket.number))
        return events


# ------------------------------------------------------------------------------------------------ rating
def parse_rating(turn: Turn) -> Optional[int]:
    """From the button's entity, or typed: "5星", "打四分", "★★★★"."""
    value = turn.entity("rating")
    if value is not None:
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return -1
    if turn.payload:
        return None
    if "★" in turn.text:
        return turn.text.count("★")
    m = re.search(r"([0-9一二两三四五六七八九十]+)\s*(?:颗)?\s*(?:星|分)", turn.text) or re.search(r"^\s*(\d+)\s*$", turn.text)
    if not m:
        return None
    raw = m.group(1)
    return _CN_DIGITS.get(raw, int(raw) if raw.isdigit() else -1)


class ActionRateTicket(Action):
    def name(self) -> Text:
        return "action_rate_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        turn = Turn.of(tracker)
        number = turn.entity("ticket_number") or turn.entity("ticket_id") or tracker.get_slot(RATE_SLOT)
        number = normalize_ticket_id(str(number)) if number else None
        score = parse_rating(turn)
        if not number:
            dispatcher.utter_message(text="请先发送要评价的工单号查询进度，办结的工单会请您打分。")
            return []
        if score is None or not 1 <= score <= 5:
            dispatcher.utter_message(text="评分请选择1到5星：", buttons=rating_buttons(number))
            return []
        try:
            ticket = await _get(number)
            mine = ticket is not None and ticket.sender_id == tracker.sender_id
            if ticket is None or not (mine or number in verified(tracker)):
                dispatcher.utter_message(text="请先查询这件工单的进度、核实身份后再评价。")
                return []
            store = await _stores().for_number(number)
            await store.rate(number, score, sender_id=tracker.sender_id if mine else None)
        except InvalidRating as exc:
            dispatcher.utter_message(text=f"{exc}。" if not str(exc).endswith(("。", "！")) else str(exc))
            return [SlotSet(RATE_SLOT, None)]
        except TicketNotFound:
            dispatcher.utter_message(text="没有查到这件工单，请核对工单号。")
            return [SlotSet(RATE_SLOT, None)]
        except CaseStoreUnavailable:
            dispatcher.utter_message(text="抱歉，系统暂时无法保存评价，请稍后再试。")
            return []
        log.info("ticket %s rated %s", number, score)
        dispatcher.utter_message(text=f"感谢您的评价（{STARS[:score]}）！我们会把您的意见反馈给承办部门。")
        return [SlotSet(RATE_SLOT, None)]
