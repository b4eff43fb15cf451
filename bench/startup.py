"""Time from `bianmin run` to the first reply through the web app, and each process's resident memory.

Runs twice against one temporary var/: "cold" (empty state: databases created, FAQ seeded, model
unpacked for the first time) and "warm" (state already there). Ports are free ephemeral ones.
Writes var/reports/startup.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench.common import write_report
from bianmin.spawn import spawn_assistant


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def one_start(var: Path) -> dict:
    body = json.dumps({"sender": f"web-{uuid.uuid4()}", "message": "你好"}).encode()
    t0 = time.perf_counter()
    with spawn_assistant(var, wait=False) as run:   # the clock runs from the moment `bianmin run` starts
        while True:
            if run.proc.poll() is not None:
                raise SystemExit(f"bianmin run exited with {run.proc.returncode}")
            try:
                req = urllib.request.Request(run.web_url + "/api/chat", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    if resp.status == 200 and json.loads(resp.read())["messages"]:
                        break
            except OSError:
                time.sleep(0.25)
        first_reply = time.perf_counter() - t0
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(run.proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        names = {}
        for pid in children:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            name = "rasa" if b"rasa" in cmd and b"run" in cmd else "actions" if b"rasa_sdk" in cmd else "web"
            names[name] = rss_mb(pid)
        names["supervisor"] = rss_mb(run.proc.pid)
        return {"first_reply_s": round(first_reply, 1), "rss_mb": names}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        result = {"cold": one_start(var), "warm": one_start(var)}
    path = write_report("startup", result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"Report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
