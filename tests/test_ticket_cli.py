"""`bianmin ticket …` against a real SQLite database in a temporary var/."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bianmin import audit
from bianmin.cli import main
from bianmin.db import create_schema, make_engine
from cases.sql_store import SqlCaseStore
from cases.store import Status
from cases_support import REPO, new_ticket


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("BIANMIN_DATABASE_URL", "BIANMIN_CASE_STORE", "BIANMIN_CASE_STORE_COMPLAINT",
                 "BIANMIN_CASE_STORE_PETITION", "BIANMIN_CASE_STORE_LEGAL_AID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIANMIN_VAR", str(tmp_path))
    return tmp_path


def db_url(var: Path) -> str:
    return f"sqlite+aiosqlite:///{var / 'bianmin.db'}"


def run_async(var: Path, work) -> Any:  # type: ignore[no-untyped-def]
    async def go() -> Any:
        engine = make_engine(db_url(var))
        await create_schema(engine)
        try:
            return await work(SqlCaseStore(engine), engine)
        finally:
            await engine.dispose()
    return asyncio.run(go())


def seed(var: Path, **kw: Any):  # type: ignore[no-untyped-def]
    async def work(store, engine):  # type: ignore[no-untyped-def]
        return (await store.create(new_ticket(**kw))).ticket
    return run_async(var, work)


def audit_rows(var: Path, action: str) -> list[dict[str, Any]]:
    async def work(store, engine):  # type: ignore[no-untyped-def]
        return [r for r in await audit.recent(engine, 100) if r["action"] == action]
    return run_async(var, work)


def test_show_masks_personal_data(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = seed(var, category="环境保护", department="区生态环境局",
             fields={"description": "楼下烧烤店油烟很大，我电话13812345678"})
    assert main(["ticket", "show", t.number]) == 0
    out = capsys.readouterr().out
    assert t.number in out and "已受理" in out and "区生态环境局" in out and "投诉举报" in out
    assert "13812345678" not in out and "138****5678" in out
    assert "张伟" not in out and "张*" in out and "朝阳区****" in out
    assert audit_rows(var, "ticket.view") == []


def test_reveal_shows_plain_data_and_is_audited(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = seed(var)
    assert main(["ticket", "show", t.number, "--reveal", "--actor", "ops-zhao"]) == 0
    out = capsys.readouterr().out
    assert "13812345678" in out and "张伟" in out and "朝阳区建国路88号3栋501室" in out
    rows = audit_rows(var, "ticket.view")
    assert [(r["actor"], r["target"], r["detail"]["via"]) for r in rows] == [("ops-zhao", t.number, "cli")]


def test_list_filters(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = seed(var)
    b = seed(var, ticket_type="petition")

    async def assign(store, engine):  # type: ignore[no-untyped-def]
        await store.update_status(a.number, Status.ASSIGNED, "staff")
    run_async(var, assign)
    assert main(["ticket", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == [b.number, a.number]
    assert main(["ticket", "list", "--status", "assigned"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [a.number]
    assert main(["ticket", "list", "--type", "legal_aid"]) == 0
    assert "没有符合条件的工单" in capsys.readouterr().out
    assert main(["ticket", "list", "--status", "done"]) == 2
    assert "未知的工单状态" in capsys.readouterr().err


def test_status_changes_with_chinese_and_english_names(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = seed(var)
    assert main(["ticket", "status", t.number, "已分派", "--note", "派至街道", "--actor", "ops-zhao"]) == 0
    assert "已分派" in capsys.readouterr().out
    assert main(["ticket", "status", t.number.lower(), "resolved"]) == 0
    assert main(["ticket", "status", t.number, "accepted"]) == 2
    assert "不能改为" in capsys.readouterr().err
    assert main(["ticket", "status", "TS20200101-0001", "assigned"]) == 1
    assert "没有找到工单" in capsys.readouterr().err

    async def load(store, engine):  # type: ignore[no-untyped-def]
        return await store.get(t.number)
    stored = run_async(var, load)
    assert stored.status is Status.RESOLVED
    assert (stored.events[1].actor, stored.events[1].note) == ("ops-zhao", "派至街道")
    assert stored.events[2].actor.startswith("cli")
    assert [r["detail"]["status"] for r in audit_rows(var, "ticket.status")] == ["已办结", "已分派"]


def test_note(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = seed(var)
    assert main(["ticket", "note", t.number, "居民来电补充：周末也有噪音"]) == 0
    assert main(["ticket", "show", t.number]) == 0
    out = capsys.readouterr().out
    assert "居民来电补充：周末也有噪音" in out and "备注" in out
    assert len(audit_rows(var, "ticket.note")) == 1


def test_installed_entry_point(var: Path) -> None:
    t = seed(var)
    env = {**os.environ, "BIANMIN_VAR": str(var)}
    out = subprocess.run([sys.executable, "-m", "bianmin.cli", "ticket", "show", t.number], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert t.number in out.stdout and "13812345678" not in out.stdout
