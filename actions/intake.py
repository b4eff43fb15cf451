"""Ticket intake: ONE Rasa form (``intake_form``) for every request type that files a ticket.

Per-type modules (``complaint.py``, ``petition.py``, ``legal_aid.py``) only declare an :class:`IntakeSpec`: which
fields are asked, in what order, with which prompt and which kind of validation. Everything else lives here,
once: reading a resident's message (several facts at once, free text, corrections, cancel, anonymity,
digressions), validating each kind of answer, the prompts (with the PIPL note the first time personal data is
asked for), the summary with masked personal data, and submission to the case store.

Slots are filled by the validation action only (``type: custom`` mappings), so the facts in the opening message
("上周三晚上楼下KTV吵到半夜 我住朝阳区建国路88号3栋501 电话13812345678") are read by the same code that reads
every later answer. The validator returns no slot at all only for a digression (a service enquiry, a greeting…):
Rasa then rejects the form, a rule answers the digression and puts the form back, which asks the pending question.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import logging
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bianmin.pii import mask_id_number, mask_phone
from bot.components.normalizers import is_valid_id_number, normalize_for_matching, normalize_phone
from cases.store import CaseStoreUnavailable, Deadline, NewTicket, submission_key

log = logging.getLogger(__name__)

FORM = "intake_form"
REQUESTED_SLOT = "requested_slot"
TYPE_SLOT = "intake_type"                # complaint | petition | legal_aid
CONFIRM_SLOT = "intake_confirmed"        # the summary step: True once the resident pressed 提交
STOP_SLOT = "intake_stop"                # the form ends without a ticket: cancelled | litigation | nothing
CORRECTING_SLOT = "intake_correcting"    # 修改 pressed, field not named yet: the summary step shows a field picker
REPROMPTED_SLOT = "intake_reprompted"    # the validator already re-asked this slot (with the reason)
PRIVACY_SLOT = "intake_privacy_noted"    # the PIPL sentence was said in this intake
TICKET_SLOT = "intake_ticket"            # number of the ticket filed from the current slots
ANONYMOUS_SLOT = "intake_anonymous"
LAST_TICKET_SLOT = "last_ticket_number"
CONTROL_SLOTS = (TYPE_SLOT, CONFIRM_SLOT, STOP_SLOT, CORRECTING_SLOT, REPROMPTED_SLOT, PRIVACY_SLOT, TICKET_SLOT,
                 ANONYMOUS_SLOT)

TYPE_INTENTS = ("complaint", "petition", "legal_aid")
START_ACTION = "action_start_intake"
#: Intents that, inside the form, are not an answer but something else to deal with first (see bot/data/tickets.yml).
DIGRESSION_INTENTS = frozenset({"service_enquiry", "greet", "thanks", "goodbye", "out_of_scope", "bad_input",
                                "human_handoff", "progress_query"})
DIGRESSION_CONFIDENCE = 0.6
LEAVING_CONFIDENCE = 0.8     # goodbye / human_handoff close the form: be surer

# Field kinds: how an answer is read and validated.
TEXT, PHONE, ID_NUMBER, NAME, ADDRESS, DATE, CHOICE, YESNO, TICKET_REF = (
    "text", "phone", "id_number", "name", "address", "date", "choice", "yesno", "ticket_ref")

AFFIRM, DENY = "/affirm", "/deny"


# ------------------------------------------------------------------------------------------------ specs
@dataclass(frozen=True)
class Field:
    """One question of an intake form."""
    slot: str                          # Rasa slot, e.g. "intake_phone"
    key: str                           # key in NewTicket.fields, e.g. "phone"
    label: str                         # shown in the summary
    kind: str                          # TEXT, PHONE, ... (see above)
    prompt: str
    min_chars: int = 0                 # TEXT: fewer meaningful characters → ask for more detail
    too_short: str = ""                # TEXT: the re-prompt for a too-short answer
    optional: bool = False             # the resident may skip ("不留", "跳过"); stored as ""
    personal: bool = False             # personal data (PIPL): the spec's privacy note precedes the first one
    choices: tuple[str, ...] = ()      # CHOICE: the allowed values (shown as buttons)
    ask_if: Optional[Callable[[Mapping[str, Any]], bool]] = None   # asked only when this holds
    entity_cue: Optional[str] = None   # volunteered (not asked) values count only after this regex, e.g. 住/住址
    yes_label: str = "是"              # YESNO: summary text and button titles
    no_label: str = "否"
    notes: tuple[tuple[Any, str], ...] = ()   # (value, sentence said once that value is accepted)
    aliases: tuple[str, ...] = ()      # words residents use for this field when correcting it ("电话", "手机")
    required_why: str = ""             # said when the resident tries to skip a field that cannot be skipped

    def buttons(self) -> list[dict[str, str]]:
        if self.kind == CHOICE:
            return [{"title": c, "payload": "/inform" + json.dumps({"legal_matter_type": c}, ensure_ascii=False)}
                    for c in self.choices]
        if self.kind == YESNO:
            return [{"title": self.yes_label, "payload": AFFIRM}, {"title": self.no_label, "payload": DENY}]
        if self.optional:
            return [{"title": "跳过（不填写）", "payload": DENY}]
        return []

    def note_for(self, value: Any) -> str:
        return next((text for v, text in self.notes if v == value), "")


@dataclass(frozen=True)
class IntakeSpec:
    """A request type's intake form: declared by the per-type modules, run by this one."""
    ticket_type: str                   # complaint | petition | legal_aid
    name_zh: str                       # "投诉" — in sentences such as 已取消本次投诉
    intro: str                         # said when the form starts
    privacy_note: str                  # why personal data is collected (said before the first personal field)
    fields: tuple[Field, ...]
    lead_slot: str                     # the substance of the opening message goes here
    allows_anonymous: bool = False
    stop_when: Optional[Callable[[Mapping[str, Any]], Optional[str]]] = None   # → STOP_SLOT value
    submitted: str = "您的事项已提交成功。"    # first line after a ticket is stored

    def field(self, slot: str) -> Optional[Field]:
        return next((f for f in self.fields if f.slot == slot), None)

    def slots(self) -> list[str]:
        return [f.slot for f in self.fields] + ([ANONYMOUS_SLOT] if self.allows_anonymous else [])

    def visible(self, values: Mapping[str, Any]) -> list[Field]:
        """The fields that apply given what is known (e.g. no phone for an anonymous report)."""
        return [f for f in self.fields if f.ask_if is None or f.ask_if(values)]

    def ticket_fields(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {f.key: values.get(f.slot) for f in self.visible(values) if values.get(f.slot) is not None}


_SPECS: dict[str, IntakeSpec] = {}
_SPEC_MODULES = {"complaint": "actions.complaint", "petition": "actions.petition", "legal_aid": "actions.legal_aid"}


def register(spec: IntakeSpec) -> IntakeSpec:
    """Called by each per-type module at import; also creates the ``action_ask_<slot>`` actions it needs."""
    _SPECS[spec.ticket_type] = spec
    for f in spec.fields:
        _ensure_ask_action(f.slot)
    return spec


def spec_for(ticket_type: Any) -> Optional[IntakeSpec]:
    if not isinstance(ticket_type, str):
        return None
    if ticket_type not in _SPECS and ticket_type in _SPEC_MODULES:
        importlib.import_module(_SPEC_MODULES[ticket_type])
    return _SPECS.get(ticket_type)


def all_specs() -> list[IntakeSpec]:
    return [s for s in (spec_for(t) for t in _SPEC_MODULES) if s is not None]


def intake_slots() -> list[str]:
    """Every slot an intake uses (fields of all types and the control slots), e.g. to clear them."""
    out: list[str] = list(CONTROL_SLOTS)
    for spec in all_specs():
        out += [s for s in spec.slots() if s not in out]
    return out


def slot_values(tracker: Tracker, spec: IntakeSpec) -> dict[str, Any]:
    return {s: tracker.get_slot(s) for s in spec.slots()}


def pending_intake(tracker: Tracker) -> Optional[IntakeSpec]:
    """The type of a started but not filed intake (some field filled, no ticket yet), if any."""
    spec = spec_for(tracker.get_slot(TYPE_SLOT))
    if spec is None or tracker.get_slot(TICKET_SLOT) or tracker.get_slot(STOP_SLOT):
        return None
    values = slot_values(tracker, spec)
    return spec if any(values.get(f.slot) not in (None, "") for f in spec.fields) else None


def clear_events() -> list[EventType]:
    return [SlotSet(s, None) for s in intake_slots()]


# ------------------------------------------------------------------------------------------------ the message
class Turn(NamedTuple):
    """The resident's latest message as the validator needs it."""
    text: str
    intent: str
    confidence: float
    entities: tuple[tuple[str, Any, Optional[int], Optional[int]], ...]   # (label, value, start, end)

    @classmethod
    def of(cls, tracker: Tracker) -> "Turn":
        msg = tracker.latest_message or {}
        intent = msg.get("intent") or {}
        ents = tuple((e.get("entity"), e.get("value"), e.get("start"), e.get("end"))
                     for e in msg.get("entities") or [] if e.get("entity"))
        return cls((msg.get("text") or "").strip(), intent.get("name") or "", float(intent.get("confidence") or 0.0),
                   ents)

    @property
    def payload(self) -> bool:
        return self.text.startswith("/")

    def entity(self, label: str) -> Optional[Any]:
        values = [v for lab, v, _, _ in self.entities if lab == label and v not in (None, "")]
        if label == "address" and values:  # …30号 and …30号华清嘉园小区5号楼: the resident meant the whole one
            return max(values, key=lambda v: len(str(v)))
        return values[0] if values else None

    def entity_span(self, label: str) -> Optional[tuple[int, int]]:
        return next(((s, e) for lab, _, s, e in self.entities if lab == label and s is not None and e is not None),
                    None)

    def is_intent(self, *names: str, confidence: float = 0.5) -> bool:
        return self.intent in names and (self.payload or self.confidence >= confidence)


_MEANINGFUL = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_PII_CUE = re.compile(r"(?:联系电话|电话号码|手机号码|手机号|电话|手机|联系方式|身份证号码|身份证号|身份证|我叫|姓名|名字)"
                      r"(?:是|为|号)?[:：\s]*$")
_EDGE_PUNCT = " \t\r\n,，.。;；:：!！?？、~～…-—"


def meaningful(text: str) -> int:
    return len(_MEANINGFUL.findall(text or ""))


def free_text(turn: Turn) -> str:
    """The message without phone numbers, ID numbers and names (they go to their own fields, not into the text)."""
    text = turn.text
    cuts = []
    for label, _, start, end in turn.entities:
        if label in ("phone", "id_number", "id_number_invalid", "person_name") and start is not None and end:
            cue = _PII_CUE.search(text[:start])
            cuts.append((cue.start() if cue else start, end))
    for start, end in sorted(cuts, reverse=True):
        text = text[:start] + " " + text[end:]
    text = re.sub(r"\s+", " ", text)
    return text.strip(_EDGE_PUNCT)[:2000]


# ------------------------------------------------------------------------------------------------ reading answers
CANCEL_WHOLE = re.compile(r"^(?:算了|取消|退出|放弃|撤销|撤回|不要了|不弄了|不办了|不填了|停止|中止|结束)(?:吧|啊|了|呀)*"
                          r"(?:算了)?$")
CANCEL_ANYWHERE = re.compile(r"不(?:想|要|用)?(?:再)?(?:投诉|举报|反映|申请|信访|上访|登记|填|办|弄)了|"
                             r"取消(?:投诉|举报|申请|信访|登记|办理|填写)|算了算了")
ANONYMOUS = re.compile(r"匿名|不(?:想|愿意?|方便|要)?留(?:电话|手机|号码|名字|姓名|联系方式)|"
                       r"不想(?:透露|公开)(?:身份|个人信息|姓名)")
SKIP = re.compile(r"^(?:不留|跳过|不用|不想留|不愿意?留|不方便|不告诉|不写|免了|没有|无|不需要|不填|略)")
CORRECTION_CUE = re.compile(r"写错|填错|说错|输错|打错|弄错|搞错|错了|不对|有误|不正确|修改|更改|更正|改一下|改下|"
                            r"改成|改为|换成|应该是|重新填|重填|重新输入|要改")
_NEW_VALUE = re.compile(r"(?:应该是|应为|改成|改为|换成|更正为)[:：\s]*(.+)$")
_NEW_VALUE_WEAK = re.compile(r"(?:是|为|[:：])\s*(.+)$")
AFFIRM_TEXT = re.compile(r"^(?:提交|确认|确定|对|对的|是|是的|没问题|没错|好|好的|可以|行|嗯|无误|信息无误)"
                         r"(?:提交|吧|了|的|啊)*$")
#: Yes/no answers in words: a leading 是/有/没有…, or a phrase that can only be an answer ("已经起诉了", "没反映过").
NO_TEXT = re.compile(r"^(?:没|无|否|不是|不|还没|未|从来没)|没有|还没|没(?:起诉|仲裁|打官司|反映|告|找|去|申请)|未(?:起诉|仲裁)|不曾")
YES_TEXT = re.compile(r"^(?:是|有|对|嗯|已经|反映过|起诉了|仲裁了)|已经|(?:起诉|仲裁|复议|立案|上诉)了|在仲裁|在打官司|"
                      r"正在(?:起诉|仲裁|诉讼|打官司|复议)|开庭|反映过|找过|去过|打过|投诉过|上访过|信访过|说过|报过")
QUESTION = re.compile(r"[?？吗呢]|怎么|怎样|如何|哪里|哪儿|哪个|哪些|什么|多少|多久|几点|几天|能不能|可不可以|"
                      r"是否|要不要|需不需要|咨询|请问")
FILLER = re.compile(r"^(?:没有|没|无|不知道|不清楚|不记得|是|是的|对|对的|好|好的|嗯|嗯嗯|行|可以|不是|否|没了|没有了)$")
CLEAR_YESNO = re.compile(r"没有|没|还没|不是|已经|起诉|仲裁|诉讼|官司|立案|开庭|复议|反映过|找过|去过|打过")
UNKNOWN_TICKET = re.compile(r"不记得|忘了|记不清|没有|不知道|找不到|没编号|不清楚")
ONGOING = re.compile(r"一直|每天|天天|经常|持续|长期|好几|最近|这几天|每晚|每周|多次|反复|至今|到现在|几个月|半年|"
                     r"一年|几年|很久|今年|去年|前年|上个月|这个月|月初|月底|上旬|中旬|下旬|年前|年底|春节|国庆|"
                     r"周末|工作日|夜里|晚上|白天|早上")
UNKNOWN_DATE = re.compile(r"记不清|不记得|忘了|不清楚|不确定")
PLACE = re.compile(r"[省市区县镇乡村路街巷弄屯]|胡同|小区|社区|街道|大厦|广场|公园|花园|家园|公寓|号楼|大道|校区|园区|"
                   r"菜市场|商场|医院|学校|车站|地铁站|高速|国道|省道")
NAME_CUES = re.compile(r"^(?:我叫|我的名字是|名字是|名字叫|姓名是|姓名[:：]?|叫我|我是|本人|申请人[:：]?|叫)")
CHOICE_ALIASES: dict[str, tuple[str, ...]] = {
    "劳动": ("劳动", "工资", "欠薪", "工钱", "辞退", "社保", "加班", "开除", "裁员"),
    "工伤": ("工伤", "受伤", "职业病"),
    "婚姻家庭": ("婚姻", "家庭", "离婚", "抚养", "赡养", "家暴", "继承", "彩礼"),
    "交通事故": ("交通", "车祸", "撞"),
    "借贷": ("借贷", "借钱", "欠款", "欠钱", "借条", "欠条", "债"),
    "房屋": ("房屋", "房子", "租房", "房东", "买房", "宅基地", "押金"),
    "消费": ("消费", "买东西", "商家", "退款", "网购", "假货"),
    "其他": ("其他", "其它", "别的", "都不是"),
}
#: Words residents use for a field when correcting it, by ticket-field key (a Field may add its own).
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "phone": ("电话", "手机", "号码", "联系方式"),
    "id_number": ("身份证",),
    "person_name": ("名字", "姓名", "称呼"),
    "address": ("地址", "住址", "地点", "位置", "门牌"),
    "occurred_at": ("时间", "日期", "几号", "哪天"),
    "description": ("描述", "内容", "情况", "经过", "问题"),
    "facts": ("经过", "事实", "情况"),
    "request": ("诉求", "要求"),
    "target": ("单位", "部门", "工作人员", "反映对象"),
    "legal_matter_type": ("类型", "事项类型", "案件类型"),
    "hardship": ("经济", "困难", "收入"),
    "litigation": ("起诉", "仲裁", "诉讼", "官司"),
    "raised_before": ("反映过", "以前反映", "之前反映"),
    "previous_ticket": ("编号", "单号"),
}

PHONE_ERROR = "这个电话号码好像不对，请输入11位手机号（例如 13812345678）或带区号的固定电话（例如 010-62345678）。"
ID_CHECKSUM_ERROR = "身份证号校验未通过，请核对后重新输入。"
ID_LENGTH_ERROR = "身份证号应为18位（最后一位可能是X），请核对后重新输入。"
NAME_ERROR = "请告诉我姓名（2到6个汉字），例如：王建国。"
ADDRESS_ERROR = "没能识别出具体地点，请写到区、街道（路）和小区或门牌号，例如：朝阳区建国路88号3号楼。"
DATE_ERROR = ("没能识别出时间，请说具体一点，例如“昨天晚上十点”“11月20日”；如果一直存在，可以说“持续一个月了”；"
              "实在记不清可以说“记不清了”。")
FUTURE_DATE_ERROR = "发生时间不能晚于今天，请核对后再说一次。"
YESNO_ERROR = "请回答“是”或“否”，也可以直接点下面的按钮。"
CHOICE_ERROR = "请从下面选一个最接近的类型，都不符合可以选“其他”。"
TICKET_REF_ERROR = "编号的格式是字母加日期和序号，例如 XF20261015-0032；记不清可以说“不记得”。"
TEXT_SHORT_DEFAULT = "说得有点简单，请再具体说说。"


class Outcome(NamedTuple):
    value: Any = None          # None: nothing accepted
    error: str = ""            # why the answer was not accepted (the re-prompt)


def today() -> dt.date:
    """Residents' calendar day; BIANMIN_REFERENCE_DATE (evaluation) wins, as in the NLU's date resolution."""
    raw = os.environ.get("BIANMIN_REFERENCE_DATE", "").strip()
    if raw:
        return dt.date.fromisoformat(raw)
    from cases.numbering import local_date

    return local_date()


def _yes_in(text: str) -> Optional[bool]:
    text = text.strip(_EDGE_PUNCT)
    if NO_TEXT.search(text):
        return False
    if YES_TEXT.search(text):
        return True
    return None


def _is_yes(turn: Turn) -> Optional[bool]:
    if turn.is_intent("affirm"):
        return True
    if turn.is_intent("deny"):
        return False
    return None if turn.payload else _yes_in(turn.text)


def _choice(turn: Turn, choices: tuple[str, ...]) -> Optional[str]:
    value = turn.entity("legal_matter_type")
    if value in choices:
        return value
    if turn.payload:
        return None
    for choice in choices:
        if choice in turn.text:
            return choice
    for choice, words in CHOICE_ALIASES.items():
        if choice in choices and any(w in turn.text for w in words):
            return choice
    return None


def _date_not_future(value: str) -> Outcome:
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return Outcome(str(value))
    return Outcome(error=FUTURE_DATE_ERROR) if day > today() else Outcome(str(value))


def read_value(f: Field, turn: Turn, asked: bool, text: Optional[str] = None) -> Outcome:
    """The value of ``f`` in this message. Unasked fields take only what entities say unambiguously;
    the asked field also reads the free text. ``text`` overrides the text read (a correction's new value)."""
    raw = turn.text if text is None else text
    body = free_text(turn) if text is None else text.strip(_EDGE_PUNCT)
    if f.optional and asked and not turn.payload and SKIP.match(body):
        return Outcome("")
    if f.optional and asked and turn.is_intent("deny", confidence=0.7) and meaningful(body) <= 6:
        return Outcome("")
    if not f.optional and f.required_why and asked and not turn.payload and SKIP.match(body):
        return Outcome(error=f.required_why)
    if f.kind == PHONE:
        value = turn.entity("phone")
        if value:
            return Outcome(value)
        if asked and not turn.payload:
            value = normalize_phone(raw)
            return Outcome(value) if value else Outcome(error=PHONE_ERROR)
        return Outcome(error=PHONE_ERROR) if asked else Outcome()
    if f.kind == ID_NUMBER:
        value = turn.entity("id_number")
        if value:
            return Outcome(value)
        if turn.entity("id_number_invalid"):
            return Outcome(error=ID_CHECKSUM_ERROR)
        if asked and not turn.payload:
            compact = re.sub(r"[\s\-]", "", raw).upper()
            candidate = re.search(r"\d{17}[\dX]", compact)
            if candidate and len(candidate.group(0)) == 18:
                ok = is_valid_id_number(candidate.group(0))
                return Outcome(candidate.group(0)) if ok else Outcome(error=ID_CHECKSUM_ERROR)
            return Outcome(error=ID_LENGTH_ERROR if re.search(r"\d{4,}", compact) else "请输入18位身份证号码。")
        return Outcome()
    if f.kind == NAME:
        value = turn.entity("person_name")
        if value:
            return Outcome(value)
        if asked and not turn.payload:
            candidate = NAME_CUES.sub("", body).strip(_EDGE_PUNCT)
            candidate = re.sub(r"(?:吧|啊|呀|哈)$", "", candidate)
            if re.fullmatch(r"[\u4e00-\u9fff][\u4e00-\u9fff·]{1,5}", candidate) and not SKIP.match(candidate):
                return Outcome(candidate)
            return Outcome(error=NAME_ERROR + ("不想留可以说“不留”。" if f.optional else ""))
        return Outcome()
    if f.kind == ADDRESS:
        value = turn.entity("address")
        if value and (asked or f.entity_cue is None or _cued(turn, "address", f.entity_cue)):
            return Outcome(value)
        if asked and not turn.payload:
            candidate = re.sub(r"^(?:我(?:家)?住在|我住|住在|家住|地址是|地址[:：]?|住址是|住址[:：]?|在)", "", body)
            candidate = candidate.strip(_EDGE_PUNCT)
            if meaningful(candidate) >= 4 and (PLACE.search(candidate) or turn.entity("district")):
                return Outcome(candidate[:200])
            return Outcome(error=ADDRESS_ERROR)
        return Outcome()
    if f.kind == DATE:
        value = turn.entity("date")
        if value:
            return _date_not_future(value)
        if asked and not turn.payload:
            if UNKNOWN_DATE.search(body):
                return Outcome("记不清")
            if ONGOING.search(body) and meaningful(body) >= 2:
                return Outcome(body[:100])
            return Outcome(error=DATE_ERROR)
        return Outcome()
    if f.kind == CHOICE:
        value = _choice(turn, f.choices) if (asked or turn.entity("legal_matter_type")) else None
        if value:
            return Outcome(value)
        return Outcome(error=CHOICE_ERROR) if asked else Outcome()
    if f.kind == YESNO:
        if not asked:
            return Outcome()
        yes = _is_yes(turn) if text is None else _yes_in(text)
        return Outcome(yes) if yes is not None else Outcome(error=YESNO_ERROR)
    if f.kind == TICKET_REF:
        value = turn.entity("ticket_id")
        if value:
            return Outcome(value)
        if asked and not turn.payload:
            if UNKNOWN_TICKET.search(body) or turn.is_intent("deny", confidence=0.7):
                return Outcome("")
            return Outcome(error=TICKET_REF_ERROR)
        return Outcome()
    # TEXT
    if not asked or turn.payload:
        return Outcome()
    if meaningful(body) < f.min_chars or FILLER.match(body.strip(_EDGE_PUNCT)):
        return Outcome(error=f.too_short or TEXT_SHORT_DEFAULT)
    return Outcome(body)


def _cued(turn: Turn, label: str, cue: str) -> bool:
    span = turn.entity_span(label)
    return bool(span and re.search(f"(?:{cue})[^，。,.!！?？]{{0,4}}$", turn.text[:span[0]]))


def wants_cancel(turn: Turn) -> bool:
    if turn.payload:
        return turn.intent == "cancel"
    text = turn.text.strip(_EDGE_PUNCT).replace(" ", "")
    if turn.is_intent("cancel", confidence=0.7) and meaningful(text) <= 12:
        return True
    return len(text) <= 16 and bool(CANCEL_WHOLE.match(text) or CANCEL_ANYWHERE.search(text))


def is_digression(turn: Turn, asked: Optional[Field]) -> bool:
    """Not an answer: a greeting, a service enquiry, a menu button of another request type..."""
    if turn.payload:
        return turn.intent in DIGRESSION_INTENTS or turn.intent in TYPE_INTENTS
    if turn.intent not in DIGRESSION_INTENTS:
        return False
    if turn.intent == "bad_input":
        return True
    if any(label in ("phone", "id_number", "id_number_invalid", "address", "person_name", "ticket_id")
           for label, *_ in turn.entities):
        return False   # (not dates: "今天股票行情怎么样" is still out of scope)
    if asked is not None and asked.kind == TEXT and meaningful(turn.text) > 25:
        return False   # a long free-text answer is an answer, whatever it sounds like
    if turn.intent == "service_enquiry" and not QUESTION.search(turn.text):
        return False   # "某某街道办事处" names the body concerned; an enquiry asks something ("居住证怎么办？")
    if asked is not None and asked.kind == YESNO and CLEAR_YESNO.search(turn.text):
        return False   # "已经申请劳动仲裁了" answers "是否已经起诉或仲裁", however the NLU reads it
    if asked is not None and asked.kind == CHOICE and _choice(turn, asked.choices):
        return False
    if len(re.findall(r"\d", normalize_for_matching(turn.text))) >= 3:
        return False   # "1381234" is a mistyped phone number, not "88" (goodbye)
    needed = LEAVING_CONFIDENCE if turn.intent in ("goodbye", "human_handoff") else DIGRESSION_CONFIDENCE
    return turn.confidence >= needed


def _field_named(text: str, fields: list[Field]) -> tuple[Optional[Field], int]:
    """The field a correction speaks of (the earliest word naming one), and where that word ends."""
    best: Optional[tuple[int, int, Field]] = None
    for f in fields:
        for word in f.aliases or FIELD_WORDS.get(f.key, ()):
            pos = text.find(word)
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, pos + len(word), f)
    return (best[2], best[1]) if best else (None, 0)


class Correction(NamedTuple):
    field: Optional[Field]     # None: the resident wants to change something, not said what
    new_text: Optional[str]    # the new value said in the same message ("地址不对，应该是…"), if any


def find_correction(turn: Turn, spec: IntakeSpec, values: Mapping[str, Any], asked: Optional[str],
                    picking: bool) -> Optional[Correction]:
    """'电话写错了' / '修改地址' / '地址不对，应该是…' / the 修改 button / a field picked from the picker."""
    filled = [f for f in spec.visible(values) if values.get(f.slot) is not None]
    if turn.payload:
        if turn.intent != "correct":
            return None
        slot = turn.entity("intake_field")
        return Correction(spec.field(slot) if slot else None, None)
    text = turn.text
    cue = CORRECTION_CUE.search(text)
    named, after = _field_named(text, filled)
    if picking and named is not None:
        return Correction(named, _tail(text, after))
    if cue is None and not turn.is_intent("correct", confidence=0.6):
        return None
    if asked != CONFIRM_SLOT and (named is None or len(text) > 40):
        # while filling in, only an explicit change of an earlier answer counts ("电话写错了"); long text is an answer
        return None
    return Correction(named, _tail(text, after) if named else None)


def _tail(text: str, after: int) -> Optional[str]:
    """The new value in '地址不对，应该是朝阳区建国路99号' / '描述改成：…' / '名字是王建华'."""
    m = _NEW_VALUE.search(text, after) or _NEW_VALUE_WEAK.search(text, after)
    if not m:
        return None
    tail = m.group(1).strip(_EDGE_PUNCT)
    return tail if meaningful(tail) and not CORRECTION_CUE.fullmatch(tail) else None


# ------------------------------------------------------------------------------------------------ display
def display_value(f: Field, value: Any) -> str:
    if value is None:
        return "（未填写）"
    if value == "":
        return "未留" if f.kind in (NAME, PHONE) else "未提供"
    if f.kind == PHONE:
        return mask_phone(str(value))
    if f.kind == ID_NUMBER:
        return mask_id_number(str(value))
    if f.kind == YESNO:
        return f.yes_label if value else f.no_label
    if f.kind == DATE:
        return format_when(str(value))
    return str(value)


def format_when(value: str) -> str:
    """'2026-11-18 晚上' → '2026年11月18日晚上'; free text ('持续一个月了') is kept."""
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})(?: (.+))?$", value)
    if not m:
        return value
    out = f"{int(m.group(1))}年{int(m.group(2))}月{int(m.group(3))}日"
    if m.group(4):
        out += (" " if ":" in m.group(4) else "") + m.group(4)
    return out


def summary_text(spec: IntakeSpec, values: Mapping[str, Any]) -> str:
    lines = [f"请核对您的{spec.name_zh}信息："]
    if spec.allows_anonymous and values.get(ANONYMOUS_SLOT):
        lines.append("· 方式：匿名（不留姓名和电话，提交后给您查询码）")
    for f in spec.visible(values):
        lines.append(f"· {f.label}：{display_value(f, values.get(f.slot))}")
    lines.append(f"确认无误请点“提交”；需要改动请点“修改”，或直接告诉我，例如“{_example(spec, values)}写错了”。")
    return "\n".join(lines)


def _example(spec: IntakeSpec, values: Mapping[str, Any]) -> str:
    """A field to name in "例如“电话写错了”": the phone if asked, else the last field."""
    visible = spec.visible(values)
    return next((f.label for f in visible if f.kind == PHONE), visible[-1].label)


SUMMARY_BUTTONS = [{"title": "提交", "payload": AFFIRM}, {"title": "修改", "payload": "/correct"},
                   {"title": "取消", "payload": "/cancel"}]


def picker_buttons(spec: IntakeSpec, values: Mapping[str, Any]) -> list[dict[str, str]]:
    buttons = [{"title": f.label, "payload": "/correct" + json.dumps({"intake_field": f.slot})}
               for f in spec.visible(values)]
    return buttons + [{"title": "没有要改的，提交", "payload": AFFIRM}]


# ------------------------------------------------------------------------------------------------ turn analysis
def _since_last_user(tracker: Tracker) -> list[dict[str, Any]]:
    events = tracker.events or []
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") == "user":
            return events[i + 1:]
    return list(events)


def is_fresh_turn(tracker: Tracker, form: str = FORM) -> bool:
    """``form`` runs right after the resident spoke (not when it comes back after a digression)."""
    for e in _since_last_user(tracker):
        if e.get("event") == "action_execution_rejected":
            return False
        if e.get("event") == "action" and e.get("name") not in (
                "action_listen", "action_extract_slots", START_ACTION, form, None):
            return False
    return True


def started_this_turn(tracker: Tracker) -> bool:
    return any(e.get("event") == "action" and e.get("name") == START_ACTION for e in _since_last_user(tracker))


# ------------------------------------------------------------------------------------------------ the validator
class ValidateIntakeForm(FormValidationAction):
    """Reads each message once: cancel, digression, correction, summary answer, anonymity, then every field
    it can fill (the asked one from free text, the others from entities)."""

    def name(self) -> Text:
        return "validate_intake_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> List[Text]:
        spec = spec_for(tracker.get_slot(TYPE_SLOT))
        if spec is None or tracker.get_slot(STOP_SLOT):
            return []
        return [f.slot for f in spec.visible(slot_values(tracker, spec))] + [CONFIRM_SLOT]

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events = self.interpret(dispatcher, tracker)
        if events is None:          # a digression: no slot set → Rasa rejects the form and a rule takes over
            return []
        tracker.add_slots(events)
        required = await self.required_slots([], dispatcher, tracker, domain)
        next_slot = next((s for s in required if tracker.slots.get(s) is None), None)
        if tracker.slots.get(REPROMPTED_SLOT) not in (None, next_slot):
            events.append(SlotSet(REPROMPTED_SLOT, None))   # re-asked something that is not asked next after all
        return events + [SlotSet(REQUESTED_SLOT, next_slot)]

    def interpret(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List[EventType]]:
        spec = spec_for(tracker.get_slot(TYPE_SLOT))
        if spec is None:
            return [SlotSet(STOP_SLOT, "nothing")]
        if tracker.get_slot(STOP_SLOT) or not is_fresh_turn(tracker):
            return []
        turn = Turn.of(tracker)
        values = slot_values(tracker, spec)
        if started_this_turn(tracker):
            if turn.intent not in (*TYPE_INTENTS, "inform") or turn.payload:
                return []       # started from a button, or resumed: nothing to read
            # a request type, or details given with no form open (ActionStartIntake chose the type): read them
            return self._read_facts(dispatcher, spec, turn, values, asked=None, lead=True)
        asked_slot = tracker.get_slot(REQUESTED_SLOT)
        asked = spec.field(asked_slot) if asked_slot else None
        if wants_cancel(turn):
            return [SlotSet(STOP_SLOT, "cancelled")]
        if turn.is_intent("restart_intake", confidence=0.8):
            dispatcher.utter_message(text=f"好的，我们从头开始填写{spec.name_zh}。")
            return [SlotSet(s, None) for s in spec.slots()] + [SlotSet(CONFIRM_SLOT, None),
                                                               SlotSet(CORRECTING_SLOT, None)]
        correction = find_correction(turn, spec, values, asked_slot, bool(tracker.get_slot(CORRECTING_SLOT)))
        if correction is not None:
            return self._correct(dispatcher, spec, turn, values, correction)
        if is_digression(turn, asked):
            return None
        if asked_slot == CONFIRM_SLOT:
            return self._confirm(dispatcher, spec, turn, values, bool(tracker.get_slot(CORRECTING_SLOT)))
        return self._read_facts(dispatcher, spec, turn, values, asked=asked, lead=False)

    # -- summary step
    def _confirm(self, dispatcher: CollectingDispatcher, spec: IntakeSpec, turn: Turn, values: Mapping[str, Any],
                 picking: bool) -> List[EventType]:
        text = turn.text.strip(_EDGE_PUNCT).replace(" ", "")
        if turn.is_intent("affirm", confidence=0.6) or (not turn.payload and AFFIRM_TEXT.match(text)):
            return [SlotSet(CONFIRM_SLOT, True), SlotSet(CORRECTING_SLOT, None)]
        if turn.is_intent("deny", confidence=0.6):
            return [SlotSet(CORRECTING_SLOT, True), SlotSet(CONFIRM_SLOT, None)]
        if picking:
            dispatcher.utter_message(text="请点选要修改的一项，或者直接说，例如“修改地址”。",
                                     buttons=picker_buttons(spec, values))
        else:
            dispatcher.utter_message(text="信息无误请点“提交”；需要修改请点“修改”，或直接说要改哪一项，"
                                          f"例如“{_example(spec, values)}写错了”。", buttons=SUMMARY_BUTTONS)
        return [SlotSet(CONFIRM_SLOT, None), SlotSet(REPROMPTED_SLOT, CONFIRM_SLOT)]

    # -- "电话写错了" / "修改地址" / "地址不对，应该是…"
    def _correct(self, dispatcher: CollectingDispatcher, spec: IntakeSpec, turn: Turn, values: Dict[str, Any],
                 correction: Correction) -> List[EventType]:
        f = correction.field
        if f is None:
            return [SlotSet(CORRECTING_SLOT, True), SlotSet(CONFIRM_SLOT, None)]
        events: List[EventType] = [SlotSet(CONFIRM_SLOT, None), SlotSet(CORRECTING_SLOT, None)]
        outcome = read_value(f, turn, asked=True, text=correction.new_text) if correction.new_text else Outcome()
        if outcome.value is None and correction.new_text and f.kind in (PHONE, ID_NUMBER, ADDRESS, DATE, NAME):
            entity_outcome = read_value(f, turn, asked=False)   # the new value may be an entity anywhere in the text
            outcome = entity_outcome if entity_outcome.value is not None else outcome
        if outcome.value is not None:
            events.append(SlotSet(f.slot, outcome.value))
            dispatcher.utter_message(text=f"好的，{f.label}已改为：{display_value(f, outcome.value)}。")
            return events + self._after_value(dispatcher, spec, f, outcome.value, values)
        events.append(SlotSet(f.slot, None))
        if outcome.error:
            dispatcher.utter_message(text=outcome.error, buttons=f.buttons())
            events.append(SlotSet(REPROMPTED_SLOT, f.slot))
        else:
            dispatcher.utter_message(text=f"好的，我们重新填写{f.label}。")
        return events

    # -- every field the message speaks to
    def _read_facts(self, dispatcher: CollectingDispatcher, spec: IntakeSpec, turn: Turn, values: Dict[str, Any],
                    asked: Optional[Field], lead: bool) -> List[EventType]:
        events: List[EventType] = []
        values = dict(values)
        said: list[str] = []
        errors: dict[str, str] = {}
        if spec.allows_anonymous and not values.get(ANONYMOUS_SLOT) and not turn.payload and (
                ANONYMOUS.search(turn.text) or (asked is not None and asked.kind == PHONE and SKIP.match(turn.text))):
            values[ANONYMOUS_SLOT] = True
            events.append(SlotSet(ANONYMOUS_SLOT, True))
            for f in spec.fields:
                if f.slot not in [v.slot for v in spec.visible(values)] and values.get(f.slot) is not None:
                    values[f.slot] = None
                    events.append(SlotSet(f.slot, None))
            said.append("好的，按匿名举报办理：不需要留姓名和电话，提交后会给您一个查询码，凭查询码查询办理进度。")
            if asked is not None and asked.kind in (PHONE, NAME):
                asked = None
        for f in spec.visible(values):
            if values.get(f.slot) is not None:
                continue
            outcome = read_value(f, turn, asked=(asked is not None and f.slot == asked.slot))
            if outcome.value is not None:
                values[f.slot] = outcome.value
                events.append(SlotSet(f.slot, outcome.value))
                events += self._after_value(dispatcher, spec, f, outcome.value, values, say=said)
            elif outcome.error:
                errors[f.slot] = outcome.error
        if lead and values.get(spec.lead_slot) is None:
            lead_field = spec.field(spec.lead_slot)
            text = _LEADING_REQUEST.sub("", free_text(turn)).strip(_EDGE_PUNCT)
            if lead_field is not None and _substantive(text) and meaningful(text) >= max(lead_field.min_chars, 6):
                values[spec.lead_slot] = text
                events.append(SlotSet(spec.lead_slot, text))
        for line in said:
            dispatcher.utter_message(text=line)
        if asked is not None and asked.slot in errors:
            f = asked
            dispatcher.utter_message(text=errors.pop(f.slot), buttons=f.buttons())
            events += [SlotSet(f.slot, None), SlotSet(REPROMPTED_SLOT, f.slot)]
        for slot, error in errors.items():   # e.g. an ID number with a bad checksum given before it was asked
            dispatcher.utter_message(text=error)
            events.append(SlotSet(slot, None))
        if asked is not None and not any(isinstance(e, dict) and e.get("name") == asked.slot for e in events):
            events.append(SlotSet(asked.slot, None))     # nothing usable: the form asks again
        return events

    def _after_value(self, dispatcher: CollectingDispatcher, spec: IntakeSpec, f: Field, value: Any,
                     values: Dict[str, Any], say: Optional[list[str]] = None) -> List[EventType]:
        values[f.slot] = value
        note = f.note_for(value)
        if note:
            if say is not None:
                say.append(note)
            else:
                dispatcher.utter_message(text=note)
        stop = spec.stop_when(values) if spec.stop_when else None
        return [SlotSet(STOP_SLOT, stop)] if stop else []


_BOILERPLATE = re.compile(r"你好|您好|在吗|请问|麻烦(?:你|您)?|帮(?:我|忙)|我(?:要|想)|想要|一下|投诉|举报|反映|信访|上访|"
                          r"申请|法律援助|法援|找律师|律师|匿名|实名|问题|情况|事情|这个|那个|有个|个")


#: "匿名举报，…" / "我要投诉：…" at the start of an opening message is the request, not the matter.
_LEADING_REQUEST = re.compile(r"^(?:(?:你好|您好|在吗)[，,。\s]*)?(?:我(?:要|想)(?:要)?)?(?:匿名|实名)?"
                              r"(?:投诉|举报|反映|信访|上访|申请法律援助)?(?:一下)?[，,。：:！!\s]+")


def _substantive(text: str) -> bool:
    """More than "我要投诉" / "申请法律援助": worth keeping as the description of the matter."""
    return meaningful(_BOILERPLATE.sub("", text)) >= 4


# ------------------------------------------------------------------------------------------------ asking
class AskField(Action, ABC):
    """``action_ask_<slot>``: the spec's prompt for the slot, with the privacy note before the first personal field."""

    @abstractmethod
    def slot(self) -> str: ...

    def name(self) -> Text:
        return f"action_ask_{self.slot()}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot(REPROMPTED_SLOT) == self.slot():
            return [SlotSet(REPROMPTED_SLOT, None)]     # the validator just asked again, with the reason
        spec = spec_for(tracker.get_slot(TYPE_SLOT))
        f = spec.field(self.slot()) if spec else None
        if spec is None or f is None:
            return []
        events: List[EventType] = []
        text = f.prompt
        if f.personal and not tracker.get_slot(PRIVACY_SLOT):
            text = f"{spec.privacy_note}\n{text}"
            events.append(SlotSet(PRIVACY_SLOT, True))
        dispatcher.utter_message(text=text, buttons=f.buttons())
        return events


_ASK_ACTIONS: dict[str, type] = {}


def _ensure_ask_action(slot: str) -> None:
    if slot not in _ASK_ACTIONS:
        _ASK_ACTIONS[slot] = type(f"AskFor_{slot}", (AskField,), {"slot": lambda self, s=slot: s,
                                                                   "__module__": __name__})


class AskConfirmation(Action):
    """The summary step: all fields (phone and ID masked) with 提交 / 修改 / 取消, or the field picker after 修改."""

    def name(self) -> Text:
        return f"action_ask_{CONFIRM_SLOT}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot(REPROMPTED_SLOT) == CONFIRM_SLOT:
            return [SlotSet(REPROMPTED_SLOT, None)]
        spec = spec_for(tracker.get_slot(TYPE_SLOT))
        if spec is None:
            return []
        values = slot_values(tracker, spec)
        if tracker.get_slot(CORRECTING_SLOT):
            dispatcher.utter_message(text="请问要修改哪一项？", buttons=picker_buttons(spec, values))
        else:
            dispatcher.utter_message(text=summary_text(spec, values), buttons=SUMMARY_BUTTONS)
        return []


# ------------------------------------------------------------------------------------------------ start, pause, cancel
def likeliest_request_type(message: Dict[Text, Any], floor: float = 0.05) -> Optional[str]:
    """The request type (complaint/petition/legal_aid) for details given with no form open.

    The classifier's ranking first; failing that, the complaint routing lexicon — a message about noise,
    rubbish or a broken street light is a complaint even when the classifier only saw "details" in it.
    """
    for item in message.get("intent_ranking") or []:
        if item.get("name") in TYPE_INTENTS and (item.get("confidence") or 0) >= floor:
            return item["name"]
    from knowledge.routing import default_taxonomy  # keyword table only: a few microseconds, fine on the loop

    route = default_taxonomy().route(message.get("text") or "")
    return "complaint" if route.category != "其他" and route.confidence >= 0.5 else None


class ActionStartIntake(Action):
    """Before the form: which type (from the intent), fresh slots — or, for 继续/重新开始, the last intake's."""

    def name(self) -> Text:
        return START_ACTION

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        previous = spec_for(tracker.get_slot(TYPE_SLOT))
        if intent == "resume_intake":
            spec = pending_intake(tracker)
            if spec is None:
                dispatcher.utter_message(text="目前没有未完成的登记。")
                return [SlotSet(STOP_SLOT, "nothing")]
            dispatcher.utter_message(text=f"好的，我们接着填写您的{spec.name_zh}。")
            return [SlotSet(CONFIRM_SLOT, None), SlotSet(CORRECTING_SLOT, None), SlotSet(REPROMPTED_SLOT, None),
                    SlotSet(REQUESTED_SLOT, None)]
        in_form = (tracker.active_loop or {}).get("name") == FORM
        if intent in TYPE_INTENTS:
            ticket_type = intent
        elif intent == "inform" and not in_form:
            # Details with no form open ("…吵到半夜 电话138…" read as an answer): the request is the likeliest
            # request type in the ranking; the form then reads the details from this same message.
            ticket_type = likeliest_request_type(tracker.latest_message)
            if ticket_type is None:
                dispatcher.utter_message(text="收到您提供的信息。请问您是想办理哪一项？", buttons=[
                    {"title": "投诉/反映问题", "payload": "/complaint"}, {"title": "信访", "payload": "/petition"},
                    {"title": "申请法律援助", "payload": "/legal_aid"}, {"title": "查询进度", "payload": "/progress_query"}])
                return clear_events() + [SlotSet(REQUESTED_SLOT, None), SlotSet(STOP_SLOT, "nothing")]
        else:
            ticket_type = tracker.get_slot(TYPE_SLOT)
        spec = spec_for(ticket_type)
        events = clear_events() + [SlotSet(REQUESTED_SLOT, None)]
        if spec is None:
            return events + [SlotSet(STOP_SLOT, "nothing")]
        if in_form and previous is not None and pending_intake(tracker) is not None:
            dispatcher.utter_message(text=f"好的，未完成的{previous.name_zh}登记已结束，所填信息不会保存。")
        dispatcher.utter_message(text=spec.intro)
        return events + [SlotSet(TYPE_SLOT, spec.ticket_type)]


class ActionPauseIntake(Action):
    """The resident leaves mid-form (转人工, 再见): close the form, keep what they said for later."""

    def name(self) -> Text:
        return "action_pause_intake"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        spec = pending_intake(tracker)
        if spec is not None:
            dispatcher.utter_message(
                text=f"您已填写的{spec.name_zh}信息先为您保留（尚未提交），之后说“继续填写”就可以接着办理。")
        return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]


class ActionCancelIntake(Action):
    """取消 outside the form: forget a half-filled intake if there is one."""

    def name(self) -> Text:
        return "action_cancel_intake"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        spec = pending_intake(tracker)
        if spec is not None:
            dispatcher.utter_message(text=f"好的，未完成的{spec.name_zh}已取消，所填信息不会保存。还有其他需要吗？")
            return clear_events()
        dispatcher.utter_message(text="好的，已取消。还有其他需要随时告诉我。")
        return []


# ------------------------------------------------------------------------------------------------ the end: submit
class TicketPlan(NamedTuple):
    category: Optional[str]
    subcategory: Optional[str]
    department: Optional[str]
    deadlines: list[Deadline]


def plan_ticket(ticket_type: str, fields: Mapping[str, Any], created: dt.date) -> TicketPlan:
    """Routing (complaints by their text, others fixed) and deadlines. Sync: loads YAML on first use, so call it
    in a thread."""
    from knowledge.routing import default_taxonomy, route_complaint
    from knowledge.sla import default_policy

    taxonomy = default_taxonomy()
    if ticket_type == "complaint":   # keyword table + learned classifier (first call may train, ~5 s, then cached)
        route = route_complaint(str(fields.get("description") or ""), taxonomy, str(fields.get("address") or ""))
    else:
        route = taxonomy.fixed_route(ticket_type)
    deadlines = [Deadline(d.kind, d.due, d.describe_zh())
                 for d in default_policy().deadlines(ticket_type, created, route.category, route.subcategory)]
    return TicketPlan(route.category, route.subcategory, route.department, deadlines)


def channel_of(tracker: Tracker) -> str:
    meta = (tracker.latest_message or {}).get("metadata") or {}
    channel = meta.get("channel") if isinstance(meta, dict) else None
    return str(channel or tracker.get_latest_input_channel() or "rest")[:32]


def submitted_message(spec: IntakeSpec, ticket: Any, created: bool) -> str:
    if not created:
        lines = [f"您刚才已提交过相同的事项，工单号是 {ticket.number}，不会重复登记。"]
    else:
        lines = [spec.submitted, f"工单号：{ticket.number}"]
    where = ticket.department or "承办部门"
    kind = " · ".join(p for p in (ticket.category, ticket.subcategory) if p)
    lines.append(f"承办部门：{where}" + (f"（{kind}）" if kind and ticket.type == "complaint" else ""))
    if len(ticket.deadlines) == 1:
        lines.append(f"接下来：{ticket.deadlines[0].description}。")
    elif ticket.deadlines:
        lines.append("接下来：")
        lines += [f"· {d.description}；" for d in ticket.deadlines[:-1]] + [f"· {ticket.deadlines[-1].description}。"]
    if ticket.anonymous and ticket.query_code:
        lines.append(f"查询码：{ticket.query_code}（匿名举报凭查询码查询进度，请截图或记下来，我们不会再次显示）")
    lines.append("发送工单号或“查询进度”可以随时查看办理情况。")
    return "\n".join(lines)


UNAVAILABLE = ("抱歉，系统暂时无法保存，您的{name}**没有**提交成功，也没有生成工单号。您填写的信息已为您保留，"
               "请稍后点“重试”；如情况紧急，请拨打12345热线。")


class ActionFinishIntake(Action):
    """After the form: file the confirmed ticket (idempotently), or close a cancelled / declined intake.

    Also runs on 重试 and on a second click of 提交: the same slots give the same submission key, so the store
    answers with the ticket already filed instead of making a second one.
    """

    def name(self) -> Text:
        return "action_finish_intake"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        spec = spec_for(tracker.get_slot(TYPE_SLOT))
        stop = tracker.get_slot(STOP_SLOT)
        if spec is not None and stop == "cancelled":
            dispatcher.utter_message(text=f"好的，已取消本次{spec.name_zh}，您填写的信息不会保存。还有其他需要吗？")
            return clear_events()
        if spec is not None and stop == "litigation":
            dispatcher.utter_message(
                text="这件事已经进入诉讼、仲裁或行政复议程序，应当通过这些法定途径解决，信访部门依法不予受理，"
                     "所以这次没有为您登记信访。如果您需要律师帮助，可以申请法律援助。",
                buttons=[{"title": "申请法律援助", "payload": "/legal_aid"}])
            return clear_events()
        if spec is None or stop or not tracker.get_slot(CONFIRM_SLOT):
            dispatcher.utter_message(text="好的。还有其他需要随时告诉我。")
            return clear_events() if stop else []
        filed = tracker.get_slot(TICKET_SLOT)
        if filed:
            # a replayed 提交 (or 重试) after the ticket was filed: never a second ticket, however late — the
            # store's dedup window is only a backstop. The answers are forgotten: a new request starts afresh.
            dispatcher.utter_message(
                text=f"您刚才已提交过相同的事项，工单号是 {filed}，不会重复登记。"
                     f"如需再反映新的问题，请重新告诉我具体情况。")
            return clear_events() + [SlotSet(LAST_TICKET_SLOT, filed)]
        return await self.submit(dispatcher, tracker, spec)

    async def submit(self, dispatcher: CollectingDispatcher, tracker: Tracker, spec: IntakeSpec) -> List[EventType]:
        from cases.registry import get_case_stores

        values = slot_values(tracker, spec)
        fields = spec.ticket_fields(values)
        anonymous = bool(spec.allows_anonymous and values.get(ANONYMOUS_SLOT))
        retry = [{"title": "重试", "payload": AFFIRM}]
        try:
            plan = await asyncio.to_thread(plan_ticket, spec.ticket_type, fields, today())
            new = NewTicket(type=spec.ticket_type, sender_id=tracker.sender_id, channel=channel_of(tracker),
                            fields=fields, submission_key=submission_key(spec.ticket_type, tracker.sender_id, fields),
                            anonymous=anonymous, category=plan.category, subcategory=plan.subcategory,
                            department=plan.department, deadlines=plan.deadlines)
            store = await get_case_stores().for_type(spec.ticket_type)
            result = await store.create(new)
        except CaseStoreUnavailable as exc:
            log.warning("intake %s of %s not stored: case store unavailable (%s)", spec.ticket_type,
                        tracker.sender_id, exc)
            dispatcher.utter_message(text=UNAVAILABLE.format(name=spec.name_zh), buttons=retry)
            return []
        except Exception:  # a bug must not look like success: the resident is told it was not stored
            log.exception("intake %s not stored: unexpected error", spec.ticket_type)
            dispatcher.utter_message(text=UNAVAILABLE.format(name=spec.name_zh), buttons=retry)
            return []
        ticket = result.ticket
        log.info("intake %s: ticket %s %s", spec.ticket_type, ticket.number,
                 "created" if result.created else "already existed")
        dispatcher.utter_message(text=submitted_message(spec, ticket, result.created))
        return [SlotSet(TICKET_SLOT, ticket.number), SlotSet(LAST_TICKET_SLOT, ticket.number)]


def _close_case_stores_with_the_server() -> None:
    """Close the case stores when the action server stops. aiosqlite keeps a non-daemon thread per pooled
    connection, so without this the action server would not exit on SIGTERM once a ticket was filed."""
    try:
        from sanic import Sanic

        app = Sanic.get_app("rasa_sdk")      # created by rasa_sdk before it imports this package
    except Exception:   # not inside the action server (tests, tools): nothing to hook
        return
    if getattr(app.ctx, "bianmin_case_stores_hook", False):
        return
    app.ctx.bianmin_case_stores_hook = True

    async def close(*_: Any) -> None:
        from cases.registry import close_case_stores

        await close_case_stores()

    app.register_listener(close, "after_server_stop")


_close_case_stores_with_the_server()
