"""The upset detector in the NLU pipeline (bot/components/upset.py): who gets offered a person."""
import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.upset import UPSET_INTENT, UpsetDetector, content_chars, is_upset, upset_score


@pytest.mark.parametrize("text", ["气死了", "太过分了！", "😡😡", "你们到底管不管", "太差了！！！", "受够了 一直没人理",
                                  "什么破服务", "气死我了！！！😡"])
def test_clearly_upset(text: str) -> None:
    assert is_upset(text), upset_score(text)


@pytest.mark.parametrize("text", ["你好", "楼下太吵了😡", "到底怎么办理居住证", "我要投诉！！！", "一直没人理",
                                  "谢谢", "😀😀", "请问社保卡丢了怎么补办"])
def test_calm_or_only_a_little_annoyed(text: str) -> None:
    assert not is_upset(text), upset_score(text)


def test_nested_phrases_count_once() -> None:
    assert upset_score("一直没人理") == 1        # not also 没人理
    assert upset_score("你们到底管不管") == 2     # not also 到底


def test_content_left_after_the_angry_words() -> None:
    assert content_chars("气死了") <= 1
    assert content_chars("气死了 楼下装修吵了一个月 你们到底管不管") >= 8


def message(text: str, intent: str, confidence: float) -> Message:
    m = Message(data={TEXT: text})
    m.set(INTENT, {"name": intent, "confidence": confidence})
    m.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence}])
    return m


@pytest.mark.parametrize("text,intent,confidence,expected", [
    ("气死了", "nlu_fallback", 0.4, UPSET_INTENT),
    ("😡😡", "bad_input", 1.0, UPSET_INTENT),                           # after InputGuard
    ("你们到底管不管", "complaint", 0.95, UPSET_INTENT),                 # nothing to file
    ("气死了 楼下装修吵了一个月 你们到底管不管", "complaint", 0.9, "complaint"),   # a request we can act on
    ("气死了 楼下装修吵了一个月 你们到底管不管", "nlu_fallback", 0.5, UPSET_INTENT),  # unsure what they want
    ("气死我了 你们人工客服到底在哪", "human_handoff", 0.9, "human_handoff"),     # already asks for a person
    ("/human_handoff", "human_handoff", 1.0, "human_handoff"),
    ("楼下太吵了", "complaint", 0.9, "complaint"),
])
def test_pipeline_component(text: str, intent: str, confidence: float, expected: str) -> None:
    component = UpsetDetector({**UpsetDetector.get_default_config()})
    [m] = component.process([message(text, intent, confidence)])
    assert m.get(INTENT)["name"] == expected
    if expected == UPSET_INTENT:
        assert m.get(INTENT_RANKING_KEY)[0]["name"] == UPSET_INTENT
        assert any(i["name"] == intent for i in m.get(INTENT_RANKING_KEY))   # the reading is kept for later


def test_a_minimum_request_confidence_can_be_required() -> None:
    component = UpsetDetector({**UpsetDetector.get_default_config(), "request_confidence": 0.7})
    [unsure] = component.process([message("气死了 楼下装修吵了一个月 你们到底管不管", "complaint", 0.5)])
    [sure] = component.process([message("气死了 楼下装修吵了一个月 你们到底管不管", "complaint", 0.9)])
    assert unsure.get(INTENT)["name"] == UPSET_INTENT and sure.get(INTENT)["name"] == "complaint"
