"""Details given with no form open (read as `inform`) start the likeliest request's intake."""
import copy

from actions.intake import ActionStartIntake, likeliest_request_type
from tests.test_actions_intake import fixture, run, slots_of

KTV = "上周三晚上楼下KTV吵到半夜 我住朝阳区建国路88号3栋501 电话13812345678"


def message(ranking):
    return {"text": KTV, "intent": ranking[0], "intent_ranking": ranking, "entities": []}


def test_likeliest_request_type_skips_non_requests():
    ranking = [{"name": "inform", "confidence": 0.58}, {"name": "greet", "confidence": 0.2},
               {"name": "complaint", "confidence": 0.15}, {"name": "petition", "confidence": 0.05}]
    assert likeliest_request_type(message(ranking)) == "complaint"
    # the classifier saw only details, but the routing lexicon knows a noise complaint when it sees one
    assert likeliest_request_type(message([{"name": "inform", "confidence": 0.99},
                                           {"name": "petition", "confidence": 0.01}])) == "complaint"
    no_topic = {"text": "我叫王芳 电话13812345678", "intent_ranking": [{"name": "inform", "confidence": 0.99}]}
    assert likeliest_request_type(no_topic) is None


async def test_inform_outside_a_form_starts_the_likeliest_intake():
    from rasa_sdk import Tracker

    state = copy.deepcopy(fixture("complaint_opening.json"))
    state["active_loop"] = {}
    state["latest_message"] = message([{"name": "inform", "confidence": 0.58}, {"name": "complaint", "confidence": 0.3}])
    events, messages = await run(ActionStartIntake(), Tracker.from_dict(state))
    assert slots_of(events).get("intake_type") == "complaint"
    assert messages  # the intake's introduction


async def test_inform_with_no_plausible_request_asks_which_one():
    from rasa_sdk import Tracker

    state = copy.deepcopy(fixture("complaint_opening.json"))
    state["active_loop"] = {}
    state["latest_message"] = {"text": "我叫王芳 电话13812345678", "intent": {"name": "inform", "confidence": 0.99},
                               "intent_ranking": [{"name": "inform", "confidence": 0.99}], "entities": []}
    events, messages = await run(ActionStartIntake(), Tracker.from_dict(state))
    assert {b["payload"] for m in messages for b in m.get("buttons") or []} >= {"/complaint", "/petition", "/legal_aid"}
