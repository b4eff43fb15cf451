"""End-to-end conversations against the real trained model (Rasa REST channel + action server)."""
import pytest

from tests.conftest import new_sender

pytestmark = pytest.mark.stack


def texts(messages):
    return " ".join(m.get("text", "") for m in messages)


def test_greeting_offers_every_service(stack):
    replies = stack.chat(new_sender(), "你好")
    assert "便民" in texts(replies)
    payloads = {b["payload"] for m in replies for b in m.get("buttons", [])}
    assert {"/complaint", "/petition", "/legal_aid", "/service_enquiry", "/progress_query", "/human_handoff"} <= payloads


def test_thanks_and_goodbye(stack):
    sender = new_sender()
    assert "不客气" in texts(stack.chat(sender, "太感谢了"))
    assert "再见" in texts(stack.chat(sender, "好的拜拜")) or "祝您" in texts(stack.chat(sender, "再见"))


def test_out_of_scope_is_declined_politely(stack):
    reply = texts(stack.chat(new_sender(), "明天北京天气怎么样"))
    assert "服务范围" in reply


@pytest.mark.parametrize("text,expected", [
    ("", "没有输入"),
    ("     ", "没有输入"),
    ("😀😀😀", "表情"),
    ("hello can you help me", "中文"),
    ("<script>alert('x')</script>", "网页代码"),
    ("\x00\x07\x1b", "没有输入"),
])
def test_bad_input_gets_a_polite_chinese_reply(stack, text, expected):
    reply = texts(stack.chat(new_sender(), text))
    assert expected in reply


def test_very_long_message_is_answered(stack):
    long_text = "我家楼下的饭店每天晚上都很吵，油烟也很大，" * 250  # ~5,000 characters
    replies = stack.chat(new_sender(), long_text[:5000])
    assert replies and all(m.get("text") for m in replies)


VAGUE = ["那个东西", "嗯嗯就是那个", "这个怎么弄", "然后呢", "就那个事", "哎", "你看着办吧", "还是那样", "怎么说呢", "咋整"]


def first_unclear(stack):
    """A vague message the model really scores below the fallback threshold (so the test can fail)."""
    import json
    import urllib.request

    for text in VAGUE:
        req = urllib.request.Request(f"{stack.rasa_url}/model/parse", data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            if json.loads(resp.read())["intent"]["name"] == "nlu_fallback":
                return text
    pytest.fail("none of the vague messages falls below the NLU fallback threshold")


def test_unclear_message_offers_readings_then_rephrase_then_person(stack):
    sender = new_sender()
    first = stack.chat(sender, first_unclear(stack))
    buttons = [b for m in first for b in m.get("buttons", [])]
    assert buttons, first
    assert buttons[-1]["payload"] == "/out_of_scope" and "都不是" in buttons[-1]["title"]
    assert 2 <= len(buttons) <= 4
    second = stack.chat(sender, "/out_of_scope")
    assert "换个说法" in texts(second)
    third = stack.chat(sender, first_unclear(stack))
    fourth = stack.chat(sender, "/out_of_scope") if any(m.get("buttons") for m in third) else third
    assert "转人工" in {b["title"] for m in fourth for b in m.get("buttons", [])}
