"""Fault tests against a real assistant (`bianmin run`): a child process is SIGKILLed mid-conversation and the
supervisor restarts it. The resident must neither lose a ticket nor get two, and must continue where they were."""
from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from tests.conftest import Stack, new_sender, running_stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: these tests kill its children."""
    with running_stack(tmp_path_factory, "faults_var") as s:
        yield s


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def child(stack: Stack, name: str) -> int:
    """PID of the supervisor's child running ``name`` ("rasa" server or "actions" server)."""
    for pid in stack.child_pids():
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        is_actions = "rasa_sdk" in cmd or " actions" in cmd
        if (name == "actions") == is_actions and (name != "rasa" or " run" in cmd and "web" not in cmd):
            return pid
    raise AssertionError(f"no {name} child among {stack.child_pids()}")


def wait_up(url: str, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    raise AssertionError(f"{url} did not come back within {timeout}s")


def kill_and_wait_restart(stack: Stack, name: str, health: str) -> None:
    pid = child(stack, name)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and pid in stack.child_pids():
        time.sleep(0.2)
    wait_up(health)
    assert child(stack, name) != pid


def test_rasa_restarts_mid_form_and_the_resident_continues_where_they_were(fault_stack: Stack) -> None:
    sender = new_sender("fault")
    assert "发生了什么" in texts(fault_stack.chat(sender, "我要投诉"))
    assert "发生在哪里" in texts(fault_stack.chat(sender, "小区门口的路灯坏了一个多月没人修"))
    kill_and_wait_restart(fault_stack, "rasa", f"{fault_stack.rasa_url}/")
    assert "什么时候" in texts(fault_stack.chat(sender, "朝阳区建国路88号"))     # the next question, not a restart
    slots = fault_stack.tracker(sender)["slots"]
    assert slots["intake_description"] == "小区门口的路灯坏了一个多月没人修"
    assert slots["intake_address"] == "朝阳区建国路88号"

