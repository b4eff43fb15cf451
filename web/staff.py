"""Hotline staff console: the page at /staff, its JSON APIs under /api/staff/handoff, the console socket /ws/staff,
and the resident page's socket /ws/chat.

Handlers are thin: check the login (``require("staff")`` on every staff route and on the socket handshake), call
``channels.handoff.HandoffService``, map its errors to 403/404/409/422 and an unreachable Rasa to 503. Commands go
over HTTP (each gets a clear status code); live events (queue, messages, notices) go out over the sockets.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import Any, Optional, TypedDict
from urllib.parse import urlsplit

import yaml
from aiohttp import ClientResponseError, web
from sqlalchemy.exc import SQLAlchemyError

from bianmin import audit
from cases.store import TICKET_TYPES, TYPE_NAMES_ZH, CaseStoreError, CaseStoreUnavailable, NewTicket, submission_key
from cases.wire import ticket_to_json
from channels import webchat
from channels.handoff import (ACTIVE, HANDBACK_INTENTS, HANDOFF_KEY, HandoffConfigError, HandoffError,
                              HandoffService, HandoffStore, NotYourSession, SessionNotFound, load_config)
from channels.rasa_client import RasaUnavailable
from web.accounts import StaffUser
from web.auth import SESSION_COOKIE, current_user, require
from web.payloads import json_object, text_field

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
QUICK_REPLIES_FILE = "knowledge/quick_replies.yml"
MAX_TICKET_TEXT = 2000


class StaffMessageRequest(TypedDict):
    text: str


class HandBackRequest(TypedDict, total=False):
    intent: Optional[str]      # one of HANDBACK_INTENTS, or absent: just resume


class TransferRequest(TypedDict):
    username: str


class StaffTicketRequest(TypedDict, total=False):
    type: str                  # complaint | petition | legal_aid
    description: str
    address: str
    phone: str
    person_name: str


# ---------------------------------------------------------------------------------------------- helpers
def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _service(request: web.Request) -> HandoffService:
    return request.app[HANDOFF_KEY]


def _session_id(request: web.Request) -> int:
    raw = request.match_info.get("session_id", "")
    if not raw.isdigit() or len(raw) > 12:
        raise SessionNotFound("没有找到这个会话。")
    return int(raw)


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, HandoffError)


def _text(body: dict[str, Any], key: str, limit: int, required: bool = False) -> str:
    return text_field(body, key, limit, required, HandoffError)


def _maps_errors(handler):  # type: ignore[no-untyped-def]
    """Domain errors → status codes with the Chinese message; Rasa / database trouble → 503."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except HandoffError as exc:
            return _error(exc.status, str(exc) or "请求不正确。")
        except HandoffConfigError as exc:
            log.error("handoff configuration: %s", exc)
            return _error(500, f"人工服务配置有误，请联系管理员：{exc}")
        except (RasaUnavailable, ClientResponseError) as exc:
            log.warning("rasa error in staff console: %s", exc)
            return _error(503, "智能助手服务暂时无法访问，本次操作没有完成，请稍后重试。")
        except CaseStoreUnavailable:
            return _error(503, "工单系统暂时无法访问，本次操作没有保存，请稍后重试。")
        except CaseStoreError as exc:
            return _error(409, str(exc) or "工单操作失败。")
        except SQLAlchemyError as exc:
            log.warning("database error in staff console: %s", exc.__class__.__name__)
            return _error(503, "数据库暂时无法访问，本次操作没有完成，请稍后重试。")
    return wrapper


async def _user(request: web.Request) -> StaffUser:
    user = await current_user(request)
    assert user is not None     # require() ran first
    return user


def load_quick_replies(home: Path) -> list[str]:
    """Staff quick replies from knowledge/quick_replies.yml (a list of short polite sentences)."""
    path = home / QUICK_REPLIES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("quick replies not loaded from %s: %s", path, exc)
        return []
    items = data.get("quick_replies") if isinstance(data, dict) else None
    return [str(x).strip() for x in items or [] if str(x).strip()][:30]


# ---------------------------------------------------------------------------------------------- page + APIs
@require("staff")
async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "staff.html")


@require("staff")
@_maps_errors
async def console_config(request: web.Request) -> web.Response:
    from web.app import SETTINGS_KEY

    user = await _user(request)
    config = await load_config()
    replies = await asyncio.to_thread(load_quick_replies, request.app[SETTINGS_KEY].home)
    return web.json_response({
        "me": {"username": user.username, "display_name": user.display_name, "role": user.role},
        "quick_replies": replies,
        "handback_intents": [{"intent": k, "title": v} for k, v in HANDBACK_INTENTS.items()],
        "ticket_types": [{"type": t, "title": TYPE_NAMES_ZH[t]} for t in TICKET_TYPES],
        "working_hours": config.hours.describe_zh(),
        "open_now": config.hours.is_open(audit.utcnow()),
    })


@require("staff")
@_maps_errors
async def queue(request: web.Request) -> web.Response:
    return web.json_response(await _service(request).queue_event())


@require("staff")
@_maps_errors
async def claim(request: web.Request) -> web.Response:
    session = await _service(request).claim(_session_id(request), await _user(request))
    return web.json_response({"ok": True, "session": await _service(request).session_json(session)})


@require("staff")
@_maps_errors
async def detail(request: web.Request) -> web.Response:
    return web.json_response(await _service(request).detail(_session_id(request), await _user(request)))


@require("staff")
@_maps_errors
async def send_message(request: web.Request) -> web.Response:
    body = await _body(request)
    text = _text(body, "text", 4000, required=True)
    message = await _service(request).send(_session_id(request), await _user(request), text)
    return web.json_response({"ok": True, "message": message})


@require("staff")
@_maps_errors
async def hand_back(request: web.Request) -> web.Response:
    body = await _body(request)
    intent = body.get("intent") or None
    if intent is not None and not isinstance(intent, str):
        raise HandoffError("“intent”应为文本。")
    messages = await _service(request).hand_back(_session_id(request), await _user(request), intent)
    return web.json_response({"ok": True, "messages": messages})


@require("staff")
@_maps_errors
async def transfer(request: web.Request) -> web.Response:
    body = await _body(request)
    session = await _service(request).transfer(_session_id(request), await _user(request),
                                               _text(body, "username", 64, required=True))
    return web.json_response({"ok": True, "session": await _service(request).session_json(session)})


@require("staff")
@_maps_errors
async def close(request: web.Request) -> web.Response:
    await _service(request).close(_session_id(request), await _user(request))
    return web.json_response({"ok": True})


async def _visible_session(request: web.Request) -> Any:
    """The session if this user may see the resident's data (same rule as the transcript)."""
    service, user = _service(request), await _user(request)
    session = await service.store.get(_session_id(request))
    if session is None:
        raise SessionNotFound("没有找到这个会话。")
    if session.status == ACTIVE and session.claimed_by != user.username and not user.is_admin:
        raise NotYourSession("这个会话由其他同事接待，您不能查看。")
    return session


@require("staff")
@_maps_errors
async def resident_tickets(request: web.Request) -> web.Response:
    """The resident's tickets in every configured store (masked list; opening one is audited by the ticket API)."""
    from web.cases_api import CASE_STORES_KEY

    session = await _visible_session(request)
    stores = request.app[CASE_STORES_KEY]
    found = []
    for store in await stores.all():
        found += await store.find_by_sender(session.sender_id, 10)
    found.sort(key=lambda t: t.created_at, reverse=True)
    return web.json_response({"tickets": [ticket_to_json(t, masked=True) for t in found]})


@require("staff")
@_maps_errors
async def create_ticket(request: web.Request) -> web.Response:
    """File a ticket for the resident from the console (idempotent: the same content again → the same ticket)."""
    from actions.intake import plan_ticket, today
    from web.cases_api import CASE_STORES_KEY
    from web.app import ENGINE_KEY

    session = await _visible_session(request)
    user = await _user(request)
    body = await _body(request)
    ticket_type = body.get("type")
    if ticket_type not in TICKET_TYPES:
        raise HandoffError(f"工单类型应是：{'、'.join(TICKET_TYPES)}。")
    fields = {"description": _text(body, "description", MAX_TICKET_TEXT, required=True)}
    for key in ("address", "phone", "person_name"):
        value = _text(body, key, 200)
        if value:
            fields[key] = value
    fields["taken_by"] = user.username
    plan = await asyncio.to_thread(plan_ticket, ticket_type, fields, today())
    store = await request.app[CASE_STORES_KEY].for_type(ticket_type)
    result = await store.create(NewTicket(
        type=ticket_type, sender_id=session.sender_id, channel="staff", fields=fields,
        submission_key=submission_key(ticket_type, session.sender_id, fields), category=plan.category,
        subcategory=plan.subcategory, department=plan.department, deadlines=plan.deadlines))
    async with request.app[ENGINE_KEY].begin() as conn:
        await audit.record(conn, user.username, "ticket.create", result.ticket.number,
                           handoff=session.id, created=result.created)
    return web.json_response({"ticket": ticket_to_json(result.ticket), "created": result.created},
                             status=201 if result.created else 200)


# ---------------------------------------------------------------------------------------------- sockets
def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on WebSocket handshakes: refuse other sites (the cookie is SameSite=Strict too)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@require("staff")
async def staff_socket(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        return _error(403, "不允许从其他网站连接。")
    user = await _user(request)
    return await _service(request).staff_socket(request, user, request.cookies.get(SESSION_COOKIE, ""))


async def resident_socket(request: web.Request) -> web.StreamResponse:
    """The resident page's live channel; the sender id (kept in the page's localStorage) is the secret."""
    sender = request.query.get("sender", "")
    if not webchat.SENDER_RE.match(sender):
        return _error(400, "会话编号无效，请刷新页面后重试。")
    if not _same_origin(request):
        return _error(403, "不允许从其他网站连接。")
    return await _service(request).resident_socket(request, sender)


# ---------------------------------------------------------------------------------------------- wiring
async def _handoff(app: web.Application):  # type: ignore[no-untyped-def]
    """Runs after the database and the Rasa client exist (web.app adds those cleanup contexts first)."""
    from web.app import ENGINE_KEY

    try:
        await load_config()
    except HandoffConfigError as exc:   # said loudly now; residents get a plain "not available" from the action
        log.error("handoff configuration: %s", exc)
    service = HandoffService(HandoffStore(app[ENGINE_KEY]), app[webchat.RASA_KEY])
    app[HANDOFF_KEY] = service
    app[webchat.RESIDENT_HOOK_KEY] = service.resident_hook
    await service.start()
    yield
    await service.stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_handoff)
    r = app.router
    r.add_get("/staff", console_page)
    r.add_get("/api/staff/handoff/config", console_config)
    r.add_get("/api/staff/handoff/queue", queue)
    r.add_get("/api/staff/handoff/{session_id}", detail)
    r.add_post("/api/staff/handoff/{session_id}/claim", claim)
    r.add_post("/api/staff/handoff/{session_id}/messages", send_message)
    r.add_post("/api/staff/handoff/{session_id}/handback", hand_back)
    r.add_post("/api/staff/handoff/{session_id}/transfer", transfer)
    r.add_post("/api/staff/handoff/{session_id}/close", close)
    r.add_get("/api/staff/handoff/{session_id}/tickets", resident_tickets)
    r.add_post("/api/staff/handoff/{session_id}/tickets", create_ticket)
    r.add_get("/ws/staff", staff_socket)
    r.add_get("/ws/chat", resident_socket)
