"""`bianmin run` as a process: three children on the configured ports, logs under var/log, no PII in logs,
and a clean stop on Ctrl-C with no orphans (this test stops its own instance)."""
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from bianmin.spawn import spawn_assistant
from tests.conftest import new_sender

pytestmark = pytest.mark.stack


def test_processes_ports_and_logs(stack):
    pids = stack.child_pids()
    assert len(pids) == 3
    for url in (stack.web_url + "/healthz", stack.rasa_url + "/", stack.action_url + "/health"):
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
    for name in ("actions", "rasa", "web"):
        assert (stack.var / "log" / f"{name}.log").exists()
    banner = (stack.var / "supervisor.out").read_text()
    assert "/webhooks/rest/webhook" in banner and "已就绪" in banner


def test_logs_never_hold_plain_phone_or_id(stack):
    sender = new_sender()
    stack.chat(sender, "我叫张伟 电话13812345678 身份证110105199003071235")
    time.sleep(1)
    leak = re.compile(r"(?<!\d)(13812345678|110105199003071235)(?!\d)")
    for log in (stack.var / "log").glob("*.log"):
        assert not leak.search(log.read_text(errors="replace")), log.name


def test_ctrl_c_stops_every_process(tmp_path):
    with spawn_assistant(tmp_path) as run:
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(run.proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        assert len(children) == 3
        os.killpg(run.proc.pid, signal.SIGINT)   # what Ctrl-C in a terminal sends
        assert run.proc.wait(timeout=40) == 0
        for pid in children:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert "已全部停止" in run.log.read_text()
