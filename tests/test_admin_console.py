"""The admin console on the real web app: every /admin and /api/admin route refuses anonymous and staff users
(enumerated from the app's router, so a new unprotected route fails this test), and the FAQ APIs work end to
end — create, edit, publish, preview, history, unanswered → FAQ, feedback, YAML export and import, audit."""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import yaml
from aiohttp import web

from bianmin import audit
from tests.conftest import serve_app
from bianmin.settings import Settings
from web.accounts import AccountStore
from web.admin import FAQ_STORE_KEY
from web.app import ENGINE_KEY, create_app

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-9"
SAMPLE_PARAMS = {"faq_id": "juzhuzheng-apply", "unanswered_id": "1"}


@contextlib.asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    """The real web app on a free port with its own SQLite database, a staff user and an admin."""
    settings = Settings.from_env({"BIANMIN_VAR": str(tmp_path / "var"), "BIANMIN_HOME": str(REPO)})
    app = create_app(settings)
    async with serve_app(app) as url:
        accounts = AccountStore(app[ENGINE_KEY])
        await accounts.add_user("alice", PASSWORD, "staff", "李丽")
        await accounts.add_user("root", PASSWORD, "admin", "管理员")
        yield url, app


@contextlib.asynccontextmanager
async def signed_in(url: str, username: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{url}/login", json={"username": username, "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
        yield http


def admin_routes(app: web.Application) -> list[tuple[str, str]]:
    """Every route of the app under /admin or /api/admin (HEAD mirrors GET)."""
    routes = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method != "HEAD" and (path == "/admin" or path.startswith(("/admin/", "/api/admin"))):
            routes.append((route.method, re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "x"), path)))
            assert getattr(route.handler, "required_role", None) == "admin", (route.method, path)
    return routes


async def test_every_admin_route_refuses_anonymous_and_staff_users(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app):
        routes = admin_routes(app)
        assert ("GET", "/admin") in routes and ("GET", "/api/admin/export") in routes
        assert ("POST", "/api/admin/faqs") in routes and len(routes) >= 15
        async with aiohttp.ClientSession() as http:
            for method, path in routes:
                async with http.request(method, url + path, json={}, allow_redirects=False) as r:
                    if path.startswith("/api/"):
                        assert r.status == 401, (method, path)
                    else:
                        assert r.status == 302 and r.headers["Location"].startswith("/login"), (method, path)
        async with signed_in(url, "alice") as http:
            for method, path in routes:
                async with http.request(method, url + path, json={}, allow_redirects=False) as r:
                    assert r.status == 403, (method, path)
                    assert "权限" in (await r.json())["error"]
        async with signed_in(url, "root") as http:
            async with http.get(f"{url}/admin") as r:
                assert r.status == 200 and "知识库管理" in await r.text()


async def test_faq_lifecycle_through_the_api(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app), signed_in(url, "root") as http:
        async with http.get(f"{url}/api/admin/faqs", params={"q": "居住证"}) as r:
            data = await r.json()
            assert r.status == 200 and data["total"] >= 5 and data["revision"] >= 1   # starter set seeded

        new = {"question": "社区老年大学怎么报名？", "similar": ["老年大学在哪报名"], "answer": "请到社区服务中心报名，电话 {hotline}。",
               "tags": ["养老服务"], "department": "民政部门"}
        async with http.post(f"{url}/api/admin/faqs", json=new) as r:
            assert r.status == 201
            faq = (await r.json())["faq"]
            assert faq["status"] == "draft" and faq["rendered_answer"].endswith("电话 12345。")
        async with http.post(f"{url}/api/admin/faqs", json=new) as r:
            assert r.status == 409 and "相同" in (await r.json())["error"]
        async with http.post(f"{url}/api/admin/faqs", json={**new, "question": "别的", "answer": "{nope.x}"}) as r:
            assert r.status == 422 and "占位符" in (await r.json())["error"]
        async with http.post(f"{url}/api/admin/faqs", data="not json") as r:
            assert r.status == 400
        async with http.get(f"{url}/api/admin/faqs/no-such-faq") as r:
            assert r.status == 404

        # the draft is not answered; published, the very next preview answers it
        async with http.post(f"{url}/api/admin/preview", json={"question": "社区老年大学怎么报名"}) as r:
            assert (await r.json())["answer"] is None
        async with http.put(f"{url}/api/admin/faqs/{faq['id']}", json={"answer": "请到街道服务中心报名。", "version": 1}) as r:
            assert r.status == 200
            faq = (await r.json())["faq"]
        async with http.put(f"{url}/api/admin/faqs/{faq['id']}", json={"answer": "旧版本的编辑", "version": 1}) as r:
            assert r.status == 409
        async with http.post(f"{url}/api/admin/faqs/{faq['id']}/publish", json={"version": faq["version"]}) as r:
            assert r.status == 200 and (await r.json())["faq"]["status"] == "published"
        async with http.post(f"{url}/api/admin/preview", json={"question": "社区老年大学怎么报名"}) as r:
            preview = await r.json()
            assert preview["decision"] == "answer" and preview["answer"]["faq_id"] == faq["id"]
            assert preview["answer"]["text"].endswith("请到街道服务中心报名。")
            assert preview["candidates"][0]["confidence"] >= preview["threshold"]
        async with http.post(f"{url}/api/admin/preview", json={"question": "给我讲个笑话吧"}) as r:
            assert (await r.json())["decision"] != "answer"

        async with http.get(f"{url}/api/admin/faqs/{faq['id']}/history") as r:
            history = (await r.json())["history"]
            assert [h["action"] for h in history] == ["publish", "update", "create"]
            assert history[1]["changes"]["answer"]["new"] == "请到街道服务中心报名。" and history[1]["actor"] == "root"
        async with http.post(f"{url}/api/admin/faqs/{faq['id']}/unpublish", json={}) as r:
            assert (await r.json())["faq"]["status"] == "draft"
        actions = [a["action"] for a in await audit.recent(app[ENGINE_KEY], 100, actor="root")]
        assert {"faq.create", "faq.update", "faq.publish", "faq.unpublish"} <= set(actions)


async def test_unanswered_question_becomes_a_faq_in_one_step(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app), signed_in(url, "root") as http:
        store = app[FAQ_STORE_KEY]
        await store.record_unanswered("小区能办老年食堂吗", "web-a", "low_confidence")
        await store.record_unanswered("小区能办老年食堂吗？", "web-b", "low_confidence")
        await store.record_unanswered("居住证能在网上续签吗", "web-c", "not_helpful", "juzhuzheng-renew")
        async with http.get(f"{url}/api/admin/unanswered") as r:
            items = (await r.json())["items"]
            assert [i["count"] for i in items] == [2, 1]
        canteen, renew = items
        async with http.post(f"{url}/api/admin/unanswered/{canteen['id']}/faq",
                             json={"mode": "new", "faq": {"question": canteen["question"], "answer": "可以，向街道申请。",
                                                         "status": "published"}}) as r:
            assert r.status == 201
            created = (await r.json())["faq"]
        async with http.post(f"{url}/api/admin/unanswered/{renew['id']}/faq",
                             json={"mode": "similar", "target_id": "juzhuzheng-renew"}) as r:
            assert r.status == 200 and "居住证能在网上续签吗" in (await r.json())["faq"]["similar"]
        async with http.get(f"{url}/api/admin/unanswered") as r:
            assert (await r.json())["total"] == 0
        async with http.get(f"{url}/api/admin/unanswered", params={"status": "resolved"}) as r:
            assert {i["resolved_faq_id"] for i in (await r.json())["items"]} == {created["id"], "juzhuzheng-renew"}
        async with http.post(f"{url}/api/admin/preview", json={"question": "小区能办老年食堂吗"}) as r:
            assert (await r.json())["answer"]["faq_id"] == created["id"]
        async with http.post(f"{url}/api/admin/unanswered/999/faq", json={"mode": "new"}) as r:
            assert r.status == 404

        await store.record_feedback("juzhuzheng-apply", False, "居住证办理要多久", "web-d")
        async with http.get(f"{url}/api/admin/feedback") as r:
            item = (await r.json())["items"][0]
            assert item["faq_id"] == "juzhuzheng-apply" and item["not_helpful"] == 1


async def test_yaml_export_and_import(tmp_path: Path) -> None:
    async with running(tmp_path) as (url, app), signed_in(url, "root") as http:
        async with http.get(f"{url}/api/admin/export", params={"status": "published"}) as r:
            assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
            entries = yaml.safe_load(await r.text())
            assert len(entries) == 136
        entries[0]["answer"] += "（管理员补充）"
        entries.append({"question": "新增的问题怎么办理？", "similar": ["新增问题"], "answer": "这样办理。", "tags": ["测试"]})
        form = aiohttp.FormData()
        form.add_field("file", yaml.safe_dump(entries, allow_unicode=True), filename="faq.yml",
                       content_type="application/x-yaml")
        async with http.post(f"{url}/api/admin/import", data=form) as r:
            result = await r.json()
            assert r.status == 200, result
            assert (result["created"], result["updated"], result["unchanged"]) == (1, 1, 135)
        bad = aiohttp.FormData()
        bad.add_field("file", "- question: 只有问题\n", filename="bad.yml")
        async with http.post(f"{url}/api/admin/import", data=bad) as r:
            assert r.status == 422 and "答案" in (await r.json())["error"]
        async with http.post(f"{url}/api/admin/import", data="just: a mapping",
                             headers={"Content-Type": "application/x-yaml"}) as r:
            assert r.status == 422
        actions = {a["action"] for a in await audit.recent(app[ENGINE_KEY], 300, actor="root")}
        assert "faq.import.file" in actions and "faq.import" in actions
