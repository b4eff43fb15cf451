"""Login for staff and admins: session cookie, `require(role)` for pages, APIs and sockets."""
from __future__ import annotations

import functools
import re
import time
from collections import defaultdict, deque
from typing import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from web.accounts import AccountStore, StaffUser

SESSION_COOKIE = "bianmin_session"
ACCOUNTS_KEY = web.AppKey("accounts", AccountStore)
USER_KEY = "bianmin.user"
MAX_FAILURES = 5            # per client address ...
FAILURE_WINDOW = 300.0      # ... in this many seconds, then 429

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_failures: dict[str, deque[float]] = defaultdict(deque)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "") \
        or request.headers.get("Upgrade", "").lower() == "websocket"


async def current_user(request: web.Request) -> StaffUser | None:
    if USER_KEY not in request:
        request[USER_KEY] = await request.app[ACCOUNTS_KEY].session_user(request.cookies.get(SESSION_COOKIE))
    return request[USER_KEY]


def require(role: str) -> Callable[[Handler], Handler]:
    """Only signed-in users with ``role`` (admins pass every check) reach the handler."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                if _wants_json(request):
                    return web.json_response({"error": "请先登录。"}, status=401)
                raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
            if not user.can(role):
                return web.json_response({"error": "您没有权限执行此操作。"}, status=403)
            return await handler(request)

        wrapper.required_role = role  # type: ignore[attr-defined]  # the route-coverage test reads this
        return wrapper

    return decorate


async def login_page(request: web.Request) -> web.FileResponse:
    from web.app import STATIC

    return web.FileResponse(STATIC / "login.html")


_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")


def _safe_next(value: str | None) -> str:
    """Only a plain path on this site: browsers read "\\" as "/" and drop tabs/newlines, so "/\\evil.example",
    "/\\t/evil.example" and the like would leave it (finding 6). Anything else goes to the staff page."""
    if not value or not _LOCAL_PATH.fullmatch(value) or "\\" in value:
        return "/staff"
    return value


async def login(request: web.Request) -> web.Response:
    peer = request.remote or "?"
    now = time.monotonic()
    attempts = _failures[peer]
    while attempts and now - attempts[0] > FAILURE_WINDOW:
        attempts.popleft()
    if len(attempts) >= MAX_FAILURES:
        return web.json_response({"error": "登录失败次数过多，请5分钟后再试。"}, status=429)
    if request.content_type == "application/json":
        data = await request.json()
    else:
        data = dict(await request.post())
    username, password = str(data.get("username", "")).strip(), str(data.get("password", ""))
    user = await request.app[ACCOUNTS_KEY].authenticate(username, password) if username and password else None
    if user is None:
        attempts.append(now)
        return web.json_response({"error": "用户名或密码不正确。"}, status=401)
    token = await request.app[ACCOUNTS_KEY].open_session(user)
    target = _safe_next(str(data.get("next") or "")) if user.can("staff") else "/"
    if user.is_admin and not data.get("next"):
        target = "/admin"
    resp = web.json_response({"ok": True, "next": target, "user": {"username": user.username,
                                                                    "display_name": user.display_name,
                                                                    "role": user.role}})
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/",
                    secure=request.secure, max_age=12 * 3600)
    return resp


async def logout(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS_KEY].close_session(request.cookies.get(SESSION_COOKIE))
    resp = web.HTTPFound("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


@require("staff")
async def me(request: web.Request) -> web.Response:
    user = await current_user(request)
    assert user is not None
    return web.json_response({"username": user.username, "display_name": user.display_name, "role": user.role})


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_get("/logout", logout)
    app.router.add_get("/api/me", me)
