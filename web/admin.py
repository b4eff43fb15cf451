"""Admin console for FAQ knowledge: the page at /admin and its JSON APIs under /api/admin/.

Admins search, create, edit, publish and unpublish entries, read their history, preview how the assistant
would answer any question (the same retrieval and decision as ``action_answer_faq``), work through the
questions the assistant could not answer (one step to a new FAQ or a similar question), see which answers
residents found unhelpful, and import/export YAML. Every route requires an admin login
(``require("admin")``). Handlers are thin: they call :class:`faq.store.FaqStore` and map its
domain errors to 400/404/409/422 with the Chinese message. Every change is written by the store together
with its history row, an audit row and a new FAQ revision (the assistant picks it up on the next message).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, TypedDict

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from faq.models import STATUSES, UNANSWERED_REASONS
from faq.store import FaqError, FaqStore, FaqValidationError, dump_yaml, load_yaml
from knowledge.local_settings import placeholders
from faq.retrieval import LiveIndex, candidate_floor_from_env, decide, threshold_from_env
from web.auth import current_user, require
from web.payloads import json_object

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
FAQ_STORE_KEY = web.AppKey("faq_store", FaqStore)
FAQ_INDEX_KEY = web.AppKey("faq_index", LiveIndex)
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_PREVIEW_CHARS = 300

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PreviewRequest(TypedDict):
    question: str


class FromUnansweredRequest(TypedDict, total=False):
    mode: str                  # "new": the question becomes a new FAQ; "similar": a similar question of target_id
    target_id: str
    faq: dict[str, Any]        # the pre-filled form (question, answer, similar, tags, department, status ...)
    version: int               # target's version when mode == "similar" (optimistic locking)


# ---------------------------------------------------------------------------------------------- helpers
def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def guarded(handler: Handler) -> Handler:
    """Domain errors → their status with the Chinese message; a database failure → 503."""
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except FaqError as exc:
            return _error(exc.status, str(exc))
        except SQLAlchemyError:
            log.exception("admin FAQ request failed")
            return _error(503, "数据库暂时无法访问，请稍后重试。")
    return wrapper


def admin_route(handler: Handler) -> Handler:
    return require("admin")(guarded(handler))


def _store(request: web.Request) -> FaqStore:
    return request.app[FAQ_STORE_KEY]


async def _actor(request: web.Request) -> str:
    user = await current_user(request)
    return user.username if user else "?"


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, FaqError)


def _int(value: Any, name: str, default: Optional[int] = None, lo: int = 0, hi: int = 10_000) -> Optional[int]:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FaqValidationError(f"{name} 应是整数") from None
    return min(max(number, lo), hi)


def _faq_json(store: FaqStore, entry: Any) -> dict[str, Any]:
    data = entry.as_dict()
    data["rendered_answer"] = store.settings.render(entry.answer)
    data["missing_placeholders"] = store.settings.missing(entry.answer)
    return data


# ---------------------------------------------------------------------------------------------- pages
@require("admin")
async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "admin.html", headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------------------------- FAQ entries
@admin_route
async def list_faqs(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status") or None
    if status and status not in STATUSES:
        raise FaqValidationError("状态只能是 draft 或 published")
    store = _store(request)
    items, total = await store.list(q.get("q", "")[:100], status, q.get("tag") or None,
                                    limit=_int(q.get("limit"), "limit", 50, 1, 500) or 50,
                                    offset=_int(q.get("offset"), "offset", 0, 0, 1_000_000) or 0)
    open_unanswered = (await store.list_unanswered("open", limit=1))[1]
    return web.json_response({"items": [i.as_dict() for i in items], "total": total,
                              "revision": await store.revision(), "open_unanswered": open_unanswered})


@admin_route
async def create_faq(request: web.Request) -> web.Response:
    store = _store(request)
    entry = await store.create(await _body(request), await _actor(request))
    return web.json_response({"faq": _faq_json(store, entry)}, status=201)


@admin_route
async def get_faq(request: web.Request) -> web.Response:
    store = _store(request)
    entry = await store.get(request.match_info["faq_id"])
    return web.json_response({"faq": _faq_json(store, entry), "feedback": await store.feedback_counts(entry.id)})


@admin_route
async def update_faq(request: web.Request) -> web.Response:
    store = _store(request)
    body = await _body(request)
    version = _int(body.pop("version", None), "version", None, 0, 10**9)
    body.pop("id", None)
    entry = await store.update(request.match_info["faq_id"], body, await _actor(request), version)
    return web.json_response({"faq": _faq_json(store, entry)})


async def _set_status(request: web.Request, status: str) -> web.Response:
    store = _store(request)
    body = await _body(request) if request.can_read_body else {}
    version = _int(body.get("version"), "version", None, 0, 10**9)
    entry = await store.set_status(request.match_info["faq_id"], status, await _actor(request), version)
    return web.json_response({"faq": _faq_json(store, entry)})


@admin_route
async def publish_faq(request: web.Request) -> web.Response:
    return await _set_status(request, "published")


@admin_route
async def unpublish_faq(request: web.Request) -> web.Response:
    return await _set_status(request, "draft")


@admin_route
async def delete_faq(request: web.Request) -> web.Response:
    version = _int(request.query.get("version"), "version", None, 0, 10**9)
    await _store(request).delete(request.match_info["faq_id"], await _actor(request), version)
    return web.json_response({"ok": True})


@admin_route
async def faq_history(request: web.Request) -> web.Response:
    return web.json_response({"history": await _store(request).history(request.match_info["faq_id"])})


# ---------------------------------------------------------------------------------------------- preview
@admin_route
async def preview(request: web.Request) -> web.Response:
    """How the assistant would answer ``question`` right now: candidates with scores and the decision."""
    body = await _body(request)
    question = str(body.get("question") or "").strip()[:MAX_PREVIEW_CHARS]
    if not question:
        raise FaqValidationError("请输入要测试的问题")
    store = _store(request)
    live = request.app[FAQ_INDEX_KEY]
    index = await live.current()
    hits = index.search(question, k=5)
    threshold, floor = threshold_from_env(), candidate_floor_from_env()
    decision = decide(hits, threshold, floor)
    answer = None
    if decision.kind == "answer" and decision.best is not None:
        entry = await store.find(decision.best.faq_id)
        if entry is not None:
            answer = {"faq_id": entry.id, "question": entry.question,
                      "text": f"【{entry.question}】\n{store.settings.render(entry.answer)}"}
    return web.json_response({
        "question": question, "revision": index.revision, "entries": len(index), "threshold": threshold,
        "candidate_floor": floor, "decision": decision.kind, "answer": answer,
        "offered": [h.faq_id for h in decision.candidates],
        "candidates": [h.as_dict() for h in hits], "analysis": index.explain(question)})


@admin_route
async def render_answer(request: web.Request) -> web.Response:
    """The answer text as residents would read it (placeholders filled from the local settings)."""
    body = await _body(request)
    text = str(body.get("answer") or "")[:10_000]
    settings = _store(request).settings
    return web.json_response({"text": settings.render(text), "missing": settings.missing(text),
                              "placeholders": placeholders(text)})


@admin_route
async def settings_values(request: web.Request) -> web.Response:
    settings = _store(request).settings
    return web.json_response({"file": str(settings.path.name), "values": settings.values()})


# ---------------------------------------------------------------------------------------------- unanswered / feedback
@admin_route
async def list_unanswered(request: web.Request) -> web.Response:
    q = request.query
    reason = q.get("reason") or None
    if reason and reason not in UNANSWERED_REASONS:
        raise FaqValidationError("未知原因")
    items, total = await _store(request).list_unanswered(
        q.get("status") or "open", reason, limit=_int(q.get("limit"), "limit", 50, 1, 500) or 50,
        offset=_int(q.get("offset"), "offset", 0, 0, 1_000_000) or 0)
    return web.json_response({"items": items, "total": total})


def _unanswered_id(request: web.Request) -> int:
    raw = request.match_info.get("unanswered_id", "")
    if not raw.isdigit() or len(raw) > 12:
        raise FaqValidationError("编号不正确")
    return int(raw)


@admin_route
async def faq_from_unanswered(request: web.Request) -> web.Response:
    """One step: the unanswered question becomes a new FAQ (or a similar question); the row is resolved."""
    body = await _body(request)
    store = _store(request)
    form = body.get("faq") if isinstance(body.get("faq"), dict) else None
    entry = await store.faq_from_unanswered(_unanswered_id(request), await _actor(request),
                                            str(body.get("mode") or "new"), form,
                                            str(body.get("target_id") or "") or None,
                                            _int(body.get("version"), "version", None, 0, 10**9))
    return web.json_response({"faq": _faq_json(store, entry)}, status=201 if body.get("mode", "new") == "new" else 200)


@admin_route
async def set_unanswered_status(request: web.Request) -> web.Response:
    body = await _body(request)
    await _store(request).resolve_unanswered(_unanswered_id(request), await _actor(request),
                                             str(body.get("status") or "ignored"))
    return web.json_response({"ok": True})


@admin_route
async def feedback(request: web.Request) -> web.Response:
    return web.json_response({"items": await _store(request).feedback_summary()})


# ---------------------------------------------------------------------------------------------- import / export
@admin_route
async def export_yaml(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    entries = await _store(request).export_entries(status)
    name = f"faq-{status or 'all'}-{dt.date.today():%Y%m%d}.yml"
    return web.Response(text=dump_yaml(entries), content_type="application/x-yaml", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})


async def _upload_text(request: web.Request) -> str:
    """The uploaded YAML: a multipart file field, or the raw request body (streamed, size-limited)."""
    chunks: list[bytes] = []
    size = 0
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if getattr(part, "name", None) != "file":
                continue
            while True:
                chunk = await part.read_chunk(65536)  # type: ignore[union-attr]
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_IMPORT_BYTES:
                    raise FaqValidationError("导入文件过大（最大5MB）")
                chunks.append(chunk)
            break
        if not chunks:
            raise FaqValidationError("请选择要导入的 YAML 文件")
    else:
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
            if size > MAX_IMPORT_BYTES:
                raise FaqValidationError("导入文件过大（最大5MB）")
            chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FaqValidationError("导入文件应为 UTF-8 编码的 YAML") from None


@admin_route
async def import_yaml(request: web.Request) -> web.Response:
    entries = load_yaml(await _upload_text(request))
    if not entries:
        raise FaqValidationError("文件中没有任何条目")
    result = await _store(request).import_entries(entries, await _actor(request))
    return web.json_response({**result.counts(), "created_ids": result.created, "updated_ids": result.updated})


# ---------------------------------------------------------------------------------------------- wiring
async def _faq(app: web.Application):  # type: ignore[no-untyped-def]
    """The store shares the app's engine; the starter set is loaded on first run (if the table is empty)."""
    from web.app import ENGINE_KEY

    store = FaqStore(app[ENGINE_KEY])
    try:
        await store.seed_if_empty()
    except Exception:   # noqa: BLE001 - a broken starter file must not keep the web app down
        log.exception("could not load the FAQ starter set")
    app[FAQ_STORE_KEY] = store
    app[FAQ_INDEX_KEY] = LiveIndex(store)
    yield


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_faq)
    r = app.router
    r.add_get("/admin", console_page)
    r.add_get("/api/admin/faqs", list_faqs)
    r.add_post("/api/admin/faqs", create_faq)
    r.add_get("/api/admin/faqs/{faq_id}", get_faq)
    r.add_put("/api/admin/faqs/{faq_id}", update_faq)
    r.add_delete("/api/admin/faqs/{faq_id}", delete_faq)
    r.add_post("/api/admin/faqs/{faq_id}/publish", publish_faq)
    r.add_post("/api/admin/faqs/{faq_id}/unpublish", unpublish_faq)
    r.add_get("/api/admin/faqs/{faq_id}/history", faq_history)
    r.add_post("/api/admin/preview", preview)
    r.add_post("/api/admin/render", render_answer)
    r.add_get("/api/admin/settings", settings_values)
    r.add_get("/api/admin/unanswered", list_unanswered)
    r.add_post("/api/admin/unanswered/{unanswered_id}/faq", faq_from_unanswered)
    r.add_post("/api/admin/unanswered/{unanswered_id}/status", set_unanswered_status)
    r.add_get("/api/admin/feedback", feedback)
    r.add_get("/api/admin/export", export_yaml)
    r.add_post("/api/admin/import", import_yaml)
