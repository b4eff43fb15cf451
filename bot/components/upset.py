"""Notices a clearly upset resident (气死了、太过分了、😡😡、你们到底管不管) so the assistant can offer a person.

A small lexicon, not a classifier: strong phrases score 2, milder ones, angry emoji and runs of exclamation
marks score 1; a message scoring ``threshold`` (2) or more is upset. Runs after ``InputGuard`` (so "😡😡", which
the guard calls emoji-only, still counts) and only then changes the intent to ``express_upset`` when the
message carries no request we can act on:

- the resident already asks for a person (``human_handoff``): kept;
- apart from the angry words there is a substantial request (≥ ``min_content_chars`` Chinese characters) and
  the message was read as a request intent: kept, so "气死了 楼下装修吵了一个月" still starts a complaint.
  "Read as" means it survived the FallbackClassifier before us (an unsure reading is already ``nlu_fallback``);
  ``request_confidence`` (default 0) can demand more, independent of how the classifier is calibrated;
- otherwise the intent becomes ``express_upset`` and the rule answers with an offer of a person.

Payloads ("/human_handoff") are never touched.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.normalizers import strip_control, to_halfwidth

UPSET_INTENT = "express_upset"
REQUEST_INTENTS = frozenset({"complaint", "petition", "legal_aid", "service_enquiry", "progress_query"})
KEEP_INTENTS = frozenset({"human_handoff"})

#: Phrases that on their own show strong anger or despair with the service.
STRONG = (
    "气死", "气炸", "太过分", "欺人太甚", "忍无可忍", "到底管不管", "到底有没有人管", "还管不管", "管不管了",
    "投诉无门", "太气人", "什么破", "垃圾系统", "垃圾服务", "垃圾政府", "简直是垃圾", "烦死了",
    "受够了", "无语死了", "岂有此理", "糊弄人", "要逼死", "逼死人", "没法活了", "火大",
    "太欺负人", "恶心死了", "有完没完",
)
#: Milder signs; two of them (or one with an angry emoji / "!!!") make a message upset.
MILD = (
    "生气", "愤怒", "太差劲", "太差了", "失望", "无语", "离谱", "过分", "窝火", "憋屈", "一直没人理",
    "没人理", "敷衍", "到底", "凭什么", "踢皮球", "没人管吗",
)
ANGRY_EMOJI = ("😡", "🤬", "😠", "💢", "👿", "😤", "🖕")
_EXCLAIM_RUN = re.compile(r"[!！]{3,}")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


_PHRASES = sorted([(p, 2) for p in STRONG] + [(p, 1) for p in MILD], key=lambda pw: len(pw[0]), reverse=True)


def _strip_phrases(text: str) -> tuple[str, int]:
    """``text`` without the angry phrases (longest first, so "一直没人理" is not also "没人理"), and their score."""
    t = to_halfwidth(strip_control(text or ""))
    score = 0
    for phrase, weight in _PHRASES:
        if phrase in t:
            score += weight
            t = t.replace(phrase, " ")
    return t, score


def upset_score(text: str) -> int:
    """Lexicon score of ``text`` (0 = calm)."""
    rest, score = _strip_phrases(text)
    score += sum(rest.count(e) for e in ANGRY_EMOJI)
    score += len(_EXCLAIM_RUN.findall(rest))
    return score


def content_chars(text: str) -> int:
    """Chinese characters left once the angry words are taken out (how much of a request there is)."""
    return len(_CJK.findall(_strip_phrases(text)[0]))


def is_upset(text: str, threshold: int = 2) -> bool:
    return upset_score(text) >= threshold


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class UpsetDetector(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"threshold": 2, "min_content_chars": 6, "request_confidence": 0.0}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.threshold = int(config.get("threshold", 2))
        self.min_content_chars = int(config.get("min_content_chars", 6))
        self.request_confidence = float(config.get("request_confidence", 0.0))

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "UpsetDetector":
        return cls({**cls.get_default_config(), **config})

    def decide(self, text: str, intent: Optional[Dict[str, Any]]) -> bool:
        """True when the message should become ``express_upset``."""
        if not text or text.startswith("/") or not is_upset(text, self.threshold):
            return False
        name = (intent or {}).get(INTENT_NAME_KEY)
        if name in KEEP_INTENTS:
            return False
        confidence = float((intent or {}).get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        if name in REQUEST_INTENTS and confidence >= self.request_confidence \
                and content_chars(text) >= self.min_content_chars:
            return False
        return True

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if not self.decide(message.get(TEXT) or "", message.get(INTENT)):
                continue
            intent = {INTENT_NAME_KEY: UPSET_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent, *[i for i in message.get(INTENT_RANKING_KEY) or []
                                                       if i.get(INTENT_NAME_KEY) != UPSET_INTENT]][:10],
                        add_to_output=True)
        return messages

    def process_training_data(self, training_data: Any) -> Any:
        return training_data
