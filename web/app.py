"""App factory: resources (HTTP client to Rasa) live and die with the app; routes come from their homes."""
from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web

from sqlalchemy.ext.asyncio import AsyncEngine

from bianmin.db import create_schema, make_engine
from bianmin.settings import Settings
from web import cases_api as case_api
from channels import webchat
from channels.rasa_client import RasaClient
from web import admin, auth, staff
from web.accounts import AccountStore

STATIC = Path(__file__).parent / "static"
SETTINGS_KEY = web.AppKey("settings", Settings)
ENGINE_KEY = web.AppKey("engine", AsyncEngine)


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    resp = await handler(request)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


async def _http_client(app: web.Application):  # type: ignore[no-untyped-def]
    settings = app[SETTINGS_KEY]
    async with aiohttp.ClientSession() as http:
        app[webchat.RASA_KEY] = RasaClient(settings.rasa_url, http, settings.rasa_token)
        yield


async def _database(app: web.Application):  # type: ignore[no-untyped-def]
    """The engine lives as long as the app; handlers open a connection per request."""
    engine = make_engine(app[SETTINGS_KEY].database_url)
    await create_schema(engine)
    app[ENGINE_KEY] = engine
    app[auth.ACCOUNTS_KEY] = AccountStore(engine)
    yield
    await engine.dispose()


async def chat_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "chat.html")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(middlewares=[security_headers], client_max_size=256 * 1024)
    app[SETTINGS_KEY] = settings
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_http_client)
    app.router.add_get("/", chat_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", STATIC)
    webchat.setup(app)
    auth.setup(app)
    case_api.setup(app)
    staff.setup(app)   # hotline handoff: /staff, /api/staff/handoff, /ws/staff, /ws/chat
    admin.setup(app)   # FAQ knowledge: /admin, /api/admin/...
    return app


def run(settings: Settings, port: int | None = None) -> None:
    web.run_app(create_app(settings), host=settings.host, port=port or settings.web_port,
                access_log=None, print=None)
