"""`bianmin ticket …`: look at and update tickets from a terminal (ops, and hotline staff without the console).

Personal data is masked unless ``--reveal`` is given; revealing writes an audit row (``ticket.view``), and
status changes and notes are audited like the staff API's.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any, Optional

FIELD_LABELS = {
    "description": "诉求内容", "request": "申请事项", "facts": "事实与理由", "address": "地址",
    "district": "区县", "occurred_at": "发生时间", "phone": "联系电话", "person_name": "姓名",
    "id_number": "身份证号", "legal_matter_type": "案件类型", "target": "反映对象",
}
EXIT_NOT_FOUND, EXIT_INVALID, EXIT_UNAVAILABLE = 1, 2, 3


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("ticket", help="tickets: show, list, change status, add a note")
    tsub = p.add_subparsers(dest="ticket_command", required=True)

    s = tsub.add_parser("show", help="one ticket with its history")
    s.add_argument("number")
    s.add_argument("--reveal", action="store_true", help="show personal data in plain text (audited)")
    s.add_argument("--actor", default=None, help="who is looking (default: cli:<OS user>)")

    s = tsub.add_parser("list", help="newest tickets first")
    s.add_argument("--status", default=None, help="已受理/已分派/办理中/已办结/不予受理/已回访 or accepted/…")
    s.add_argument("--type", dest="ticket_type", default=None, choices=["complaint", "petition", "legal_aid"])
    s.add_argument("--category", default=None)
    s.add_argument("--limit", type=int, default=20)

    s = tsub.add_parser("status", help="change a ticket's status")
    s.add_argument("number")
    s.add_argument("new_status", help="已分派 / assigned, 办理中 / in_progress, 已办结 / resolved, …")
    s.add_argument("--note", default="")
    s.add_argument("--actor", default=None)

    s = tsub.add_parser("note", help="add a note to a ticket's history")
    s.add_argument("number")
    s.add_argument("text")
    s.add_argument("--actor", default=None)
    p.set_defaults(func=run)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)[:64]
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no passwd entry (containers)
        return "cli"


def _local(value: Any) -> str:
    from cases.numbering import local_zone

    return value.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")


def format_ticket(ticket: Any, *, reveal: bool) -> str:
    from cases.store import TYPE_NAMES_ZH
    from cases.wire import mask_fields, mask_value

    fields = dict(ticket.fields) if reveal else mask_fields(ticket.fields)
    code = ticket.query_code if reveal else ("******" if ticket.query_code else "")
    lines = [
        f"工单编号  {ticket.number}",
        f"类型      {TYPE_NAMES_ZH.get(ticket.type, ticket.type)}",
        f"状态      {ticket.status.value}",
        f"提交时间  {_local(ticket.created_at)}    最近更新  {_local(ticket.updated_at)}",
        f"渠道      {ticket.channel}    会话 {ticket.sender_id}",
        f"匿名      {'是（查询码 ' + code + '）' if ticket.anonymous else '否'}",
        f"类别      {ticket.category or '—'}{' / ' + ticket.subcategory if ticket.subcategory else ''}",
        f"承办部门  {ticket.department or '—'}",
        f"评价      {str(ticket.rating) + '分' if ticket.rating else '—'}",
    ]
    for d in ticket.deadlines:
        lines.append(f"期限      {d.due.isoformat()}  {d.description}")
    lines.append("内容")
    for key, value in fields.items():
        lines.append(f"  {FIELD_LABELS.get(key, key)}：{value}")
    if ticket.events:
        lines.append("办理记录")
        for e in ticket.events:
            note = e.note if reveal else mask_value(e.note)
            lines.append(f"  {_local(e.at)}  {e.status or '备注':<6} {e.actor}  {note}".rstrip())
    return "\n".join(lines)


def format_row(ticket: Any) -> str:
    from cases.store import TYPE_NAMES_ZH
    from cases.wire import mask_value

    text = str(ticket.fields.get("description") or ticket.fields.get("request") or ticket.fields.get("facts") or "")
    text = mask_value(text.replace("\n", " "))
    if len(text) > 30:
        text = text[:30] + "…"
    return (f"{ticket.number:<16} {ticket.status.value:<5} {TYPE_NAMES_ZH.get(ticket.type, ticket.type):<6} "
            f"{_local(ticket.created_at)}  {ticket.category or '—'}  {ticket.department or '—'}  {text}")


async def _go(args: argparse.Namespace) -> int:
    from bianmin import audit
    from cases.registry import CaseStores, CaseStoreConfigError
    from cases.sql_store import SqlCaseStore
    from cases.store import CaseStoreError, CaseStoreUnavailable, TicketNotFound, parse_status

    out = sys.stdout
    try:
        stores = CaseStores()
    except CaseStoreConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        local = await stores.sql()   # the audit log lives in bianmin's own database

        async def record(action: str, number: str, **detail: Any) -> None:
            async with local.engine.begin() as conn:
                await audit.record(conn, _actor(args), action, number, via="cli", **detail)

        def hook(store: Any, action: str, number: str, **detail: Any) -> Optional[Any]:
            if isinstance(store, SqlCaseStore) and store is local:
                async def write(conn: Any) -> None:
                    await audit.record(conn, _actor(args), action, number, via="cli", **detail)
                return write
            return None

        cmd = args.ticket_command
        if cmd == "list":
            status = parse_status(args.status) if args.status else None
            page = await stores.list_tickets(status=status, ticket_type=args.ticket_type, category=args.category,
                                             limit=max(1, min(args.limit, 100)))
            for ticket in page.tickets:
                out.write(format_row(ticket) + "\n")
            if not page.tickets:
                print("没有符合条件的工单。")
            elif page.total > len(page.tickets):
                print(f"（共 {page.total} 件，显示最新的 {len(page.tickets)} 件）")
            return 0

        number = args.number.strip().upper()
        store = await stores.for_number(number)
        if cmd == "show":
            ticket = await store.get(number)
            if ticket is None:
                raise TicketNotFound(number)
            if args.reveal:
                await record("ticket.view", number)
            print(format_ticket(ticket, reveal=args.reveal))
            return 0
        if cmd == "status":
            status = parse_status(args.new_status)
            write = hook(store, "ticket.status", number, status=status.value)
            if write is not None:
                ticket = await store.update_status(number, status, _actor(args), args.note,  # type: ignore[call-arg]
                                                   in_transaction=write)
            else:
                ticket = await store.update_status(number, status, _actor(args), args.note)
                await record("ticket.status", number, status=status.value)
            print(f"工单 {ticket.number} 的状态已改为“{ticket.status.value}”。")
            return 0
        if cmd == "note":
            write = hook(store, "ticket.note", number)
            if write is not None:
                ticket = await store.add_note(number, _actor(args), args.text, in_transaction=write)  # type: ignore[call-arg]
            else:
                ticket = await store.add_note(number, _actor(args), args.text)
                await record("ticket.note", number)
            print(f"已为工单 {ticket.number} 添加备注。")
            return 0
        raise AssertionError(cmd)
    except TicketNotFound:
        print(f"没有找到工单 {getattr(args, 'number', '')}。", file=sys.stderr)
        return EXIT_NOT_FOUND
    except CaseStoreUnavailable as exc:
        print(f"工单库暂时无法访问：{exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (CaseStoreError, ValueError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        await stores.close()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_go(args))
