"""Resident web chat: the page's JSON API, proxied to Rasa's REST channel by the bianmin web app."""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, TypedDict

from aiohttp import web

from bot.components.normalizers import strip_control
from channels.rasa_client import RasaClient, RasaUnavailable

log = logging.getLogger(__name__)

SENDER_RE = re.compile(r"^web-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_MESSAGE_CHARS = 5000
RASA_KEY = web.AppKey("rasa", RasaClient)
#: Optional: takes over delivery of every resident message (the hotline handoff: channels.handoff).
ResidentHook = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
RESIDENT_HOOK_KEY = web.AppKey("resident_hook", object)


class ChatRequest(TypedDict, total=False):
    sender: str
    message: str
    display: str   # what the resident saw (a button title) when message is a payload


class ChatReply(TypedDict, total=False):
    messages: list[dict[str, Any]]
    handoff: dict[str, Any]     # {"status": "none" | "queued" | "active", "staff_name": ...} while a person is involved


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _sender(value: Any) -> str | None:
    return value if isinstance(value, str) and SENDER_RE.match(value) else None


async def post_message(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except Exception:
        return _error(400, "请求格式不正确。")
    if not isinstance(body, dict):
        return _error(400, "请求格式不正确。")
    sender = _sender(body.get("sender"))
    if sender is None:
        return _error(400, "会话编号无效，请刷新页面后重试。")
    message = body.get("message")
    if not isinstance(message, str):
        return _error(400, "消息内容不正确。")
    message = strip_control(message)[:MAX_MESSAGE_CHARS]
    display = body.get("display") if isinstance(body.get("display"), str) else None
    metadata = {"channel": "webchat", **({"display": display[:100]} if display else {})}
    hook: ResidentHook | None = request.app.get(RESIDENT_HOOK_KEY)  # type: ignore[assignment]
    try:
        if hook is not None:
            return web.json_response(await hook(sender, message, metadata))
        replies = await request.app[RASA_KEY].send(sender, message, metadata)
    except RasaUnavailable as exc:
        log.warning("rasa unavailable: %s", exc)
        return _error(503, "助手暂时无法回复，请稍后再试。您的消息未被处理。")
    return web.json_response(ChatReply(messages=list(replies)))


async def get_history(request: web.Request) -> web.Response:
    """The conversation so far, so a reloaded page shows it again."""
    sender = _sender(request.query.get("sender"))
    if sender is None:
        return _error(400, "会话编号无效。")
    try:
        tracker = await request.app[RASA_KEY].tracker(sender)
    except RasaUnavailable:
        return _error(503, "暂时无法读取聊天记录。")
    return web.json_response({"messages": transcript(tracker.get("events", []))})


def transcript(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User and bot utterances from tracker events, as the chat page renders them. Bot events appended by the
    hotline handoff carry ``metadata.from``: "staff" (a person's message, with ``staff`` = display name) or
    "system" (a notice such as 人工客服 张三 已接入)."""
    out: list[dict[str, Any]] = []
    for ev in events:
        kind = ev.get("event")
        if kind == "user":
            meta = ev.get("metadata") or {}
            if meta.get("is_external"):
                continue  # trigger_intent (a form started by staff): not something the resident said
            text = meta.get("display") or ev.get("text") or ""
            if text.startswith("/") and not meta.get("display"):
                continue  # an internal payload with no visible title
            out.append({"from": "user", "text": text, "timestamp": ev.get("timestamp")})
        elif kind == "bot":
            data = ev.get("data") or {}
            meta = ev.get("metadata") or {}
            who = meta.get("from") if meta.get("from") in ("staff", "system") else "bot"
            item = {"from": who, "text": ev.get("text") or "", "buttons": data.get("buttons") or [],
                    "custom": data.get("custom"), "timestamp": ev.get("timestamp")}
            if who == "staff":
                item["staff_name"] = str(meta.get("staff") or "")
            out.append(item)
    return out


def setup(app: web.Application) -> None:
    app.router.add_post("/api/chat", post_message)
    app.router.add_get("/api/chat/history", get_history)
