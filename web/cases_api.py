"""HTTP routes for tickets on the bianmin web app.

1. The case-system API (``/api/cases``) that HttpCaseStore speaks, so one bianmin deployment can be the
   external case system of another. Machine-to-machine: bearer token ``BIANMIN_CASE_API_TOKEN``; without
   it these routes answer 503. Served from this deployment's own SQL store.
2. Staff ticket APIs (``/api/staff/tickets``) behind ``require("staff")``, through the configured stores.
   Lists are masked; opening one ticket shows personal data and writes an audit row ``ticket.view``.

Handlers are thin: parse, call the store, map domain errors to 404/409/422/503 with Chinese messages.
"""
from __future__ import annotations

import functools
import hmac
import logging
import os
from typing import Any, Optional, TypedDict

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bianmin import audit
from cases.registry import CaseStores
from cases.sql_store import SqlCaseStore
from cases.store import (TICKET_TYPES, CaseStore, CaseStoreError, CaseStoreUnavailable, InvalidRating,
                         InvalidTransition, Status, TicketNotFound, parse_status)
from cases.wire import IDEMPOTENCY_KEY_RE, CreateResultJSON, TicketJSON, new_ticket_from_json, ticket_to_json
from web.auth import current_user, require
from web.payloads import json_object, text_field

log = logging.getLogger(__name__)

API_TOKEN_ENV = "BIANMIN_CASE_API_TOKEN"
CASE_STORES_KEY = web.AppKey("case_stores", CaseStores)
API_TOKEN_KEY = web.AppKey("case_api_token", str)
MAX_PER_PAGE = 100
MAX_OFFSET = 10_000


# ---------------------------------------------------------------------------------------------- payloads
class StatusChange(TypedDict, total=False):
    status: str          # Chinese name or English alias
    note: str
    actor: str           # machine API only (staff API uses the signed-in user)


class NoteRequest(TypedDict, total=False):
    note: str
    actor: str


class RatingRequest(TypedDict, total=False):
    score: int
    sender_id: Optional[str]


class TicketList(TypedDict):
    tickets: list[TicketJSON]
    total: int


class StaffTicketList(TypedDict):
    tickets: list[TicketJSON]
    total: int
    page: int
    per_page: int


class ErrorBody(TypedDict):
    error: str
    code: str


# ---------------------------------------------------------------------------------------------- helpers
def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response(ErrorBody(error=message, code=code), status=status)


def domain_error(exc: Exception) -> web.Response:
    """The single mapping of store errors to HTTP answers (HttpCaseStore maps ``code`` back)."""
    if isinstance(exc, TicketNotFound):
        return _error(404, "没有找到该工单，请核对工单编号。", "not_found")
    if isinstance(exc, InvalidTransition):
        return _error(409, str(exc) or "工单当前状态不允许这样变更。", "invalid_transition")
    if isinstance(exc, InvalidRating):
        return _error(409, str(exc) or "目前不能评价这件工单。", "invalid_rating")
    if isinstance(exc, CaseStoreUnavailable):
        return _error(503, "工单系统暂时无法访问，请稍后再试。本次操作没有保存。", "unavailable")
    if isinstance(exc, ValueError):
        return _error(422, str(exc) or "请求内容不正确。", "invalid_request")
    log.exception("unexpected case store error", exc_info=exc)
    return _error(500, "工单系统出现内部错误。", "internal")


def _handles_domain_errors(handler):  # type: ignore[no-untyped-def]
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (CaseStoreError, ValueError) as exc:
            return domain_error(exc)
    return wrapper


async def _json_object(request: web.Request) -> dict[str, Any]:
    return await json_object(request, ValueError)


def _text(body: dict[str, Any], key: str, *, required: bool = False, limit: int = 2000) -> str:
    return text_field(body, key, limit, required, ValueError)


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"参数 {name} 应为整数。") from None
    if not low <= value <= high:
        raise ValueError(f"参数 {name} 应在 {low} 到 {high} 之间。")
    return value


def _filters(request: web.Request) -> tuple[Optional[Status], Optional[str], Optional[str]]:
    status = parse_status(request.query["status"]) if request.query.get("status") else None
    ticket_type = request.query.get("type") or None
    if ticket_type is not None and ticket_type not in TICKET_TYPES:
        raise ValueError(f"工单类型“{ticket_type}”无效，可选：{'、'.join(TICKET_TYPES)}。")
    category = request.query.get("category") or None
    if category is not None and len(category) > 64:
        raise ValueError("类别名称过长。")
    return status, ticket_type, category


def _request_key(request: web.Request) -> Optional[str]:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValueError("Idempotency-Key 格式不正确（8到128个字母、数字或 _.:-）。")
    return key


def _stores(request: web.Request) -> CaseStores:
    return request.app[CASE_STORES_KEY]


# ---------------------------------------------------------------------------------------------- machine API
def machine_api(handler):  # type: ignore[no-untyped-def]
    """Bearer-token check for the case-system API; 503 while no token is configured."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        token = request.app[API_TOKEN_KEY]
        if not token:
            return _error(503, f"工单接口未启用：请在服务器上设置 {API_TOKEN_ENV}。", "disabled")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            resp = _error(401, "工单接口令牌无效。", "unauthorized")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        return await _handles_domain_errors(handler)(request)

    wrapper.required_role = "case_api_token"  # type: ignore[attr-defined]  # for the route-coverage test
    return wrapper


@machine_api
async def api_create(request: web.Request) -> web.Response:
    new = new_ticket_from_json(await _json_object(request), request.headers.get("Idempotency-Key"))
    result = await (await _stores(request).sql()).create(new)
    return web.json_response(CreateResultJSON(ticket=ticket_to_json(result.ticket), created=result.created),
                             status=201 if result.created else 200)


@machine_api
async def api_get(request: web.Request) -> web.Response:
    ticket = await (await _stores(request).sql()).get(request.match_info["number"])
    if ticket is None:
        raise TicketNotFound(request.match_info["number"])
    return web.json_response(ticket_to_json(ticket))


@machine_api
async def api_find(request: web.Request) -> web.Response:
    """?sender_id= | ?query_code= | otherwise a filtered listing (status/type/category).

    A phone number is personal data and must not travel in a URL (proxies and access logs keep URLs):
    look a resident up by phone with ``POST /api/cases/search`` instead.
    """
    store = await _stores(request).sql()
    q = request.query
    if "phone" in q or "id_last4" in q:
        return _error(400, "电话号码和证件号属于个人信息，不能放在网址里，请改用 POST /api/cases/search 查询。",
                      "personal_data_in_url")
    limit = _int_param(request, "limit", 5 if ("sender_id" in q or "query_code" in q) else 20, 1, MAX_PER_PAGE)
    if q.get("sender_id"):
        found = await store.find_by_sender(q["sender_id"], limit)
    elif q.get("query_code"):
        found = await store.find_by_contact(query_code=q["query_code"], limit=limit)
    else:
        status, ticket_type, category = _filters(request)
        page = await store.list_tickets(status=status, ticket_type=ticket_type, category=category, limit=limit,
                                        offset=_int_param(request, "offset", 0, 0, MAX_OFFSET))
        return web.json_response(TicketList(tickets=[ticket_to_json(t) for t in page.tickets], total=page.total))
    return web.json_response(TicketList(tickets=[ticket_to_json(t) for t in found], total=len(found)))


@machine_api
async def api_search(request: web.Request) -> web.Response:
    """A resident's tickets by contact: JSON ``{"phone", "id_last4"?}`` or ``{"query_code"}`` (body, not URL)."""
    body = await _json_object(request)
    limit = body.get("limit", 5)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PER_PAGE:
        raise ValueError(f"limit 应为 1 到 {MAX_PER_PAGE} 之间的整数。")
    phone, query_code = _text(body, "phone", limit=32), _text(body, "query_code", limit=32)
    if not phone and not query_code:
        raise ValueError("请提供 phone（可加 id_last4）或 query_code。")
    found = await (await _stores(request).sql()).find_by_contact(
        phone=phone or None, id_last4=_text(body, "id_last4", limit=4) or None, query_code=query_code or None,
        limit=limit)
    return web.json_response(TicketList(tickets=[ticket_to_json(t) for t in found], total=len(found)))


@machine_api
async def api_status(request: web.Request) -> web.Response:
    body = await _json_object(request)
    status = parse_status(_text(body, "status", required=True, limit=32))
    ticket = await (await _stores(request).sql()).update_status(
        request.match_info["number"], status, _text(body, "actor", limit=64) or "case-api",
        _text(body, "note"), request_key=_request_key(request))
    return web.json_response(ticket_to_json(ticket))


@machine_api
async def api_note(request: web.Request) -> web.Response:
    body = await _json_object(request)
    ticket = await (await _stores(request).sql()).add_note(
        request.match_info["number"], _text(body, "actor", limit=64) or "case-api",
        _text(body, "note", required=True), request_key=_request_key(request))
    return web.json_response(ticket_to_json(ticket))


@machine_api
async def api_rating(request: web.Request) -> web.Response:
    body = await _json_object(request)
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        return _error(422, "评分应为1到5之间的整数。", "invalid_rating")
    sender_id = body.get("sender_id")
    if sender_id is not None and not isinstance(sender_id, str):
        raise ValueError("sender_id 应为文本。")
    ticket = await (await _stores(request).sql()).rate(request.match_info["number"], score, sender_id,
                                                      request_key=_request_key(request))
    return web.json_response(ticket_to_json(ticket))


# ---------------------------------------------------------------------------------------------- staff API
@require("staff")
@_handles_domain_errors
async def staff_list(request: web.Request) -> web.Response:
    status, ticket_type, category = _filters(request)
    per_page = _int_param(request, "per_page", 20, 1, MAX_PER_PAGE)
    page_no = _int_param(request, "page", 1, 1, MAX_OFFSET // per_page + 1)
    page = await _stores(request).list_tickets(status=status, ticket_type=ticket_type, category=category,
                                                limit=per_page, offset=(page_no - 1) * per_page)
    return web.json_response(StaffTicketList(tickets=[ticket_to_json(t, masked=True) for t in page.tickets],
                                             total=page.total, page=page_no, per_page=per_page))


async def _audit_hooks(request: web.Request, store: CaseStore, action: str, number: str, **detail: Any):  # type: ignore[no-untyped-def]
    """(user, in-transaction hook, after hook) — exactly one hook is set. The audit row commits together with
    the change when the ticket is in this app's own database; for an external store it follows the change."""
    from web.app import ENGINE_KEY

    user = await current_user(request)
    assert user is not None
    engine = request.app[ENGINE_KEY]

    async def write(conn: AsyncConnection) -> None:
        await audit.record(conn, user.username, action, number, **detail)

    async def after() -> None:
        try:
            async with engine.begin() as conn:
                await write(conn)
        except Exception as exc:  # the change itself is done; failing now would invite a duplicate retry
            log.error("audit write failed after %s on %s: %s", action, number, type(exc).__name__)

    if isinstance(store, SqlCaseStore) and store.engine is engine:
        return user, write, None
    return user, None, after


@require("staff")
@_handles_domain_errors
async def staff_get(request: web.Request) -> web.Response:
    from web.app import ENGINE_KEY

    number = request.match_info["number"].strip().upper()
    store = await _stores(request).for_number(number)
    ticket = await store.get(number)
    if ticket is None:
        raise TicketNotFound(number)
    user = await current_user(request)
    assert user is not None
    try:  # no trail, no data (PIPL): the view is recorded before personal data leaves the server
        async with request.app[ENGINE_KEY].begin() as conn:
            await audit.record(conn, user.username, "ticket.view", number)
    except Exception as exc:
        log.warning("audit write failed for ticket.view: %s", type(exc).__name__)
        raise CaseStoreUnavailable("audit") from exc
    return web.json_response(ticket_to_json(ticket))


@require("staff")
@_handles_domain_errors
async def staff_status(request: web.Request) -> web.Response:
    number = request.match_info["number"].strip().upper()
    body = await _json_object(request)
    status = parse_status(_text(body, "status", required=True, limit=32))
    note = _text(body, "note")
    store = await _stores(request).for_number(number)
    user, in_tx, after = await _audit_hooks(request, store, "ticket.status", number, status=status.value)
    if in_tx is not None:
        ticket = await store.update_status(number, status, user.username, note,  # type: ignore[call-arg]
                                           in_transaction=in_tx)
    else:
        ticket = await store.update_status(number, status, user.username, note)
        await after()
    return web.json_response(ticket_to_json(ticket))


@require("staff")
@_handles_domain_errors
async def staff_note(request: web.Request) -> web.Response:
    number = request.match_info["number"].strip().upper()
    note = _text(await _json_object(request), "note", required=True)
    store = await _stores(request).for_number(number)
    user, in_tx, after = await _audit_hooks(request, store, "ticket.note", number)
    if in_tx is not None:
        ticket = await store.add_note(number, user.username, note, in_transaction=in_tx)  # type: ignore[call-arg]
    else:
        ticket = await store.add_note(number, user.username, note)
        await after()
    return web.json_response(ticket_to_json(ticket))


# ---------------------------------------------------------------------------------------------- wiring
async def _case_stores(app: web.Application):  # type: ignore[no-untyped-def]
    """The app's stores share its engine (opened by web.app's ``_database`` before this runs)."""
    from web.app import ENGINE_KEY, SETTINGS_KEY

    stores = CaseStores(app[SETTINGS_KEY], engine=app[ENGINE_KEY])
    app[CASE_STORES_KEY] = stores
    yield
    await stores.close()


def setup(app: web.Application, *, api_token: Optional[str] = None) -> None:
    """Register the routes; ``api_token`` defaults to $BIANMIN_CASE_API_TOKEN (empty = machine API off)."""
    app[API_TOKEN_KEY] = (os.environ.get(API_TOKEN_ENV, "") if api_token is None else api_token).strip()
    app.cleanup_ctx.append(_case_stores)
    r = app.router
    r.add_post("/api/cases", api_create)
    r.add_get("/api/cases", api_find)
    r.add_post("/api/cases/search", api_search)
    r.add_get("/api/cases/{number}", api_get)
    r.add_post("/api/cases/{number}/status", api_status)
    r.add_post("/api/cases/{number}/notes", api_note)
    r.add_post("/api/cases/{number}/rating", api_rating)
    r.add_get("/api/staff/tickets", staff_list)
    r.add_get("/api/staff/tickets/{number}", staff_get)
    r.add_post("/api/staff/tickets/{number}/status", staff_status)
    r.add_post("/api/staff/tickets/{number}/notes", staff_note)
