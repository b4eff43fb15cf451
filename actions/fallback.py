"""Two-stage fallback in Chinese: offer the likeliest readings as buttons, then ask to rephrase,
then offer a person. Also polite replies to unreadable input."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import record_fallback_question

#: How each intent is offered back to the resident when we are not sure what they meant.
INTENT_READINGS: Dict[str, str] = {
    "complaint": "投诉或反映问题",
    "petition": "信访（征地拆迁、反映干部或部门问题等）",
    "legal_aid": "申请法律援助",
    "service_enquiry": "咨询办事流程",
    "progress_query": "查询工单进度",
    "human_handoff": "转人工服务",
    "greet": "打个招呼",
    "goodbye": "结束对话",
    "thanks": "表示感谢",
}
MAX_READINGS = 3

BAD_INPUT_RESPONSES = {
    "empty": "utter_bad_input_empty",
    "no_chinese": "utter_bad_input_no_chinese",
    "emoji": "utter_bad_input_emoji",
    "markup": "utter_bad_input_markup",
}


def likely_readings(intent_ranking: List[Dict[str, Any]], limit: int = MAX_READINGS) -> List[str]:
    """Top intents we can offer as buttons (skipping fallback and intents with no reading)."""
    out = []
    for item in intent_ranking:
        name = item.get("name")
        if name in INTENT_READINGS and name not in out:
            out.append(name)
        if len(out) == limit:
            break
    return out


class ActionAskAffirmation(Action):
    """First stage: '您是想……吗？' with the 2–3 likeliest readings; '都不是' leads to a rephrase request."""

    def name(self) -> Text:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        ranking = tracker.latest_message.get("intent_ranking", [])
        readings = likely_readings(ranking) or ["complaint", "service_enquiry", "human_handoff"]
        buttons = [{"title": INTENT_READINGS[i], "payload": f"/{i}"} for i in readings]
        buttons.append({"title": "都不是", "payload": "/out_of_scope"})
        dispatcher.utter_message(text="我不太确定您的意思，您是想办理下面哪一项？", buttons=buttons)
        return []


class ActionDefaultFallback(Action):
    """Last stage: apologise and offer a person; the unreadable message is taken back from the dialogue."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        await record_fallback_question(tracker)   # admins see what the assistant could not answer
        dispatcher.utter_message(response="utter_default")
        return [UserUtteranceReverted()]


class ActionHandleBadInput(Action):
    def name(self) -> Text:
        return "action_handle_bad_input"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        issue = next(tracker.get_latest_entity_values("input_issue"), "empty")
        dispatcher.utter_message(response=BAD_INPUT_RESPONSES.get(issue, "utter_bad_input_empty"))
        return []
