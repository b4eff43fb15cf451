"""The web app in front of Rasa: chat API, history for page reloads, errors, security headers."""
import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import web_sender

pytestmark = pytest.mark.stack


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_chat_page_is_served_in_chinese(stack):
    status, headers, body = get(stack.web_url + "/")
    assert status == 200 and "便民服务" in body.decode()
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_chat_api_round_trip_and_history(stack):
    sender = web_sender()
    status, data = post(stack.web_url + "/api/chat", {"sender": sender, "message": "/greet", "display": None})
    assert status == 200 and data["messages"]
    status, data = post(stack.web_url + "/api/chat", {"sender": sender, "message": "谢谢"})
    assert status == 200 and "不客气" in data["messages"][0]["text"]
    status, _, body = get(f"{stack.web_url}/api/chat/history?sender={sender}")
    history = json.loads(body)["messages"]
    assert [m["from"] for m in history] == ["bot", "user", "bot"]
    assert history[1]["text"] == "谢谢"


def test_button_titles_are_kept_for_history(stack):
    sender = web_sender()
    post(stack.web_url + "/api/chat", {"sender": sender, "message": "/greet", "display": "你好"})
    status, _, body = get(f"{stack.web_url}/api/chat/history?sender={sender}")
    assert json.loads(body)["messages"][0] == {**json.loads(body)["messages"][0], "from": "user", "text": "你好"}


@pytest.mark.parametrize("body", [
    {"sender": "not-a-web-sender", "message": "你好"},
    {"sender": None, "message": "你好"},
    {"message": "你好"},
    {"sender": "web-00000000-0000-0000-0000-000000000000", "message": 42},
])
def test_bad_requests_get_a_chinese_400(stack, body):
    status, data = post(stack.web_url + "/api/chat", body)
    assert status == 400 and data["error"]


def test_not_json_is_400(stack):
    req = urllib.request.Request(stack.web_url + "/api/chat", data=b"{oops", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400
