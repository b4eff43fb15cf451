"""Helpers for the handoff tests that run the real web app in-process (its own SQLite database, real login).

Rasa is deliberately unreachable here (a closed port): these tests are about the database and the HTTP edge.
The full stack with Rasa is exercised by tests/test_handoff_browser.py.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import aiohttp
from sqlalchemy import insert

from bianmin import audit
from bianmin.settings import Settings
from bianmin.spawn import free_port
from tests.conftest import serve_app
from web.accounts import AccountStore, hash_password, staff_users

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-9"


@contextlib.asynccontextmanager
async def web_app(var: Path, database_url: Optional[str] = None) -> AsyncIterator[tuple[str, Any]]:
    """The real bianmin web app on a free port: (base url, app)."""
    from web.app import create_app

    env = {"BIANMIN_VAR": str(var), "BIANMIN_HOME": str(REPO),
           "BIANMIN_RASA_URL": f"http://127.0.0.1:{free_port()}"}   # nothing listens there
    if database_url:
        env["BIANMIN_DATABASE_URL"] = database_url
    app = create_app(Settings.from_env(env))
    async with serve_app(app) as url:
        yield url, app


async def add_users(app: Any, *users: tuple[str, str, str]) -> None:
    """(username, role, display name); a role other than staff/admin is written directly (the CLI refuses it)."""
    from web.app import ENGINE_KEY

    accounts = AccountStore(app[ENGINE_KEY])
    for username, role, display in users:
        if role in ("staff", "admin"):
            await accounts.add_user(username, PASSWORD, role, display)
        else:
            async with app[ENGINE_KEY].begin() as conn:
                await conn.execute(insert(staff_users).values(
                    username=username, display_name=display, password_hash=hash_password(PASSWORD), role=role,
                    active=True, created_at=audit.utcnow()))


async def sign_in(url: str, username: str) -> aiohttp.ClientSession:
    """A client session holding ``username``'s login cookie (caller closes it)."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{url}/login", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
    return http


@contextlib.asynccontextmanager
async def signed_in(url: str, username: str) -> AsyncIterator[aiohttp.ClientSession]:
    http = await sign_in(url, username)
    try:
        yield http
    finally:
        await http.close()
