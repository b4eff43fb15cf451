"""A throw-away assistant: `bianmin run` as a child process on free ports with its own var/.

The test suite and the benchmarks exercise the real processes exactly as `make run` starts them; this is the
one place that knows how to start such a copy, tell when it is ready and stop it like Ctrl-C.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from bianmin.settings import REPO_ROOT

#: What the supervisor prints once every child answers (bianmin/supervisor.py).
READY_MARK = "已就绪"
PORT_VARS = ("BIANMIN_WEB_PORT", "BIANMIN_RASA_PORT", "BIANMIN_ACTION_PORT")
#: Values derived from the ports and var/; inherited ones would point at another instance.
DERIVED_VARS = ("BIANMIN_RASA_URL", "BIANMIN_ACTION_URL", "BIANMIN_DATABASE_URL", "BIANMIN_TRACKER_DB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Spawned:
    proc: subprocess.Popen
    ports: dict[str, int]
    var: Path
    env: dict[str, str]
    log: Path

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['BIANMIN_WEB_PORT']}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['BIANMIN_RASA_PORT']}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['BIANMIN_ACTION_PORT']}"


def wait_ready(proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    """Until the supervisor reports ready; RuntimeError (with the log's tail) if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bianmin run exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if READY_MARK in log.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"bianmin run was not ready after {timeout}s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGINT like Ctrl-C (the supervisor stops its children); the whole process group if that hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def spawn_assistant(var: Path, extra_env: Optional[dict[str, str]] = None, *,
                    wait: bool = True) -> Iterator[Spawned]:
    """`bianmin run` with ``var`` as its state directory; ``wait=False`` yields as soon as it is started."""
    var.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in PORT_VARS}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "BIANMIN_VAR": str(var),
           "BIANMIN_HOME": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    for key in DERIVED_VARS:
        env.pop(key, None)
    log = var / "supervisor.out"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "bianmin.cli", "run"], cwd=REPO_ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if wait:
            wait_ready(proc, log)
        yield Spawned(proc=proc, ports=ports, var=var, env=env, log=log)
    finally:
        stop(proc)
