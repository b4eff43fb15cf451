"""The ticket HTTP APIs on the real web app: staff APIs (login, roles, masking, audit, error mapping) and the
machine case API's authentication and validation."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
from sqlalchemy import insert, text

from bianmin import audit
from web.cases_api import CASE_STORES_KEY
from cases.store import Status
from cases_support import API_TOKEN, new_ticket, web_app_server
from web.accounts import AccountStore, hash_password, staff_users
from web.app import ENGINE_KEY

PASSWORD = "correct-horse-9"
STAFF_ROUTES = [("GET", "/api/staff/tickets"), ("GET", "/api/staff/tickets/TS20261123-0001"),
                ("POST", "/api/staff/tickets/TS20261123-0001/status"),
                ("POST", "/api/staff/tickets/TS20261123-0001/notes")]


@contextlib.asynccontextmanager
async def running(tmp_path: Path, token: str | None = API_TOKEN) -> AsyncIterator[tuple[str, Any]]:
    async with web_app_server(tmp_path / "var", token=token) as (url, app):
        accounts = AccountStore(app[ENGINE_KEY])
        await accounts.add_user("alice", PASSWORD, "staff", "李丽")
        await accounts.add_user("root", PASSWORD, "admin")
        async with app[ENGINE_KEY].begin() as conn:   # an account whose role is neither staff nor admin
            await conn.execute(insert(staff_users).values(username="viewer", display_name="viewer",
                                                          password_hash=hash_password(PASSWORD), role="viewer",
                                                          active=True, created_at=audit.utcnow()))
        yield url, app


@contextlib.asynccontextmanager
async def signed_in(url: str, username: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{url}/login", json={"username": username, "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
        yield http


async def audit_rows(app: Any, action: str) -> list[dict[str, Any]]:
    return [r for r in await audit.recent(app[ENGINE_KEY], 500) if r["action"] == action]


async def seed(app: Any, **kw: Any):  # type: ignore[no-untyped-def]
    store = await app[CASE_STORES_KEY].sql()
    return (await store.create(new_ticket(**kw))).ticket


async def test_staff_routes_need_a_login(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app), aiohttp.ClientSession() as http:
        for method, path in STAFF_ROUTES:
            async with http.request(method, url + path, json={}) as r:
                assert r.status == 401, path
                assert (await r.json())["error"] == "请先登录。"


async def test_other_roles_are_refused_and_admins_pass(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app):
        async with signed_in(url, "viewer") as http:
            for method, path in STAFF_ROUTES:
                async with http.request(method, url + path, json={}) as r:
                    assert r.status == 403, path
                    assert "权限" in (await r.json())["error"]
        async with signed_in(url, "root") as http:
            async with http.get(f"{url}/api/staff/tickets") as r:
                assert r.status == 200


def test_every_ticket_route_declares_its_guard(tmp_path: Path) -> None:
    from web.app import create_app

    app = create_app()
    seen = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(("/api/staff/tickets", "/api/cases")) and route.method != "HEAD":
            seen[(route.method, path)] = getattr(route.handler, "required_role", None)
    assert len(seen) == 11
    for (method, path), role in seen.items():
        assert role == ("staff" if path.startswith("/api/staff/") else "case_api_token"), (method, path)


async def test_list_is_masked_filtered_and_paged(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app):
        made = [await seed(app, category="环境保护" if i < 2 else "城乡建设") for i in range(3)]
        await seed(app, ticket_type="petition")
        anon = await seed(app, anonymous=True)
        store = await app[CASE_STORES_KEY].sql()
        await store.update_status(made[0].number, Status.ASSIGNED, "root")
        async with signed_in(url, "alice") as http:
            async def get(query: str) -> tuple[int, Any]:
                async with http.get(f"{url}/api/staff/tickets{query}") as r:
                    return r.status, await r.json()

            status, body = await get("")
            assert status == 200 and body["total"] == 5 and body["page"] == 1 and body["per_page"] == 20
            assert body["tickets"][0]["number"] == anon.number           # newest first
            assert body["tickets"][0]["query_code"] == "******"
            listed = {t["number"]: t for t in body["tickets"]}
            fields = listed[made[1].number]["fields"]
            assert fields["phone"] == "138****5678" and fields["person_name"] == "张*"
            assert fields["address"] == "朝阳区****"
            assert "13812345678" not in str(body) and "张伟" not in str(body)
            assert (await get("?type=petition"))[1]["total"] == 1
            assert (await get("?category=环境保护"))[1]["total"] == 2
            assigned = (await get("?status=assigned"))[1]
            assert [t["number"] for t in assigned["tickets"]] == [made[0].number]
            assert (await get("?status=已受理&type=complaint"))[1]["total"] == 3
            page2 = (await get("?per_page=2&page=2"))[1]
            assert [t["number"] for t in page2["tickets"]] == [made[2].number, made[1].number]
            assert (await get("?per_page=2&page=4"))[1]["tickets"] == []
            for bad in ("?status=done", "?type=parking", "?per_page=0", "?page=x"):
                status, body = await get(bad)
                assert status == 422 and body["code"] == "invalid_request", bad
        assert await audit_rows(app, "ticket.view") == []


async def test_detail_shows_personal_data_and_is_audited(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app):
        ticket = await seed(app)
        async with signed_in(url, "alice") as http:
            async with http.get(f"{url}/api/staff/tickets/{ticket.number.lower()}") as r:
                assert r.status == 200
                body = await r.json()
            assert body["fields"]["phone"] == "13812345678" and body["fields"]["person_name"] == "张伟"
            assert [e["status"] for e in body["events"]] == ["已受理"]
            for missing in ("TS20200101-0001", "XX-1"):
                async with http.get(f"{url}/api/staff/tickets/{missing}") as r:
                    assert r.status == 404 and (await r.json())["error"] == "没有找到该工单，请核对工单编号。"
        views = await audit_rows(app, "ticket.view")
        assert [(v["actor"], v["target"]) for v in views] == [("alice", ticket.number)]


async def test_status_change_is_recorded_and_audited(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app):
        ticket = await seed(app)
        path = f"{url}/api/staff/tickets/{ticket.number}/status"
        async with signed_in(url, "alice") as http:
            async with http.post(path, json={"status": "已分派", "note": "派至区生态环境局"}) as r:
                assert r.status == 200
                body = await r.json()
            assert body["status"] == "已分派"
            assert (body["events"][-1]["actor"], body["events"][-1]["note"]) == ("alice", "派至区生态环境局")
            async with http.post(path, json={"status": "in_progress"}) as r:
                assert r.status == 200 and (await r.json())["status"] == "办理中"
            async with http.post(path, json={"status": "已受理"}) as r:
                assert r.status == 409
                err = await r.json()
            assert err["code"] == "invalid_transition" and "办理中" in err["error"]
            for payload, why in (({"status": "done"}, "unknown status"), ({}, "missing status"),
                                 ({"status": "已办结", "note": 5}, "note not text")):
                async with http.post(path, json=payload) as r:
                    assert r.status == 422, why
            async with http.post(path, data="not json", headers={"Content-Type": "application/json"}) as r:
                assert r.status == 422
            async with http.post(f"{url}/api/staff/tickets/TS20200101-0001/status", json={"status": "已分派"}) as r:
                assert r.status == 404
        rows = await audit_rows(app, "ticket.status")
        # one row per change that happened; the refused change left none
        assert [(r["actor"], r["target"], r["detail"]["status"]) for r in rows] == [
            ("alice", ticket.number, "办理中"), ("alice", ticket.number, "已分派")]
        stored = await (await app[CASE_STORES_KEY].sql()).get(ticket.number)
        assert stored.status is Status.IN_PROGRESS and len(stored.events) == 3


async def test_notes(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app):
        ticket = await seed(app)
        async with signed_in(url, "alice") as http:
            async with http.post(f"{url}/api/staff/tickets/{ticket.number}/notes", json={"note": "已电话回访"}) as r:
                assert r.status == 200
                body = await r.json()
            assert body["status"] == "已受理" and body["events"][-1]["note"] == "已电话回访"
            async with http.post(f"{url}/api/staff/tickets/{ticket.number}/notes", json={"note": "  "}) as r:
                assert r.status == 422 and "不能为空" in (await r.json())["error"]
            async with http.post(f"{url}/api/staff/tickets/FY20200101-0001/notes", json={"note": "x"}) as r:
                assert r.status == 404
        assert [r["target"] for r in await audit_rows(app, "ticket.note")] == [ticket.number]


async def test_database_failure_is_503(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app):
        async with signed_in(url, "alice") as http:
            async with app[ENGINE_KEY].begin() as conn:
                await conn.execute(text("PRAGMA foreign_keys=OFF"))
                await conn.execute(text("DROP TABLE tickets"))
            async with http.get(f"{url}/api/staff/tickets") as r:
                assert r.status == 503
                assert (await r.json())["error"].startswith("工单系统暂时无法访问")


# ------------------------------------------------------------------------------------------------ machine API
async def test_case_api_is_off_without_a_token(tmp_path: Path) -> None:
    async with running(tmp_path, token=None) as (url, app), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/cases/TS20261123-0001", headers={"Authorization": "Bearer x"}) as r:
            assert r.status == 503
            body = await r.json()
        assert body["code"] == "disabled" and "BIANMIN_CASE_API_TOKEN" in body["error"]


async def test_case_api_authentication_and_validation(tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    payload = {"type": "complaint", "sender_id": "web-1", "channel": "webchat", "fields": {"description": "路灯坏了"}}
    async with running(tmp_path) as (url, app), aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_TOKEN}"}):
            async with http.post(f"{url}/api/cases", json=payload, headers=headers) as r:
                assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        async with http.post(f"{url}/api/cases", json=payload, headers=auth) as r:
            assert r.status == 422 and "Idempotency-Key" in (await r.json())["error"]
        for bad in ({**payload, "type": "parking"}, {**payload, "fields": "x"}, {**payload, "sender_id": ""},
                    {**payload, "anonymous": "yes"}, {**payload, "deadlines": [{"kind": "x", "due": "soon"}]}):
            async with http.post(f"{url}/api/cases", json=bad, headers={**auth, "Idempotency-Key": "key-00000001"}) as r:
                assert r.status == 422, bad
        key = {**auth, "Idempotency-Key": "key-00000002"}
        async with http.post(f"{url}/api/cases", json=payload, headers=key) as r:
            assert r.status == 201
            first = await r.json()
        async with http.post(f"{url}/api/cases", json=payload, headers=key) as r:
            assert r.status == 200
            again = await r.json()
        assert first["created"] is True and again["created"] is False
        number = first["ticket"]["number"]
        assert again["ticket"]["number"] == number
        async with http.get(f"{url}/api/cases/TS20200101-0001", headers=auth) as r:
            assert r.status == 404 and (await r.json())["code"] == "not_found"
        async with http.post(f"{url}/api/cases/{number}/rating", json={"score": 9}, headers=auth) as r:
            assert r.status == 422 and (await r.json())["code"] == "invalid_rating"
        async with http.post(f"{url}/api/cases/{number}/rating", json={"score": 5}, headers=auth) as r:
            assert r.status == 409 and (await r.json())["code"] == "invalid_rating"
        async with http.post(f"{url}/api/cases/{number}/status", json={"status": "已回访"}, headers=auth) as r:
            assert r.status == 409 and (await r.json())["code"] == "invalid_transition"
        async with http.get(f"{url}/api/cases", params={"sender_id": "web-1"}, headers=auth) as r:
            assert [t["number"] for t in (await r.json())["tickets"]] == [number]


async def test_contact_lookup_is_a_post_and_refuses_personal_data_in_urls(tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with running(tmp_path) as (url, app), aiohttp.ClientSession() as http:
        ticket = await seed(app, fields={"phone": "13912345678", "id_number": "11010519491231002X"})
        for params in ({"phone": "13912345678"}, {"id_last4": "002X"}):
            async with http.get(f"{url}/api/cases", params=params, headers=auth) as r:
                assert r.status == 400 and (await r.json())["code"] == "personal_data_in_url"
        async with http.post(f"{url}/api/cases/search", json={"phone": "139 1234 5678", "id_last4": "002x"},
                             headers=auth) as r:
            assert r.status == 200
            assert [t["number"] for t in (await r.json())["tickets"]] == [ticket.number]
        async with http.post(f"{url}/api/cases/search", json={"phone": "13912345678", "id_last4": "1234"},
                             headers=auth) as r:
            assert (await r.json())["tickets"] == []
        for bad in ({}, {"phone": 139}, {"phone": "13912345678", "limit": 0}, {"query_code": "x" * 40}):
            async with http.post(f"{url}/api/cases/search", json=bad, headers=auth) as r:
                assert r.status == 422, bad
        async with http.post(f"{url}/api/cases/search", json={"phone": "13912345678"}) as r:
            assert r.status == 401
