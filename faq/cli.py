"""`bianmin faq import|export|search`: curate FAQ knowledge from the command line.

``import FILE.yml`` upserts a YAML list of entries (by id, else by identical question) and prints how many
were created, updated or unchanged — all or nothing, like the admin console. ``export`` writes the same
format (it round-trips). ``search "问题"`` shows the top 3 published entries with scores, as the assistant
would rank them. Changes are made as actor ``cli`` (history and audit log) and bump the FAQ revision, so
a running assistant answers with them from the next message on.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("faq", help="FAQ knowledge: import / export YAML, search")
    faq = p.add_subparsers(dest="faq_command", required=True)

    imp = faq.add_parser("import", help="upsert entries from a YAML list (by id or identical question)")
    imp.add_argument("file", help="YAML file (a list of entries: question, similar, answer, tags, status ...)")
    imp.add_argument("--actor", default="cli", help="name written to the history and audit log")
    imp.set_defaults(func=_cmd_import)

    exp = faq.add_parser("export", help="write entries as YAML (the import format)")
    exp.add_argument("--status", choices=["published", "draft"], default=None)
    exp.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    exp.set_defaults(func=_cmd_export)

    search = faq.add_parser("search", help="top 3 published entries for a question, with scores")
    search.add_argument("question")
    search.add_argument("-k", type=int, default=3)
    search.set_defaults(func=_cmd_search)


async def _open_store():  # type: ignore[no-untyped-def]
    from bianmin.db import create_schema, make_engine
    from bianmin.settings import Settings
    from faq.store import FaqStore

    engine = make_engine(Settings.from_env().database_url)
    await create_schema(engine)
    store = FaqStore(engine)
    await store.seed_if_empty()
    return store


def _run(coro) -> int:  # type: ignore[no-untyped-def]
    from faq.store import FaqError

    try:
        return asyncio.run(coro)
    except FaqError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2


def _cmd_import(args: argparse.Namespace) -> int:
    from faq.store import load_yaml

    async def go() -> int:
        entries = load_yaml(Path(args.file).read_text(encoding="utf-8-sig"))
        store = await _open_store()
        try:
            result = await store.import_entries(entries, args.actor)
        finally:
            await store.engine.dispose()
        c = result.counts()
        print(f"新建 {c['created']} 条，更新 {c['updated']} 条，未变 {c['unchanged']} 条"
              f"（created {c['created']}, updated {c['updated']}, unchanged {c['unchanged']}）")
        return 0

    return _run(go())


def _cmd_export(args: argparse.Namespace) -> int:
    from faq.store import dump_yaml

    async def go() -> int:
        store = await _open_store()
        try:
            entries = await store.export_entries(args.status)
        finally:
            await store.engine.dispose()
        text = dump_yaml(entries)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(f"已导出 {len(entries)} 条到 {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0

    return _run(go())


def _cmd_search(args: argparse.Namespace) -> int:
    from faq.retrieval import build_index, decide

    async def go() -> int:
        store = await _open_store()
        try:
            revision, docs = await store.published_docs()
        finally:
            await store.engine.dispose()
        index = await asyncio.to_thread(build_index, docs, revision)
        hits = index.search(args.question, k=max(1, min(args.k, 20)))
        if not hits:
            print("没有找到相关条目")
            return 0
        for rank, hit in enumerate(hits, 1):
            print(f"{rank}. {hit.faq_id}  置信度 {hit.confidence:.2f}  得分 {hit.score:.2f}  {hit.question}"
                  + (f"（匹配：{hit.matched}）" if hit.matched != hit.question else ""))
        decision = decide(hits)
        print({"answer": "→ 助手会直接回答第1条", "candidates": "→ 助手会问“您是不是想问”",
               "none": "→ 助手会说没有找到答案"}[decision.kind])
        return 0

    return _run(go())
