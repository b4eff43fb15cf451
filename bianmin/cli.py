"""`bianmin`: the command line for running the assistant and for admin/ops work.

Subcommands import their feature module lazily, so `bianmin route` does not pay for TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from bianmin.settings import ENV_VARS, Settings


def _cmd_run(args: argparse.Namespace) -> int:
    from bianmin import supervisor

    return supervisor.run(Settings.from_env())


def _cmd_web(args: argparse.Namespace) -> int:
    from bianmin.logs import configure_logging
    from web.app import run

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    run(settings, args.port)
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    for name, (default, meaning) in ENV_VARS.items():
        print(f"{name:<24} {meaning}\n{'':<24} default: {default}")
    print()
    print(json.dumps({k: str(v) for k, v in settings.__dict__.items() if k != "extra"}, ensure_ascii=False, indent=2))
    return 0


def _cmd_route(args: argparse.Namespace) -> int:
    from knowledge.routing import RoutingTaxonomy
    from knowledge.routing_model import default_model

    taxonomy = RoutingTaxonomy.load(args.taxonomy)
    if args.text and args.text[0] == "learn" and len(args.text) == 2:
        return _route_learn(taxonomy, Path(args.text[1]), args.replace)
    args.text = " ".join(args.text) if args.text else None
    model = None if args.keywords_only else default_model()

    def many(texts: list[str]) -> list:
        return [taxonomy.route(t) for t in texts] if model is None else taxonomy.route_many_with_model(texts, model)

    if args.text is not None:
        print(json.dumps(many([args.text])[0].as_dict(), ensure_ascii=False))
        return 0
    out = sys.stdout
    batch: list[str] = []
    for line in sys.stdin:
        batch.append(line.rstrip("\n"))
        if len(batch) >= 256:
            out.writelines(json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in many(batch))
            batch = []
    out.writelines(json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in many(batch))
    out.flush()
    return 0


def _route_learn(taxonomy: Any, path: Path, replace: bool) -> int:
    from knowledge.routing_model import HistoryFileError, learn

    try:
        report = learn(path, [c for c in taxonomy.categories if c != "其他"], taxonomy.label_map, replace=replace)
    except (HistoryFileError, OSError) as exc:
        print(f"错误 / error: {path}: {exc}。原模型继续使用 / the previous model stays in use.", file=sys.stderr)
        return 2
    print(f"交叉验证 / cross-validated ({report['folds']} folds, {report['rows']} rows): "
          f"macro-F1 {report['macro_f1']:.3f}")
    print("混淆矩阵 / confusion matrix (rows: label, columns: predicted): " + " ".join(report["labels"]))
    for label, row in zip(report["labels"], report["confusion"]):
        print(f"{label:<10}" + "".join(f"{v:6d}" for v in row))
    return 0


def _cmd_user(args: argparse.Namespace) -> int:
    import asyncio
    import getpass

    from bianmin.db import create_schema, make_engine
    from web.accounts import AccountError, AccountStore

    def read_password() -> str:
        if args.password_stdin:
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("密码: ")
        if getpass.getpass("再输入一次: ") != first:
            raise AccountError("两次输入的密码不一致")
        return first

    async def go() -> int:
        engine = make_engine(Settings.from_env().database_url)
        try:
            await create_schema(engine)
            store = AccountStore(engine)
            if args.action == "add":
                user = await store.add_user(args.username, read_password(), args.role, args.display_name or "")
                print(f"已创建用户 {user.username}（{user.role}）")
            elif args.action == "passwd":
                await store.set_password(args.username, read_password())
                print(f"已修改 {args.username} 的密码")
            elif args.action in ("disable", "enable"):
                await store.set_active(args.username, args.action == "enable")
                print(f"已{'启用' if args.action == 'enable' else '停用'}用户 {args.username}")
            else:
                for u in await store.list_users():
                    print(f"{u['username']:<20} {u['role']:<6} {'启用' if u['active'] else '停用'}  {u['display_name']}")
            return 0
        except AccountError as exc:
            print(f"错误：{exc}", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _cmd_db(args: argparse.Namespace) -> int:
    import asyncio

    from bianmin import db

    if args.db_command == "revision":
        print(f"已生成迁移 {db.new_revision(args.message)}，请检查后提交。")
        return 0
    if args.db_command == "history":
        from alembic import command

        command.history(db.alembic_config())
        return 0
    url = Settings.from_env().database_url

    async def go() -> int:
        engine = db.make_engine(url)
        try:
            if args.db_command == "upgrade":
                await db.upgrade_schema(engine, args.revision)
            current = await db.current_revision(engine)
        finally:
            await engine.dispose()
        head = db.head_revision()
        state = "最新" if current == head else f"不是最新（最新为 {head}，请运行 bianmin db upgrade）"
        print(f"数据库结构版本：{current or '无'}（{state}）")
        return 0

    return asyncio.run(go())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bianmin", description="便民 resident-services assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="start the action server, Rasa and the web app (local mode)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("web", help="start only the web app")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=_cmd_web)

    p = sub.add_parser("config", help="print the configuration variables and their current values")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("route", help="route complaint text to a category and department (JSON)")
    p.add_argument("text", nargs="*", help="one text; without it, one text per line from stdin; "
                   "`learn FILE.csv` retrains on a city's history (header text,label)")
    p.add_argument("--replace", action="store_true", help="with learn: train on the history alone")
    p.add_argument("--taxonomy", default=None, help="routing YAML (default: knowledge/routing.yml)")
    p.add_argument("--keywords-only", action="store_true", help="keyword table only, without the classifier")
    p.set_defaults(func=_cmd_route)

    p = sub.add_parser("user", help="staff and admin accounts")
    p.add_argument("action", choices=["add", "passwd", "disable", "enable", "list"])
    p.add_argument("username", nargs="?")
    p.add_argument("--role", choices=["staff", "admin"], default="staff")
    p.add_argument("--display-name", default="")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin (for scripts)")
    p.set_defaults(func=_cmd_user)

    p = sub.add_parser("db", help="database: schema migrations, and personal data at rest (keys, sealing)")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    q = db_sub.add_parser("upgrade", help="bring the database (BIANMIN_DATABASE_URL) to the latest schema revision")
    q.add_argument("--revision", default="head", help="target revision (default: head)")
    q.set_defaults(func=_cmd_db)
    db_sub.add_parser("current", help="the schema revision the database is at").set_defaults(func=_cmd_db)
    db_sub.add_parser("history", help="list the schema revisions").set_defaults(func=_cmd_db)
    q = db_sub.add_parser("revision", help="write a new revision from the model changes (autogenerate)")
    q.add_argument("-m", "--message", required=True, help="what the schema change does")
    q.set_defaults(func=_cmd_db)
    _DB_SUB[:] = [db_sub]

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


#: The `db` subcommand group, so feature packages can add `bianmin db <action>` commands to it.
_DB_SUB: list["argparse._SubParsersAction[argparse.ArgumentParser]"] = []

#: Feature packages add subcommands here (ticket, faq, user) without the CLI importing them eagerly.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def _register_ticket(sub: argparse._SubParsersAction) -> None:
    from cases.cli import register  # argparse only; the store is imported when a ticket command runs

    register(sub)


_EXTRA_COMMANDS.append(_register_ticket)


def _register_faq(sub: argparse._SubParsersAction) -> None:
    from faq.cli import register  # argparse only; the store and jieba load when a faq command runs

    register(sub)


_EXTRA_COMMANDS.append(_register_faq)


def _register_data(sub: argparse._SubParsersAction) -> None:
    from cases.data_cli import register  # argparse only; keys and stores load when a command runs

    register(sub, _DB_SUB[0] if _DB_SUB else None)


_EXTRA_COMMANDS.append(_register_data)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
