"""Issue 15 edges: the login redirect stays on-site (finding 6) and the sender id is not logged (finding 3)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import pytest

from handoff_support import PASSWORD, add_users, web_app

REPO = Path(__file__).resolve().parents[1]

#: ``next`` values an attacker may put in a login link; each must land on this site.
HOSTILE_NEXT = [
    "/\\evil.example/phish", "//evil.example/phish", "/\\/evil.example", "\\\\evil.example", "/\t/evil.example",
    "/\n/evil.example", "https://evil.example/", "javascript:alert(1)", "/%5Cevil.example", " //evil.example",
    "/\x00/evil.example", "http:/evil.example", "\\/evil.example",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
async def test_login_next_stays_on_site(tmp_path: Path, target: str) -> None:
    async with web_app(tmp_path / "var") as (url, app):
        await add_users(app, ("zhangsan", "staff", "张三"))
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/login", json={"username": "zhangsan", "password": PASSWORD,
                                                        "next": target}) as r:
                assert r.status == 200
                given = (await r.json())["next"]
        landed = urljoin(url + "/login", given)
        # a browser treats "\" as "/" and drops tab/newline in URLs: check what it would resolve
        browser = urljoin(url + "/login", re.sub(r"[\t\n\r]", "", given.replace("\\", "/")).strip())
        assert landed.startswith(url + "/") and browser.startswith(url + "/"), (target, landed)


async def test_login_next_keeps_a_plain_local_path(tmp_path: Path) -> None:
    async with web_app(tmp_path / "var") as (url, app):
        await add_users(app, ("zhangsan", "staff", "张三"))
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/login", json={"username": "zhangsan", "password": PASSWORD,
                                                        "next": "/staff?tab=queue"}) as r:
                assert (await r.json())["next"] == "/staff?tab=queue"


def test_actions_do_not_log_the_sender_id() -> None:
    """The sender id is the resident's only secret (finding 3): no log call may format it."""
    offenders = []
    for path in sorted((REPO / "actions").glob("*.py")):
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\blog(ger)?\.\w+\(", line) and "sender_id" in line:
                offenders.append(f"{path.name}:{no}: {line.strip()}")
    assert not offenders, offenders
