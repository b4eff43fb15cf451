"""End to end on the real stack (Rasa + action server + web app, hotline always staffed): a resident asks for a
person, a staff member claims the conversation in the console, both talk live, and the assistant takes over again.
Two headless Chromium pages; no page reloads during the live part."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO, Stack, web_sender

pytestmark = [pytest.mark.stack, pytest.mark.browser]

PASSWORD = "hotline-pass-2026"
LIVE = 15_000          # ms: the console polls the queue every second; everything else is pushed at once


def add_user(stack: Stack, username: str, display: str, role: str = "staff") -> None:
    result = subprocess.run([sys.executable, "-m", "bianmin.cli", "user", "add", username, "--role", role,
                             "--display-name", display, "--password-stdin"], input=PASSWORD + "\n", text=True,
                            capture_output=True, env=stack.env, cwd=REPO, timeout=120)
    assert result.returncode == 0 or "已存在" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def staff(handoff_stack: Stack) -> dict[str, str]:
    users = {"zhangsan": "张三", "lisi": "李四"}
    for username, display in users.items():
        add_user(handoff_stack, username, display)
    return users


def new_page(browser: Any, **kw: Any) -> Page:
    context = browser.new_context(locale="zh-CN", **kw)
    return context.new_page()


def log_in(page: Page, stack: Stack, username: str) -> None:
    page.goto(stack.web_url + "/staff")
    page.wait_for_url(re.compile(r"/login\?next=(%2F|/)staff$"))   # not logged in: sent to the login page first
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/staff$"))
    expect(page.locator("#link")).to_have_text("实时连接正常", timeout=LIVE)


def say(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.keyboard.press("Enter")


def test_a_person_takes_over_live_and_hands_back_to_the_assistant(handoff_stack: Stack, browser: Any,
                                                                  staff: dict[str, str]) -> None:
    resident = new_page(browser, viewport={"width": 390, "height": 844})
    console = new_page(browser, viewport={"width": 1440, "height": 900})
    try:
        resident.goto(handoff_stack.web_url + "/")
        resident.wait_for_selector(".row.bot .bubble", timeout=60_000)
        sender = resident.evaluate("localStorage.getItem('bianmin.sender')")
        resident.evaluate("window.__sameDocument = true")   # gone if the page ever reloads

        # a complaint is under way (the intake form keeps what was said) when the resident asks for a person
        say(resident, "我要投诉 楼下烧烤店每天半夜还在营业 油烟噪音很大")
        expect(resident.locator(".row.bot .bubble", has_text="登记投诉")).to_be_visible(timeout=60_000)
        say(resident, "转人工")
        queued = resident.locator(".row.bot .bubble", has_text="排在第")
        expect(queued).to_be_visible(timeout=60_000)
        assert "预计等待" in queued.inner_text() or "不在线" in queued.inner_text()
        expect(resident.locator("#who")).to_have_text("正在为您转接人工客服，请稍候…")
        assert handoff_stack.tracker(sender)["paused"] is True

        log_in(console, handoff_stack, "zhangsan")
        item = console.locator(".queue-item", has_text=sender[-6:])
        expect(item).to_be_visible(timeout=LIVE)
        expect(item.locator(".wait")).to_contain_text("已等待")
        console.screenshot(path=str(handoff_stack.var / "staff_console_queue.png"))
        item.locator("button.claim").click()

        # the resident sees a person arrive, without reloading
        expect(resident.locator(".system span", has_text="人工客服 张三 已接入")).to_be_visible(timeout=LIVE)
        expect(resident.locator("#who")).to_have_text("人工客服 张三 正在为您服务")
        expect(console.locator("#conv-status")).to_have_text("接待中：张三")
        expect(console.locator("#transcript .msg.user", has_text="转人工")).to_be_visible()

        # staff → resident
        console.fill("#reply", "您好，我是人工客服张三，请问有什么可以帮您？")
        console.click("#send")
        staff_bubble = resident.locator(".row.staff .bubble", has_text="我是人工客服张三")
        expect(staff_bubble).to_be_visible(timeout=LIVE)
        assert "工作人员 张三" in staff_bubble.inner_text()

        # resident → staff (Rasa records it but stays silent)
        bots_before = resident.locator(".row.bot").count()
        say(resident, "我家门口的路灯坏了一个月了")
        expect(console.locator("#transcript .msg.user", has_text="我家门口的路灯坏了一个月了")).to_be_visible(timeout=LIVE)
        expect(resident.locator(".typing")).to_have_count(0, timeout=LIVE)
        assert resident.locator(".row.bot").count() == bots_before

        # the collected slots and the resident's (empty) ticket list are shown
        expect(console.locator("#slots")).to_contain_text("楼下烧烤店每天半夜还在营业")
        expect(console.locator("#tickets")).to_contain_text("还没有工单")

        # a ticket filed from the console, then updated
        console.select_option("#ticket-type", "complaint")
        console.fill("#ticket-description", "居民反映：家门口的路灯坏了一个月，晚上看不见路")
        console.click("#ticket-form button[type=submit]")
        expect(console.locator("#ticket-result")).to_contain_text("已创建工单 TS", timeout=LIVE)
        ticket = console.locator("#tickets li.ticket").first
        expect(ticket).to_contain_text("已受理", timeout=LIVE)
        ticket.click()
        expect(console.locator("#ticket-summary")).to_contain_text("路灯坏了一个月")
        console.select_option("#ticket-status", "已分派")
        console.click("#ticket-update button[type=submit]")
        expect(console.locator("#tickets li.ticket").first).to_contain_text("已分派", timeout=LIVE)
        console.screenshot(path=str(handoff_stack.var / "staff_console_chat.png"))

        # hand back: the assistant answers again
        console.click("#handback")
        expect(resident.locator(".system span", has_text="智能助手已回来为您服务")).to_be_visible(timeout=LIVE)
        expect(resident.locator("#who")).to_have_text("智能助手为您服务")
        expect(console.locator("#banner")).to_contain_text("已交还智能助手")
        expect(console.locator(".queue-item", has_text=sender[-6:])).to_have_count(0)
        say(resident, "谢谢")
        expect(resident.locator(".row.bot .bubble", has_text="不客气")).to_be_visible(timeout=60_000)
        assert resident.evaluate("window.__sameDocument") is True
        resident.screenshot(path=str(handoff_stack.var / "resident_after_handoff.png"))

        # Rasa's own record: paused while the person answered, resumed now; the staff message is marked
        tracker = handoff_stack.tracker(sender)
        assert tracker["paused"] is False
        events = tracker["events"]
        kinds = [e["event"] for e in events]
        assert "pause" in kinds and "resume" in kinds
        asked = next(i for i, e in enumerate(events) if e.get("text") == "我家门口的路灯坏了一个月了")
        resumed = kinds.index("resume")
        assert asked < resumed and "action" not in kinds[asked:resumed]   # nothing was predicted while paused
        staff_events = [e for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("from") == "staff"]
        assert [e["metadata"]["staff"] for e in staff_events] == ["张三"]

        # a reload shows the person's messages and the notices again
        resident.reload()
        expect(resident.locator(".row.staff .bubble", has_text="我是人工客服张三")).to_be_visible(timeout=LIVE)
        expect(resident.locator(".system span", has_text="人工客服 张三 已接入")).to_be_visible()
        expect(resident.locator(".system span", has_text="智能助手已回来为您服务")).to_be_visible()
    finally:
        resident.context.close()
        console.context.close()


def test_the_resident_can_stop_waiting(handoff_stack: Stack, browser: Any, staff: dict[str, str]) -> None:
    resident = new_page(browser, viewport={"width": 390, "height": 844})
    console = new_page(browser, viewport={"width": 1440, "height": 900})
    try:
        log_in(console, handoff_stack, "lisi")
        resident.goto(handoff_stack.web_url + "/")
        resident.wait_for_selector(".row.bot .bubble", timeout=60_000)
        sender = resident.evaluate("localStorage.getItem('bianmin.sender')")
        say(resident, "找工作人员")
        expect(resident.locator(".row.bot .bubble", has_text="排在第")).to_be_visible(timeout=60_000)
        item = console.locator(".queue-item", has_text=sender[-6:])
        expect(item).to_be_visible(timeout=LIVE)

        resident.locator(".buttons button", has_text="返回智能助手").click()
        expect(resident.locator(".system span", has_text="智能助手已回来为您服务")).to_be_visible(timeout=LIVE)
        expect(resident.locator(".row.bot .bubble", has_text="已为您取消人工服务")).to_be_visible()
        expect(resident.locator("#who")).to_have_text("智能助手为您服务")
        expect(item).to_have_count(0, timeout=LIVE)          # gone from every console's queue
        say(resident, "谢谢")
        expect(resident.locator(".row.bot .bubble", has_text="不客气")).to_be_visible(timeout=60_000)
    finally:
        resident.context.close()
        console.context.close()


# ---------------------------------------------------------------------------------------------- over HTTP + sockets
def in_own_loop(coro: Any) -> Any:
    """Run ``coro`` in a fresh event loop on a worker thread (Playwright's sync API owns this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def next_event(ws: aiohttp.ClientWebSocketResponse, **match: Any) -> dict[str, Any]:
    """The next event on ``ws`` whose fields equal ``match`` (others are skipped)."""
    while True:
        event = await ws.receive_json(timeout=30)
        if all(event.get(k) == v for k, v in match.items()):
            return event


async def session_of(http: aiohttp.ClientSession, base: str, sender: str) -> int:
    async with http.get(f"{base}/api/staff/handoff/queue") as r:
        queue = await r.json()
    return next(s["id"] for s in queue["sessions"] if s["sender_short"] == sender[-6:])


async def chat(http: aiohttp.ClientSession, base: str, sender: str, text: str) -> dict[str, Any]:
    async with http.post(f"{base}/api/chat", json={"sender": sender, "message": text}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def log_in_http(base: str, username: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{base}/login", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200
    return http


def test_hand_back_can_start_an_intake_and_its_question_reaches_the_resident(handoff_stack: Stack,
                                                                            staff: dict[str, str]) -> None:
    in_own_loop(hand_back_with_intake(handoff_stack))


async def hand_back_with_intake(handoff_stack: Stack) -> None:
    base, sender = handoff_stack.web_url, web_sender()
    async with aiohttp.ClientSession() as resident:
        reply = await chat(resident, base, sender, "转人工")
        assert reply["handoff"]["status"] == "queued"
        ws = await resident.ws_connect(f"{base}/ws/chat", params={"sender": sender})
        assert (await ws.receive_json(timeout=10))["status"] == "queued"
        console = await log_in_http(base, "zhangsan")
        try:
            sid = await session_of(console, base, sender)
            async with console.post(f"{base}/api/staff/handoff/{sid}/claim") as r:
                assert r.status == 200
            await next_event(ws, type="state", status="active", staff_name="张三")
            async with console.post(f"{base}/api/staff/handoff/{sid}/handback", json={"intent": "complaint"}) as r:
                assert r.status == 200
                started = (await r.json())["messages"]
            assert started and started[0]["text"], started
            await next_event(ws, type="state", status="none")
            pushed = await next_event(ws, type="message", **{"from": "bot"})
            assert pushed["text"] == started[0]["text"]      # trigger_intent's reply, pushed live (REST can't)
        finally:
            await console.close()
            await ws.close()
        async with resident.get(f"{base}/api/chat/history", params={"sender": sender}) as r:
            history = (await r.json())["messages"]
        assert not any(m["text"].startswith("EXTERNAL") for m in history)   # the triggered intent is not shown
        assert history[-1]["text"] == started[-1]["text"]


def test_transfer_then_close_tells_the_resident_and_frees_the_conversation(handoff_stack: Stack,
                                                                         staff: dict[str, str]) -> None:
    in_own_loop(transfer_then_close(handoff_stack))


async def transfer_then_close(handoff_stack: Stack) -> None:
    base, sender = handoff_stack.web_url, web_sender()
    async with aiohttp.ClientSession() as resident:
        await chat(resident, base, sender, "我要人工客服")
        ws = await resident.ws_connect(f"{base}/ws/chat", params={"sender": sender})
        zhang, li = await log_in_http(base, "zhangsan"), await log_in_http(base, "lisi")
        try:
            sid = await session_of(zhang, base, sender)
            async with zhang.post(f"{base}/api/staff/handoff/{sid}/claim") as r:
                assert r.status == 200
            async with zhang.post(f"{base}/api/staff/handoff/{sid}/transfer", json={"username": "lisi"}) as r:
                assert r.status == 200 and (await r.json())["session"]["claimed_by"] == "lisi"
            notice = await next_event(ws, type="message", **{"from": "system"}, text="已为您转接人工客服 李四")
            assert notice
            async with zhang.post(f"{base}/api/staff/handoff/{sid}/messages", json={"text": "还在吗"}) as r:
                assert r.status == 403                      # no longer zhangsan's conversation
            async with li.post(f"{base}/api/staff/handoff/{sid}/messages", json={"text": "您好，我是李四"}) as r:
                assert r.status == 200
            assert (await next_event(ws, type="message", **{"from": "staff"}))["staff_name"] == "李四"
            async with li.post(f"{base}/api/staff/handoff/{sid}/close") as r:
                assert r.status == 200
            goodbye = await next_event(ws, type="message", **{"from": "staff"})
            assert "本次人工服务已结束" in goodbye["text"]
            await next_event(ws, type="state", status="none")
            async with li.get(f"{base}/api/staff/handoff/{sid}") as r:
                detail = await r.json()
            assert detail["session"]["status"] == "closed" and detail["session"]["outcome"] == "closed"
        finally:
            await zhang.close()
            await li.close()
            await ws.close()
        assert "不客气" in json.dumps(await chat(resident, base, sender, "谢谢"), ensure_ascii=False)
