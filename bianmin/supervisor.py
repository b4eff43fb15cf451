"""`bianmin run`: start, watch and stop the three local processes.

Each child runs in its own process group with PR_SET_PDEATHSIG, so neither Ctrl-C nor a killed supervisor
leaves orphans. Child output is masked (phone/ID numbers) line by line and written to var/log/<name>.log.
A child that dies is restarted with back-off; one that keeps dying stops the whole assistant.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bianmin.pii import mask_text
from bianmin.settings import Settings

RESTART_LIMIT = 5          # crashes ...
RESTART_WINDOW = 120.0     # ... within this many seconds stop everything
READY_TIMEOUT = 240.0      # Rasa loads TensorFlow and the model: allow for a slow first start
STOP_GRACE = 10.0


@dataclass
class ProcessSpec:
    name: str
    title: str
    argv: list[str]
    url: str
    health_url: str
    env: dict[str, str] = field(default_factory=dict)


def process_specs(settings: Settings) -> list[ProcessSpec]:
    """The three processes of local mode, in start order (Rasa needs the action server)."""
    py = sys.executable
    base_env = settings.child_env()
    rasa_argv = [
        py, "-m", "rasa", "run",
        "--model", str(settings.model),
        "--enable-api",
        "-i", settings.rasa_interface,
        "-p", str(settings.rasa_port),
        "--endpoints", str(settings.rasa_endpoints),
        "--credentials", str(settings.home / "bot" / "credentials.yml"),
    ]
    if settings.rasa_token:
        rasa_argv += ["--auth-token", settings.rasa_token]
    return [
        ProcessSpec(
            name="actions",
            title="动作服务器 action server (rasa-sdk)",
            argv=[py, "-m", "rasa_sdk", "--actions", "actions", "-p", str(settings.action_port)],
            url=f"http://{settings.host}:{settings.action_port}/webhook",
            health_url=f"http://127.0.0.1:{settings.action_port}/health",
            env={**base_env, "SANIC_HOST": settings.host},
        ),
        ProcessSpec(
            name="rasa",
            title="Rasa 服务器 (REST channel + HTTP API)",
            argv=rasa_argv,
            url=f"http://{settings.rasa_interface}:{settings.rasa_port}/webhooks/rest/webhook",
            health_url=f"http://127.0.0.1:{settings.rasa_port}/",
            env=base_env,
        ),
        ProcessSpec(
            name="web",
            title="便民 web app (居民聊天 /, 坐席 /staff, 管理 /admin)",
            argv=[py, "-m", "bianmin.cli", "web", "--port", str(settings.web_port)],
            url=f"http://{settings.host}:{settings.web_port}/",
            health_url=f"http://127.0.0.1:{settings.web_port}/healthz",
            env=base_env,
        ),
    ]


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the supervisor dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Child:
    def __init__(self, spec: ProcessSpec, log_dir: Path, echo: bool) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self.echo = echo
        self.proc: asyncio.subprocess.Process | None = None
        self.crashes: list[float] = []
        self._pump: asyncio.Task | None = None

    async def start(self) -> None:
        env = {**os.environ, **self.spec.env, "PYTHONUNBUFFERED": "1"}
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._pump = asyncio.create_task(self._copy_output())

    async def _copy_output(self) -> None:
        assert self.proc and self.proc.stdout
        with self.log_path.open("a", encoding="utf-8") as log:
            while True:
                try:
                    raw = await self.proc.stdout.readline()
                except ValueError:  # a line longer than the stream limit: read what is there
                    raw = await self.proc.stdout.read(65536)
                if not raw:
                    break
                line = mask_text(raw.decode("utf-8", "replace").rstrip("\n"))
                log.write(line + "\n")
                log.flush()
                if self.echo and ("ERROR" in line or "Traceback" in line or "CRITICAL" in line):
                    print(f"[{self.spec.name}] {line}", file=sys.stderr, flush=True)

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except asyncio.TimeoutError:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
        if self._pump:
            await asyncio.wait([self._pump], timeout=2)


async def wait_healthy(url: str, timeout: float, proc: asyncio.subprocess.Process | None = None) -> bool:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        while time.monotonic() < deadline:
            if proc is not None and proc.returncode is not None:
                return False
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return True
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            await asyncio.sleep(0.5)
    return False


class Supervisor:
    def __init__(self, settings: Settings, specs: list[ProcessSpec] | None = None, echo: bool = True) -> None:
        self.settings = settings
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.children = [Child(s, settings.log_dir, echo) for s in (specs or process_specs(settings))]
        self.stopping = asyncio.Event()
        self.failed = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stopping.set)
        started = time.monotonic()
        try:
            for child in self.children:
                await child.start()
                ok = await self._wait_ready(child)
                if not ok:
                    print(f"✘ {child.spec.name} 未能启动，日志见 {child.log_path}", file=sys.stderr)
                    self.failed = True
                    return 1
            self._print_banner(time.monotonic() - started)
            watchers = [asyncio.create_task(self._watch(c)) for c in self.children]
            await self.stopping.wait()
            for w in watchers:
                w.cancel()
            return 1 if self.failed else 0
        finally:
            print("正在停止所有进程 (stopping all processes) ...", file=sys.stderr, flush=True)
            for child in reversed(self.children):
                await child.stop()
            print("已全部停止。", file=sys.stderr, flush=True)

    async def _wait_ready(self, child: Child) -> bool:
        ready = asyncio.create_task(wait_healthy(child.spec.health_url, READY_TIMEOUT, child.proc))
        stop = asyncio.create_task(self.stopping.wait())
        done, _ = await asyncio.wait({ready, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if ready not in done:
            ready.cancel()
            return False
        return ready.result()

    async def _watch(self, child: Child) -> None:
        while not self.stopping.is_set():
            assert child.proc
            code = await child.proc.wait()
            if self.stopping.is_set():
                return
            now = time.monotonic()
            child.crashes = [t for t in child.crashes if now - t < RESTART_WINDOW] + [now]
            print(f"⚠ {child.spec.name} 退出 (exit {code})，日志见 {child.log_path}", file=sys.stderr, flush=True)
            if len(child.crashes) >= RESTART_LIMIT:
                print(f"✘ {child.spec.name} 反复崩溃，停止便民。", file=sys.stderr, flush=True)
                self.failed = True
                self.stopping.set()
                return
            await asyncio.sleep(min(2 ** len(child.crashes), 30))
            await child.start()
            await self._wait_ready(child)

    def _print_banner(self, seconds: float) -> None:
        lines = [f"便民 bianmin 已就绪 (ready in {seconds:.1f}s) — 按 Ctrl-C 停止", ""]
        for c in self.children:
            lines.append(f"  {c.spec.name:<8} {c.spec.title}")
            lines.append(f"  {'':<8} {c.spec.url}   日志 {c.log_path}")
        lines += ["", f"  居民聊天页面: http://127.0.0.1:{self.settings.web_port}/", ""]
        print("\n".join(lines), flush=True)


def run(settings: Settings) -> int:
    if not settings.model.exists():
        print(f"找不到模型 {settings.model}，请先运行 `make train`（make run 会自动训练）。", file=sys.stderr)
        return 1
    # the schema is brought to the head revision once, here, before any child opens the database
    from bianmin.db import upgrade_database_url

    asyncio.run(upgrade_database_url(settings.database_url))
    return asyncio.run(Supervisor(settings).run())
