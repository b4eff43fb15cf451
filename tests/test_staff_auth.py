"""Every staff route and socket needs a login with the right role. The route list comes from app.router, so a new
/staff, /api/staff or /ws/staff route without ``require(...)`` fails here."""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from channels.handoff import HANDOFF_KEY
from handoff_support import add_users, signed_in, web_app

PREFIXES = ("/staff", "/api/staff", "/ws/staff")
SAMPLE_PARAMS = {"session_id": "1", "number": "TS20261123-0001"}
#: The handoff routes this feature adds (the ticket APIs under /api/staff/tickets are checked too).
HANDOFF_ROUTES = {
    ("GET", "/staff"), ("GET", "/api/staff/handoff/config"), ("GET", "/api/staff/handoff/queue"),
    ("GET", "/api/staff/handoff/{session_id}"), ("POST", "/api/staff/handoff/{session_id}/claim"),
    ("POST", "/api/staff/handoff/{session_id}/messages"), ("POST", "/api/staff/handoff/{session_id}/handback"),
    ("POST", "/api/staff/handoff/{session_id}/transfer"), ("POST", "/api/staff/handoff/{session_id}/close"),
    ("GET", "/api/staff/handoff/{session_id}/tickets"), ("POST", "/api/staff/handoff/{session_id}/tickets"),
    ("GET", "/ws/staff"),
}


def staff_routes(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(PREFIXES) and route.method != "HEAD":
            out.append((route.method, path, route.handler))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "1"), path)


def test_every_staff_route_declares_a_role() -> None:
    from web.app import create_app

    routes = staff_routes(create_app())
    assert HANDOFF_ROUTES <= {(m, p) for m, p, _ in routes}
    for method, path, handler in routes:
        assert getattr(handler, "required_role", None) in ("staff", "admin"), f"{method} {path} has no require()"


@pytest.fixture
async def app_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with web_app(tmp_path / "var") as (url, app):
        await add_users(app, ("zhangsan", "staff", "张三"), ("lisi", "staff", "李四"), ("root", "admin", "管理员"),
                        ("viewer", "viewer", "只读账号"))
        yield url, app


async def test_anonymous_is_sent_to_login_or_gets_401(app_url: tuple[str, Any]) -> None:
    url, app = app_url
    async with aiohttp.ClientSession() as http:
        for method, path, _ in staff_routes(app):
            if path.startswith("/ws/"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await http.ws_connect(url + path)
                assert err.value.status == 401, path
                continue
            async with http.request(method, url + concrete(path), json={}, allow_redirects=False) as r:
                if path.startswith("/api/"):
                    assert r.status == 401, (method, path)
                    assert (await r.json())["error"] == "请先登录。"
                else:
                    assert r.status == 302, (method, path)
                    assert r.headers["Location"].startswith("/login?next=")


async def test_an_account_without_the_staff_role_gets_403(app_url: tuple[str, Any]) -> None:
    url, app = app_url
    async with signed_in(url, "viewer") as http:
        for method, path, _ in staff_routes(app):
            if path.startswith("/ws/"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await http.ws_connect(url + path)
                assert err.value.status == 403, path
                continue
            async with http.request(method, url + concrete(path), json={}, allow_redirects=False) as r:
                assert r.status == 403, (method, path)


async def test_staff_and_admins_get_in(app_url: tuple[str, Any]) -> None:
    url, _ = app_url
    for user in ("zhangsan", "root"):
        async with signed_in(url, user) as http:
            async with http.get(f"{url}/staff") as r:
                assert r.status == 200 and "人工坐席" in await r.text()
            async with http.get(f"{url}/api/staff/handoff/queue") as r:
                assert r.status == 200 and (await r.json())["type"] == "queue"
            ws = await http.ws_connect(f"{url}/ws/staff")
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and hello["user"]["username"] == user
            assert (await ws.receive_json(timeout=5))["type"] == "queue"
            await ws.close()


async def test_a_colleagues_conversation_is_refused(app_url: tuple[str, Any]) -> None:
    url, app = app_url
    session, _ = await app[HANDOFF_KEY].store.enqueue(f"web-{uuid.uuid4()}", "requested")
    async with signed_in(url, "zhangsan") as http:
        async with http.post(f"{url}/api/staff/handoff/{session.id}/claim") as r:
            assert r.status == 200
    base = f"{url}/api/staff/handoff/{session.id}"
    calls = [("GET", ""), ("POST", "/messages"), ("POST", "/handback"), ("POST", "/close"), ("GET", "/tickets"),
             ("POST", "/tickets")]
    async with signed_in(url, "lisi") as http:
        for method, suffix in calls:
            async with http.request(method, base + suffix, json={"text": "你好", "type": "complaint",
                                                                 "description": "路灯坏了"}) as r:
                assert r.status == 403, (method, suffix)
        async with http.post(base + "/transfer", json={"username": "lisi"}) as r:
            assert r.status == 403
        async with http.post(base + "/claim") as r:
            assert r.status == 409
    async with signed_in(url, "root") as http:   # admins pass the ownership check (Rasa is down here: 503)
        async with http.post(base + "/close") as r:
            assert r.status == 503
        async with http.post(base + "/messages", json={"text": "你好"}) as r:
            assert r.status == 403   # messages only from the person who has the conversation


async def test_staff_sockets_refuse_other_origins(app_url: tuple[str, Any]) -> None:
    url, _ = app_url
    async with signed_in(url, "zhangsan") as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(f"{url}/ws/staff", headers={"Origin": "http://evil.example"})
        assert err.value.status == 403


async def test_a_console_socket_closes_when_the_login_ends(app_url: tuple[str, Any]) -> None:
    url, app = app_url
    async with signed_in(url, "zhangsan") as http:
        ws = await http.ws_connect(f"{url}/ws/staff")
        await ws.receive_json(timeout=5)
        await ws.receive_json(timeout=5)
        async with http.get(f"{url}/logout", allow_redirects=False) as r:
            assert r.status == 302
        await app[HANDOFF_KEY].poll_once(presence=True)
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 4401


async def test_resident_socket_checks_the_sender_id(app_url: tuple[str, Any]) -> None:
    url, _ = app_url
    async with aiohttp.ClientSession() as http:
        for bad in ("", "abc", "web-123", f"web-{uuid.uuid4()}x"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(f"{url}/ws/chat", params={"sender": bad})
            assert err.value.status == 400
        ws = await http.ws_connect(f"{url}/ws/chat", params={"sender": f"web-{uuid.uuid4()}"})
        assert await ws.receive_json(timeout=5) == {"type": "state", "status": "none"}
        await ws.close()
