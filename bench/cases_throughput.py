"""Ticket creation throughput: tickets/s with 20 concurrent writers through
  * SqlCaseStore on SQLite (a fresh file, WAL, the engine bianmin uses),
  * SqlCaseStore on PostgreSQL (a fresh schema in $BIANMIN_TEST_POSTGRES_URL, dropped afterwards),
  * HttpCaseStore → a real `bianmin web` process (its case API on its own SQLite database).

Every ticket is distinct (own submission key), so each create is the full path: dedup check, number
allocation, ticket + event + key rows, commit. Checks afterwards that all numbers are unique.
Usage: python -m bench.cases_throughput [--n 1000] [--writers 20] [--backends sqlite,postgres,http]
Writes var/reports/cases_throughput.json.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, AsyncIterator

import aiohttp
from sqlalchemy import text

from bench.common import REPO, summary_ms, write_report
from bianmin.db import create_schema, make_engine
from bianmin.spawn import free_port
from cases.http_store import HttpCaseStore
from cases.sql_store import SqlCaseStore
from cases.store import NewTicket

TOKEN = "bench-" + uuid.uuid4().hex


def _ticket(i: int, run: str) -> NewTicket:
    sender = f"web-bench-{run}-{i % 200}"
    return NewTicket(type=("complaint", "petition", "legal_aid")[i % 3], sender_id=sender, channel="webchat",
                     fields={"description": f"小区门口夜间施工噪音扰民，第{i}次反映", "phone": "13812345678",
                             "address": "朝阳区建国路88号"},
                     submission_key=f"bench-{run}-{i:08d}", category="环境保护", department="区生态环境局")


async def _drive(store: Any, n: int, writers: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    for i in range(min(20, n)):           # warm-up: connections, schema caches (not counted)
        await store.create(_ticket(i, run + "w"))
    queue = iter(range(n))
    latencies: list[float] = []
    numbers: list[str] = []
    errors = 0

    async def writer() -> None:
        nonlocal errors
        for i in queue:
            t0 = time.perf_counter()
            try:
                result = await store.create(_ticket(i, run))
            except Exception as exc:  # counted and reported, the run goes on
                errors += 1
                print(f"  error: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            latencies.append(time.perf_counter() - t0)
            numbers.append(result.ticket.number)

    started = time.perf_counter()
    await asyncio.gather(*[writer() for _ in range(writers)])
    wall = time.perf_counter() - started
    if len(set(numbers)) != len(numbers):
        raise SystemExit("duplicate ticket numbers — this is a bug, not a benchmark result")
    return {"tickets": len(numbers), "errors": errors, "seconds": round(wall, 3),
            "tickets_per_second": round(len(numbers) / wall, 1), "latency": summary_ms(latencies or [0.0])}


@contextlib.asynccontextmanager
async def _sqlite() -> AsyncIterator[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await create_schema(engine)
        try:
            yield SqlCaseStore(engine)
        finally:
            await engine.dispose()


@contextlib.asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[Any]:
    schema = f"bianmin_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        await create_schema(engine)
        yield SqlCaseStore(engine)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def _http() -> AsyncIterator[Any]:
    """A separate `bianmin web` process, so client and server do not share one event loop."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIANMIN_CASE_")
               and k != "BIANMIN_DATABASE_URL"}
        env.update({"BIANMIN_VAR": tmp, "BIANMIN_HOME": str(REPO), "BIANMIN_CASE_API_TOKEN": TOKEN,
                    "BIANMIN_LOG_LEVEL": "WARNING"})
        proc = subprocess.Popen([sys.executable, "-m", "bianmin.cli", "web", "--port", str(port)], cwd=REPO,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"{url}/healthz") as r:
                            if r.status == 200:
                                break
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit("the web app did not start")
            store = HttpCaseStore(url, TOKEN, lambda: aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=50)), timeout=30, retries=0)
            try:
                yield store
            finally:
                await store.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    pg_url = args.postgres_url
    for name in args.backends:
        if name == "sqlite":
            opener = _sqlite()
        elif name == "postgres":
            if not pg_url:
                print("postgres: skipped (set BIANMIN_TEST_POSTGRES_URL or --postgres-url)")
                continue
            opener = _postgres(pg_url)
        elif name == "http":
            opener = _http()
        else:
            raise SystemExit(f"unknown backend {name}")
        print(f"{name}: {args.n} tickets, {args.writers} concurrent writers ...", flush=True)
        async with opener as store:
            results[name] = await _drive(store, args.n, args.writers)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="tickets per backend")
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "postgres", "http"])
    parser.add_argument("--postgres-url", default=os.environ.get("BIANMIN_TEST_POSTGRES_URL", ""))
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    labels = {"sqlite": "SqlCaseStore / SQLite", "postgres": "SqlCaseStore / PostgreSQL",
              "http": "HttpCaseStore → web app (SQLite)"}
    print(f"\n{'backend':<34} {'tickets/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
    for name, r in results.items():
        print(f"{labels[name]:<34} {r['tickets_per_second']:>10} {r['latency']['p50_ms']:>8.1f} "
              f"{r['latency']['p95_ms']:>8.1f} {r['errors']:>7}")
    path = write_report("cases_throughput", {"n": args.n, "writers": args.writers, "results": results})
    print(f"\nreport: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
