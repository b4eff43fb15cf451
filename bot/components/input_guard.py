"""Marks messages the assistant cannot read as intent ``bad_input`` with an ``input_issue`` entity.

Runs last in the NLU pipeline. Issues: ``empty`` (nothing but whitespace/control characters), ``markup``
(only HTML/script), ``emoji`` (only emoji/symbols), ``no_chinese`` (e.g. English). Digits and ticket numbers
are readable (form answers), so they pass.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.normalizers import strip_control

_TAG = re.compile(r"<[^>]{0,200}>|&[a-z]{2,8};|&#\d{1,6};", re.IGNORECASE)
_SCRIPT = re.compile(r"<(script|style)[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9０-９]")


def classify_input(text: Optional[str]) -> Optional[str]:
    """The issue with ``text``, or None when it is readable."""
    cleaned = strip_control(text or "").strip()
    if not cleaned:
        return "empty"
    if _CJK.search(cleaned):
        return None
    had_markup = bool(_TAG.search(cleaned))
    body = _TAG.sub(" ", _SCRIPT.sub(" ", cleaned)).strip()
    if had_markup and not (_CJK.search(body) or _DIGIT.search(body)):
        return "markup"
    if _DIGIT.search(body):
        return None
    if _LATIN.search(body):
        return "no_chinese"
    return "emoji" if body else "markup"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class InputGuard(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "InputGuard":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text is not None and text.startswith("/"):
                continue
            issue = classify_input(text)
            if issue is None:
                continue
            intent = {"name": "bad_input", "confidence": 1.0}
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != "input_issue"]
            entities.append({"entity": "input_issue", "value": issue, "start": 0, "end": len(text or ""),
                             "extractor": "InputGuard"})
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: Any) -> Any:
        return training_data
