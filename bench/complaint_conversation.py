"""Latency of a whole complaint conversation through Rasa's REST channel on a running assistant.

Each conversation is what a resident types to file a complaint step by step — request, description, place,
time, phone, name, 提交 — through NLU, dialogue policies, the intake form's action server round trips and
the case store write. Every conversation must end with a ticket number (the run fails otherwise).
Reports per-message and per-conversation p50/p95 (and conversations per second with --concurrency > 1).

Usage:
  python -m bench.complaint_conversation [--n 30] [--concurrency 1] [--rasa-url http://127.0.0.1:5005]
  python -m bench.complaint_conversation --spawn     # start `bianmin run` on free ports with a temporary var/
Writes var/reports/complaint_conversation.json.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import aiohttp

from bench.common import summary_ms, write_report
from bianmin.spawn import spawn_assistant

PLACES = ["朝阳区建国路88号", "海淀区中关村大街27号", "西城区月坛南街12号", "东城区东直门南大街5号", "丰台区丰台北路18号院"]
PROBLEMS = ["楼下烧烤店每天营业到凌晨两点 油烟和噪音很大", "小区门口的路灯坏了一个多月没人修", "马路中间一个大坑 已经有人摔倒了",
            "工地晚上十一点了还在打桩", "垃圾站三天没人清运 臭气熏天"]


def script(i: int) -> list[str]:
    """One resident's messages; the description is unique so no submission is a duplicate."""
    return ["我要投诉", f"{PROBLEMS[i % len(PROBLEMS)]}（第{i}户反映）", PLACES[i % len(PLACES)], "持续一个多月了",
            f"138{i % 10000:04d}{(i * 7919) % 10000:04d}", "不留", "/affirm"]


async def converse(http: aiohttp.ClientSession, rasa_url: str, i: int) -> tuple[list[float], float, str]:
    sender = f"bench-{uuid.uuid4()}"
    turns: list[float] = []
    started = time.perf_counter()
    last = ""
    for message in script(i):
        t0 = time.perf_counter()
        async with http.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}) as r:
            r.raise_for_status()
            replies = await r.json()
        turns.append(time.perf_counter() - t0)
        last = "\n".join(m.get("text") or "" for m in replies)
    m = re.search(r"工单号：(TS\d{8}-\d{4,})", last)
    if not m:
        raise RuntimeError(f"conversation {i} did not end with a ticket number:\n{last}")
    return turns, time.perf_counter() - started, m.group(1)


async def run(rasa_url: str, n: int, concurrency: int) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await converse(http, rasa_url, 10_000 + os.getpid())     # warm-up (TensorFlow graphs, DB connections)
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> tuple[list[float], float, str]:
            async with sem:
                return await converse(http, rasa_url, i)

        wall0 = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - wall0
    numbers = [r[2] for r in results]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError("two conversations got the same ticket number")
    return {
        "conversations": n, "concurrency": concurrency, "messages_per_conversation": len(script(0)),
        "per_message": summary_ms([t for r in results for t in r[0]]),
        "submit_message": summary_ms([r[0][-1] for r in results]),
        "per_conversation": summary_ms([r[1] for r in results]),
        "conversations_per_second": round(n / wall, 2),
    }


@contextlib.contextmanager
def spawned_stack() -> Iterator[str]:
    """`bianmin run` on free ports with a throw-away var/ (the real processes, as `make run` starts them)."""
    try:
        with spawn_assistant(Path(tempfile.mkdtemp(prefix="bianmin-bench-"))) as run:
            yield run.rasa_url
    except RuntimeError as exc:   # did not start: say why, without a traceback
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="conversations (default 30)")
    parser.add_argument("--concurrency", type=int, default=1, help="conversations at the same time (default 1)")
    parser.add_argument("--rasa-url", default=os.environ.get("BIANMIN_RASA_URL", "http://127.0.0.1:5005"))
    parser.add_argument("--spawn", action="store_true", help="start a throw-away assistant for the run")
    args = parser.parse_args(argv)
    with (spawned_stack() if args.spawn else contextlib.nullcontext(args.rasa_url.rstrip("/"))) as rasa_url:
        print(f"{args.n} complaint conversations through {rasa_url} (concurrency {args.concurrency}) ...", flush=True)
        try:
            result = asyncio.run(run(rasa_url, args.n, args.concurrency))
        except aiohttp.ClientConnectionError as exc:
            raise SystemExit(f"cannot reach Rasa at {rasa_url} ({exc}): start the assistant (`make run`) "
                             "or use --spawn") from exc
    path = write_report("complaint_conversation", result)
    print(result)
    print(f"Report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
