"""`bianmin db rotate-key | retire-keys | encrypt | key-status` and `bianmin purge --older-than DAYS`.

Keys: bianmin/crypto.py. Sealing and purging tickets: cases/sql_store.py. Conversations (Rasa's tracker store)
are purged here: every event of a conversation whose newest event is older than the cut-off.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

import yaml


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
             dsub: "argparse._SubParsersAction[argparse.ArgumentParser] | None" = None) -> None:
    """Add the key commands to ``bianmin db`` (``dsub``: the group the CLI made for schema migrations)."""
    if dsub is None:
        p = sub.add_parser("db", help="personal data at rest: encryption keys, sealing old rows")
        dsub = p.add_subparsers(dest="db_command", required=True)
    dsub.add_parser("rotate-key", help="make a new key active (key file) and re-seal every ticket under it"
                    ).set_defaults(func=run_db)
    dsub.add_parser("retire-keys", help="forget old keys no ticket is sealed under any more (key file)"
                    ).set_defaults(func=run_db)
    dsub.add_parser("encrypt", help="seal plaintext tickets and re-seal those under old keys (idempotent)"
                    ).set_defaults(func=run_db)
    dsub.add_parser("key-status", help="which key ids tickets are sealed under").set_defaults(func=run_db)

    p = sub.add_parser("purge", help="remove old conversations and closed tickets' personal data (audited)")
    p.add_argument("--older-than", type=int, required=True, metavar="DAYS",
                   help="conversations idle and closed tickets untouched for more than DAYS days")
    p.add_argument("--actor", default="cli", help="who runs the purge (audit row)")
    p.set_defaults(func=run_purge)


def run_db(args: argparse.Namespace) -> int:
    from bianmin.crypto import DataKeyError, DataKeys, add_active_key, drop_keys
    from bianmin.db import create_schema, make_engine
    from bianmin.settings import Settings
    from cases.sql_store import key_usage, reseal_tickets

    settings = Settings.from_env()

    async def go() -> int:
        keys = DataKeys.from_env(settings.var)
        engine = make_engine(settings.database_url)
        try:
            await create_schema(engine)
            if args.db_command == "rotate-key":
                if keys.from_key_file:
                    kid = add_active_key(keys)
                    print(f"新密钥 {kid} 已启用（旧密钥保留，仅用于解密）")
                else:
                    print(f"密钥来自 BIANMIN_DATA_KEY：当前启用 {keys.active}（列表中的第一个）")
                done = await reseal_tickets(engine, keys)
                print(f"已检查 {done['scanned']} 件工单，重新加密 {done['rewritten']} 件，均使用密钥 {keys.active}")
            elif args.db_command == "encrypt":
                done = await reseal_tickets(engine, keys)
                print(f"已检查 {done['scanned']} 件工单，加密或重新加密 {done['rewritten']} 件")
            elif args.db_command == "retire-keys":
                usage = await key_usage(engine)
                unused = {k for k in keys.keys if k != keys.active and usage.get(k, 0) == 0}
                still = {k: n for k, n in usage.items() if k != keys.active}
                if still:
                    print(f"仍有工单使用旧密钥或未加密：{still}；请先运行 bianmin db rotate-key 或 encrypt",
                          file=sys.stderr)
                if unused:
                    drop_keys(keys, unused)
                    print(f"已删除不再使用的密钥：{', '.join(sorted(unused))}")
                else:
                    print("没有可以删除的密钥")
                return 1 if still else 0
            else:
                usage = await key_usage(engine)
                print(f"启用密钥：{keys.active}；已知密钥：{', '.join(sorted(keys.keys))}")
                for kid, n in sorted(usage.items()):
                    print(f"  {kid:<12} {n} 件工单")
            return 0
        except DataKeyError as exc:
            print(f"错误：{exc}", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()

    return asyncio.run(go())


# ------------------------------------------------------------------------------------------------- purge
def tracker_url(settings: Any) -> str:
    """SQLAlchemy URL of Rasa's tracker store, read from the endpoints file Rasa is started with."""
    doc = yaml.safe_load(settings.rasa_endpoints.read_text()) or {}
    store = doc.get("tracker_store") or {}
    if str(store.get("dialect", "sqlite")) == "postgresql":
        env = settings.scale_env
        password = env.get("BIANMIN_PG_PASSWORD") or ""
        auth = env["BIANMIN_PG_USER"] + (f":{password}" if password else "")
        return (f"postgresql+asyncpg://{auth}@{env['BIANMIN_PG_HOST']}:{env['BIANMIN_PG_PORT']}/"
                f"{env['BIANMIN_PG_DB']}")
    return f"sqlite+aiosqlite:///{settings.tracker_db}"


async def purge_trackers(url: str, older_than: dt.timedelta, *, now: dt.datetime) -> int:
    """Delete every event of conversations whose newest event is older than the cut-off; returns how many
    conversations. Rasa's SQLTrackerStore keeps one ``events`` row per event, ``timestamp`` in epoch seconds."""
    from sqlalchemy import text

    from bianmin.db import make_engine

    cutoff = (now - older_than).timestamp()
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            exists = await conn.run_sync(lambda c: c.dialect.has_table(c, "events"))
            if not exists:
                return 0
            old = [r[0] for r in await conn.execute(text(
                "SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff"),
                {"cutoff": cutoff})]
            for i in range(0, len(old), 500):
                chunk = old[i:i + 500]
                marks = ", ".join(f":s{j}" for j in range(len(chunk)))
                await conn.execute(text(f"DELETE FROM events WHERE sender_id IN ({marks})"),
                                   {f"s{j}": s for j, s in enumerate(chunk)})
            return len(old)
    finally:
        await engine.dispose()


def run_purge(args: argparse.Namespace) -> int:
    from bianmin import audit
    from bianmin.crypto import DataKeys
    from bianmin.db import create_schema, make_engine
    from bianmin.settings import Settings
    from cases.sql_store import purge_closed_tickets

    if args.older_than < 1:
        print("错误：--older-than 至少为 1 天", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    older = dt.timedelta(days=args.older_than)
    now = dt.datetime.now(dt.timezone.utc)

    async def go() -> int:
        keys = DataKeys.from_env(settings.var)
        engine = make_engine(settings.database_url)
        try:
            await create_schema(engine)
            numbers = await purge_closed_tickets(engine, keys, older, actor=str(args.actor)[:64], now=now)
            conversations = await purge_trackers(tracker_url(settings), older, now=now)
            async with engine.begin() as conn:
                await audit.record(conn, str(args.actor)[:64], "purge", f"older_than={args.older_than}d",
                                   tickets=len(numbers), conversations=conversations)
            print(f"已清除 {len(numbers)} 件已结工单的个人信息，删除 {conversations} 个超过 {args.older_than} 天的对话记录")
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(go())
