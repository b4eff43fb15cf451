"""Shared fixtures. The `stack` fixture runs the real assistant — `bianmin run` (supervisor, action server,
Rasa with the trained model, web app) — on free ports with a temporary var/, once per test session."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

from bianmin.spawn import free_port, spawn_assistant

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "bianmin.tar.gz"
CHROMIUM = os.environ.get("BIANMIN_CHROMIUM", "/usr/bin/chromium")


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """An aiohttp app served on a free local port for the duration of the block: its base URL."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Stack:
    web_url: str
    rasa_url: str
    action_url: str
    var: Path
    env: dict[str, str]
    proc: subprocess.Popen

    def child_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def chat(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One resident message through Rasa's REST channel; returns the bot's messages."""
        import urllib.request

        body = {"sender": sender, "message": text, **({"metadata": metadata} if metadata else {})}
        req = urllib.request.Request(f"{self.rasa_url}/webhooks/rest/webhook", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def tracker(self, sender: str) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.rasa_url}/conversations/{sender}/tracker", timeout=30) as resp:
            return json.loads(resp.read())


def new_sender(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4()}"


def web_sender() -> str:
    return f"web-{uuid.uuid4()}"


#: Every test assistant answers as if the hotline were staffed: queueing must not depend on the hour the
#: tests run at (BIANMIN_WORKING_HOURS is read by the action server at start).
STACK_ENV = {"BIANMIN_WORKING_HOURS": "always", "BIANMIN_HANDOFF_AVG_MINUTES": "6"}


@contextlib.contextmanager
def running_stack(tmp_path_factory: pytest.TempPathFactory, name: str,
                  extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`bianmin run` on free ports with its own var/ and ``extra_env``; stopped with SIGINT like Ctrl-C."""
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train` (make test does it for you).")
    with spawn_assistant(tmp_path_factory.mktemp(name), {**STACK_ENV, **(extra_env or {})}) as run:
        yield Stack(web_url=run.web_url, rasa_url=run.rasa_url, action_url=run.action_url, var=run.var,
                    env=run.env, proc=run.proc)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory, "var") as s:
        yield s


@pytest.fixture(scope="session")
def handoff_stack(stack: Stack) -> Stack:
    """Hotline handoff (issue 6) runs on the main stack, which is always staffed (STACK_ENV)."""
    return stack


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium driven by Playwright (no browser download).

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in the main thread while
    it is open, which would break every later async test and `asyncio.run()` in the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install chromium` (.ci/run does it).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


# ---------------------------------------------------------------------------------------------------------------
# Intake (issue 4): a second assistant whose complaint store is an external case system that is down (nothing
# listens on BIANMIN_CASE_HTTP_URL), for "the ticket was NOT stored" end to end.
STORE_DOWN_STACK_ENV = {"BIANMIN_CASE_STORE_COMPLAINT": "http", "BIANMIN_CASE_HTTP_RETRIES": "1",
                        "BIANMIN_CASE_HTTP_TIMEOUT": "2"}


@pytest.fixture(scope="session")
def store_down_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {**STORE_DOWN_STACK_ENV, "BIANMIN_CASE_HTTP_URL": f"http://127.0.0.1:{free_port()}"}  # a closed port
    with running_stack(tmp_path_factory, "store_down_var", env) as s:
        yield s
