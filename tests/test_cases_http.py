"""HttpCaseStore against real servers: the bianmin web app's case API (backed by SqlCaseStore) for the shared
contract, and a real flaky proxy in front of it that answers 5xx, loses responses, stalls past the client's
timeout or drops connections — to prove bounded retries, no duplicates, and CaseStoreUnavailable at the end."""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Optional

import aiohttp
import pytest
from aiohttp import web

from cases.http_store import HttpCaseStore
from cases.store import CaseStoreUnavailable, Status
from cases_support import API_TOKEN, Backend, CaseStoreContract, free_port, new_ticket, web_app_server
from web.app import ENGINE_KEY


class TestHttpContract(CaseStoreContract):
    backend_name = "http"


@dataclass
class Flaky:
    """A proxy that misbehaves for the first ``failures`` requests matching ``path_prefix``."""
    upstream: str
    mode: str                      # see handle()
    failures: int
    delay: float = 1.0
    path_prefix: str = "/api/cases"
    methods: tuple[str, ...] = ("GET", "POST")
    seen: list[tuple[str, str, Optional[str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        matching = request.path.startswith(self.path_prefix) and request.method in self.methods
        if matching:
            self.seen.append((request.method, request.path, request.headers.get("Idempotency-Key")))
        failing = matching and len(self.seen) <= self.failures
        if failing and self.mode == "503":
            return web.json_response({"error": "维护中", "code": "unavailable"}, status=503)
        if failing and self.mode == "slow":
            await asyncio.sleep(self.delay)
        if failing and self.mode == "drop":
            request.transport.close()
            return web.Response()
        async with aiohttp.ClientSession() as http:
            async with http.request(request.method, self.upstream + request.path_qs, data=body,
                                    headers={k: v for k, v in request.headers.items()
                                             if k.lower() in ("authorization", "idempotency-key", "content-type")}) as r:
                status, payload = r.status, await r.read()
        if failing and self.mode == "lost-502":        # the upstream did the work, the answer never arrives
            return web.Response(status=502, text="bad gateway")
        if failing and self.mode == "slow-after":
            await asyncio.sleep(self.delay)
        if failing and self.mode == "drop-after":
            request.transport.close()
            return web.Response()
        return web.Response(status=status, body=payload, content_type="application/json")


@contextlib.asynccontextmanager
async def flaky_in_front(tmp_path: Path, mode: str, failures: int, token: Optional[str] = API_TOKEN,
                         **kw) -> AsyncIterator[tuple[Flaky, str, Backend]]:
    async with web_app_server(tmp_path / "var", token=token) as (upstream, app):
        flaky = Flaky(upstream, mode, failures, **kw)
        proxy = web.Application()
        proxy.router.add_route("*", "/{tail:.*}", flaky.handle)
        runner = web.AppRunner(proxy, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield flaky, f"http://127.0.0.1:{port}", Backend("http", None, app[ENGINE_KEY])
        finally:
            await runner.cleanup()


def client(url: str, *, timeout: float = 0.5, retries: int = 2) -> HttpCaseStore:
    return HttpCaseStore(url, API_TOKEN, timeout=timeout, retries=retries, backoff=0.01)


async def test_5xx_answers_are_retried_until_success(tmp_path: Path) -> None:
    async with flaky_in_front(tmp_path, "503", failures=2) as (flaky, url, backend):
        store = client(url)
        try:
            result = await store.create(new_ticket())
        finally:
            await store.close()
        assert result.created
        assert [m for m, _, _ in flaky.seen] == ["POST"] * 3
        assert len({k for _, _, k in flaky.seen}) == 1
        assert await backend.count("tickets") == 1


@pytest.mark.parametrize("mode", ["lost-502", "slow-after", "drop-after"])
async def test_lost_response_retry_makes_no_duplicate(tmp_path: Path, mode: str) -> None:
    async with flaky_in_front(tmp_path, mode, failures=1, delay=2.0) as (flaky, url, backend):
        store = client(url, timeout=0.5)
        new = new_ticket()
        try:
            result = await store.create(new)
            found = await store.find_by_sender(new.sender_id)
        finally:
            await store.close()
        assert [t.number for t in found] == [result.ticket.number]
        assert await backend.count("tickets") == 1
        keys = [k for m, p, k in flaky.seen if m == "POST"]
        assert len(keys) == 2 and set(keys) == {new.submission_key}
        # the first attempt stored it; the retry was recognised as the same submission
        assert result.created is False


async def test_status_change_retry_after_dropped_connection_applies_once(tmp_path: Path) -> None:
    async with flaky_in_front(tmp_path, "drop-after", failures=1, path_prefix="/api/cases/",
                              methods=("POST",)) as (flaky, url, backend):
        store = client(url)
        try:
            ticket = (await store.create(new_ticket())).ticket
            changed = await store.update_status(ticket.number, Status.ASSIGNED, "staff-li", "派单")
        finally:
            await store.close()
        assert changed.status is Status.ASSIGNED
        assert [(e.status, e.note) for e in changed.events] == [("已受理", ""), ("已分派", "派单")]
        status_posts = [k for m, p, k in flaky.seen if p.endswith("/status")]
        assert len(status_posts) == 2 and status_posts[0] == status_posts[1] is not None


@pytest.mark.parametrize("mode", ["503", "slow", "drop"])
async def test_exhausted_retries_raise_unavailable_and_store_nothing(tmp_path: Path, mode: str) -> None:
    async with flaky_in_front(tmp_path, mode, failures=100, delay=2.0) as (flaky, url, backend):
        store = client(url, timeout=0.4, retries=2)
        started = time.monotonic()
        try:
            with pytest.raises(CaseStoreUnavailable):
                await store.create(new_ticket())
        finally:
            await store.close()
        assert len(flaky.seen) == 3                      # 1 try + 2 retries, then give up
        assert time.monotonic() - started < 3 * 0.4 + 1.5
        assert await backend.count("tickets") == 0


async def test_nothing_listening_is_unavailable() -> None:
    store = client(f"http://127.0.0.1:{free_port()}", retries=1)
    try:
        with pytest.raises(CaseStoreUnavailable):
            await store.create(new_ticket())
        with pytest.raises(CaseStoreUnavailable):
            await store.get("TS20261123-0001")
    finally:
        await store.close()


async def test_wrong_token_is_not_retried(tmp_path: Path) -> None:
    async with flaky_in_front(tmp_path, "503", failures=0) as (flaky, url, backend):
        store = HttpCaseStore(url, "wrong-token", timeout=2, retries=3, backoff=0.01)
        try:
            with pytest.raises(CaseStoreUnavailable):
                await store.create(new_ticket())
        finally:
            await store.close()
        assert len(flaky.seen) == 1
        assert await backend.count("tickets") == 0


async def test_disabled_case_api_is_unavailable_without_retrying(tmp_path: Path) -> None:
    async with flaky_in_front(tmp_path, "503", failures=0, token=None) as (flaky, url, backend):
        store = client(url, retries=3)
        try:
            with pytest.raises(CaseStoreUnavailable, match="BIANMIN_CASE_API_TOKEN"):
                await store.create(new_ticket())
        finally:
            await store.close()
        assert len(flaky.seen) == 1
