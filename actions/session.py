"""Session start: carry the slots over (as Rasa's default does) and, if an intake was left half-filled, offer to
continue it or start again instead of silently resuming a form from a day ago."""
from __future__ import annotations

from typing import Any, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.intake import REQUESTED_SLOT, pending_intake, slot_values
from actions.progress import TRANSIENT_SLOTS

#: Slots that describe a step in progress, not something to remember across sessions.
NOT_CARRIED = frozenset({REQUESTED_SLOT, *TRANSIENT_SLOTS})


def _carry_over(domain: DomainDict) -> bool:
    config: Any = domain.get("session_config") or {}
    return bool(config.get("carry_over_slots_to_new_session", True))


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        if _carry_over(domain):
            events += [SlotSet(name, value) for name, value in tracker.slots.items()
                       if value is not None and name not in NOT_CARRIED]
            spec = pending_intake(tracker)
            if spec is not None:
                values = slot_values(tracker, spec)
                done = [f.label for f in spec.visible(values) if values.get(f.slot) not in (None, "")]
                dispatcher.utter_message(
                    text=f"您好！您上次的{spec.name_zh}还没有填完（已填写：{'、'.join(done)}），也还没有提交。"
                         "要接着填写，还是重新开始？",
                    buttons=[{"title": f"继续上次未完成的{spec.name_zh}", "payload": "/resume_intake"},
                             {"title": "重新开始", "payload": "/restart_intake"},
                             {"title": "不用了", "payload": "/cancel"}])
        events.append(ActionExecuted("action_listen"))
        return events
