import pytest

from bot.components.input_guard import classify_input


@pytest.mark.parametrize("text,issue", [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("\x00\x01\x02", "empty"),
    ("😀😀🙏", "emoji"),
    ("hello, can you help me?", "no_chinese"),
    ("<script>alert(1)</script>", "markup"),
    ("<b></b>", "markup"),
    ("13812345678", None),
    ("TS20261120-0007", None),
    ("<b>我要投诉</b>", None),
    ("楼下太吵了😡", None),
    ("投" * 5000, None),
])
def test_classify_input(text, issue):
    assert classify_input(text) == issue
