"""FAQ store: curated entries, their history, the global revision, feedback and unanswered questions.

Every change to an entry — from the admin console, the CLI, an import or the first-run seed — happens in
one transaction that also writes a ``faq_history`` row (field-level diff), an audit row
(``bianmin.audit.record``) and bumps ``faq_revision``. Processes that keep a search index in memory
(:class:`faq.retrieval.LiveIndex`) compare that revision on every query and rebuild when it moved,
so a published change answers the very next message without retraining or restarting anything.

Domain errors carry an HTTP-ish ``status`` (400/404/409/422) and a Chinese message for the admin.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml
from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bianmin import audit
from bianmin.pii import mask_text
from faq.models import (STATUSES, UNANSWERED_REASONS, UNANSWERED_STATUSES, faq_entries, faq_feedback,
                                  faq_history, faq_revision, faq_unanswered)
from knowledge.local_settings import LocalSettings, default_settings
from faq.retrieval import FaqDoc, question_key

log = logging.getLogger(__name__)

STARTER_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "faq"
EDITABLE = ("question", "similar", "answer", "tags", "department", "status", "valid_from", "valid_until")
FIELD_NAMES_ZH = {"question": "标准问题", "similar": "相似问法", "answer": "答案", "tags": "标签",
                  "department": "部门", "status": "状态", "valid_from": "生效日期", "valid_until": "失效日期"}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_QUESTION = 200
MAX_ANSWER = 5000
MAX_SIMILAR = 50
MAX_TAGS = 20
REPEAT_WINDOW = dt.timedelta(minutes=10)   # the same resident repeating a question counts once


class FaqError(Exception):
    status = 400


class FaqNotFound(FaqError):
    status = 404


class FaqConflict(FaqError):
    status = 409


class FaqValidationError(FaqError):
    status = 422


def mask_sender(sender: str | None) -> str:
    if not sender:
        return ""
    return "*" * len(sender) if len(sender) <= 8 else f"{sender[:4]}****{sender[-4:]}"


def _sender_hash(sender: str | None) -> str:
    return hashlib.sha256((sender or "").encode()).hexdigest()[:16] if sender else ""


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    similar: tuple[str, ...]
    answer: str
    tags: tuple[str, ...]
    department: str
    status: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    version: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str

    @classmethod
    def from_row(cls, row: Any) -> "FaqEntry":
        m = row._mapping
        return cls(id=m["id"], question=m["question"], similar=tuple(m["similar"] or ()), answer=m["answer"],
                   tags=tuple(str(t) for t in (m["tags"] or ())), department=m["department"] or "",
                   status=m["status"], valid_from=m["valid_from"], valid_until=m["valid_until"],
                   version=m["version"], created_at=_utc(m["created_at"]), created_by=m["created_by"],
                   updated_at=_utc(m["updated_at"]), updated_by=m["updated_by"])

    def is_valid_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and \
            (self.valid_until is None or day <= self.valid_until)

    def is_live(self, day: dt.date | None = None) -> bool:
        """Published and inside its validity dates: the assistant serves it."""
        return self.status == "published" and self.is_valid_on(day or dt.date.today())

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EDITABLE}

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **{k: _json_value(v) for k, v in self.fields().items()},
                "version": self.version, "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "updated_at": self.updated_at.isoformat(), "updated_by": self.updated_by,
                "live": self.is_live()}

    def as_export(self) -> dict[str, Any]:
        """The YAML import/export format (round-trips through :meth:`FaqStore.import_entries`)."""
        out: dict[str, Any] = {"id": self.id, "question": self.question, "similar": list(self.similar),
                               "answer": self.answer, "tags": list(self.tags), "department": self.department,
                               "status": self.status}
        if self.valid_from:
            out["valid_from"] = self.valid_from.isoformat()
        if self.valid_until:
            out["valid_until"] = self.valid_until.isoformat()
        return out

    def to_doc(self) -> FaqDoc:
        return FaqDoc(self.id, self.question, self.similar, self.answer, self.tags, self.valid_from,
                      self.valid_until)


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged)}


# ---------------------------------------------------------------------------------------- validation
def _text_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[\n,，、;；]" if name == "tags" else r"\n", value)]
    if not isinstance(value, (list, tuple)):
        raise FaqValidationError(f"{FIELD_NAMES_ZH[name]}应是一个列表")
    out: list[str] = []
    for item in value:
        if item is None:
            continue
        if not isinstance(item, (str, int, float)):
            raise FaqValidationError(f"{FIELD_NAMES_ZH[name]}中每一项都应是文字")
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return out


def _date(value: Any, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise FaqValidationError(f"{FIELD_NAMES_ZH[name]}格式不正确，应为 YYYY-MM-DD")


def validate(data: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """Clean editable fields; raise :class:`FaqValidationError` with a Chinese message."""
    if not isinstance(data, Mapping):
        raise FaqValidationError("条目格式不正确")
    unknown = set(data) - set(EDITABLE) - {"id", "version"}
    if unknown:
        raise FaqValidationError(f"未知字段：{', '.join(sorted(map(str, unknown)))}")
    out: dict[str, Any] = {}
    if "question" in data or not partial:
        question = str(data.get("question") or "").strip()
        if len(question) < 2:
            raise FaqValidationError("标准问题不能为空（至少2个字）")
        if len(question) > MAX_QUESTION:
            raise FaqValidationError(f"标准问题不能超过{MAX_QUESTION}个字")
        out["question"] = question
    if "similar" in data or not partial:
        similar = _text_list(data.get("similar"), "similar")
        if any(len(s) > MAX_QUESTION for s in similar):
            raise FaqValidationError(f"每个相似问法不能超过{MAX_QUESTION}个字")
        if len(similar) > MAX_SIMILAR:
            raise FaqValidationError(f"相似问法最多{MAX_SIMILAR}个")
        out["similar"] = similar
    if "answer" in data or not partial:
        answer = str(data.get("answer") or "").strip()
        if not answer:
            raise FaqValidationError("答案不能为空")
        if len(answer) > MAX_ANSWER:
            raise FaqValidationError(f"答案不能超过{MAX_ANSWER}个字")
        out["answer"] = answer
    if "tags" in data or not partial:
        tags = _text_list(data.get("tags"), "tags")
        if len(tags) > MAX_TAGS or any(len(t) > 32 for t in tags):
            raise FaqValidationError(f"标签最多{MAX_TAGS}个，每个不超过32个字")
        out["tags"] = tags
    if "department" in data or not partial:
        department = str(data.get("department") or "").strip()
        if len(department) > 128:
            raise FaqValidationError("部门名称不能超过128个字")
        out["department"] = department
    if "status" in data:
        status = str(data.get("status") or "").strip()
        if status not in STATUSES:
            raise FaqValidationError("状态只能是 draft（草稿）或 published（已发布）")
        out["status"] = status
    for name in ("valid_from", "valid_until"):
        if name in data or not partial:
            out[name] = _date(data.get(name), name)
    if "similar" in out and "question" in out:
        key = question_key(out["question"])
        out["similar"] = [s for s in out["similar"] if question_key(s) != key]
    return out


def _check_dates(valid_from: dt.date | None, valid_until: dt.date | None) -> None:
    if valid_from and valid_until and valid_from > valid_until:
        raise FaqValidationError("生效日期不能晚于失效日期")


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    changes = {}
    for name in EDITABLE:
        if name not in new:
            continue
        before, after = old.get(name), new[name]
        if isinstance(before, tuple):
            before = list(before)
        if isinstance(after, tuple):
            after = list(after)
        if before != after:
            changes[name] = {"old": _json_value(before), "new": _json_value(after)}
    return changes


def _search_text(entry_id: str, values: Mapping[str, Any]) -> str:
    parts = [entry_id, values["question"], *values["similar"], *values["tags"], values["department"],
             values["answer"]]
    return "\n".join(str(p) for p in parts).lower()


def new_id() -> str:
    return f"faq-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------------------- YAML
class _LiteralDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_LiteralDumper.add_representer(str, _str_presenter)


def dump_yaml(entries: Iterable[Mapping[str, Any]]) -> str:
    header = "# 便民 FAQ 知识导出（bianmin faq export）。可编辑后用 bianmin faq import 或管理后台导入。\n"
    return header + yaml.dump(list(entries), Dumper=_LiteralDumper, allow_unicode=True, sort_keys=False,
                              width=1000)


def load_yaml(text: str) -> list[dict[str, Any]]:
    """Parse an import file: a YAML list of entries."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FaqValidationError(f"YAML 格式错误：{exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(e, Mapping) for e in data):
        raise FaqValidationError("导入文件应是一个条目列表（每条包含 question、similar、answer 等字段）")
    return [dict(e) for e in data]


# ---------------------------------------------------------------------------------------- store
class FaqStore:
    def __init__(self, engine: AsyncEngine, settings: LocalSettings | None = None) -> None:
        self.engine = engine
        self._settings = settings

    @property
    def settings(self) -> LocalSettings:
        return self._settings or default_settings()

    def _check_placeholders(self, answer: str) -> None:
        missing = self.settings.missing(answer)
        if missing:
            names = "、".join("{" + m + "}" for m in missing)
            raise FaqValidationError(f"答案中的占位符 {names} 在本地设置（{self.settings.path.name}）中没有对应的值")

    # ------------------------------------------------------------------ revision
    async def revision(self) -> int:
        """The global revision: one cheap SELECT (called on every assistant query)."""
        async with self.engine.connect() as conn:
            value = (await conn.execute(select(faq_revision.c.revision).where(faq_revision.c.id == 1))).scalar()
        return int(value or 0)

    @staticmethod
    async def _bump(conn: AsyncConnection, now: dt.datetime) -> int:
        res = await conn.execute(update(faq_revision).where(faq_revision.c.id == 1)
                                 .values(revision=faq_revision.c.revision + 1, changed_at=now))
        if res.rowcount == 0:
            await conn.execute(insert(faq_revision).values(id=1, revision=1, changed_at=now))
        return int((await conn.execute(select(faq_revision.c.revision).where(faq_revision.c.id == 1))).scalar())

    # ------------------------------------------------------------------ reads
    async def get(self, faq_id: str) -> FaqEntry:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(faq_entries).where(faq_entries.c.id == faq_id))).first()
        if row is None:
            raise FaqNotFound(f"没有编号为 {faq_id} 的知识条目")
        return FaqEntry.from_row(row)

    async def find(self, faq_id: str) -> FaqEntry | None:
        try:
            return await self.get(faq_id)
        except FaqNotFound:
            return None

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(faq_entries))).scalar() or 0)

    async def list(self, query: str = "", status: str | None = None, tag: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[FaqEntry], int]:
        """Entries matching a free-text query (id, questions, answer, tags, department), newest change first."""
        stmt = select(faq_entries)
        if status:
            if status not in STATUSES:
                raise FaqValidationError("状态只能是 draft 或 published")
            stmt = stmt.where(faq_entries.c.status == status)
        for word in (query or "").lower().split()[:5]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(faq_entries.c.search_text.like(f"%{escaped}%", escape="\\"))
        if tag:
            stmt = stmt.where(faq_entries.c.search_text.like(f"%{tag.lower()}%"))
        stmt = stmt.order_by(faq_entries.c.updated_at.desc(), faq_entries.c.id)
        async with self.engine.connect() as conn:
            rows = [FaqEntry.from_row(r) for r in await conn.execute(stmt)]
        if tag:
            rows = [r for r in rows if tag in r.tags]
        return rows[offset:offset + limit], len(rows)

    async def all_entries(self, status: str | None = None) -> list[FaqEntry]:
        stmt = select(faq_entries).order_by(faq_entries.c.id)
        if status:
            stmt = stmt.where(faq_entries.c.status == status)
        async with self.engine.connect() as conn:
            return [FaqEntry.from_row(r) for r in await conn.execute(stmt)]

    async def published_docs(self) -> tuple[int, list[FaqDoc]]:
        """(revision, published entries) for the search index. The revision is read first, so a change
        that lands in between only makes the next query rebuild once more."""
        revision = await self.revision()
        entries = await self.all_entries("published")
        return revision, [e.to_doc() for e in entries]

    async def history(self, faq_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(faq_history).where(faq_history.c.faq_id == faq_id)
                                      .order_by(faq_history.c.id.desc()))
            out = []
            for r in rows:
                item = dict(r._mapping)
                item["at"] = _utc(item["at"]).isoformat()
                out.append(item)
        if not out and await self.find(faq_id) is None:
            raise FaqNotFound(f"没有编号为 {faq_id} 的知识条目")
        return out

    # ------------------------------------------------------------------ writes (internal, in a transaction)
    async def _row(self, conn: AsyncConnection, faq_id: str) -> FaqEntry | None:
        row = (await conn.execute(select(faq_entries).where(faq_entries.c.id == faq_id))).first()
        return FaqEntry.from_row(row) if row else None

    async def _by_question(self, conn: AsyncConnection, question: str) -> FaqEntry | None:
        row = (await conn.execute(select(faq_entries).where(faq_entries.c.question_key == question_key(question))
                                  .limit(1))).first()
        return FaqEntry.from_row(row) if row else None

    async def _insert(self, conn: AsyncConnection, faq_id: str, values: Mapping[str, Any], actor: str,
                      now: dt.datetime, action: str, revision: int | None = None, audit_row: bool = True) -> None:
        await conn.execute(insert(faq_entries).values(
            id=faq_id, question=values["question"], question_key=question_key(values["question"]),
            similar=list(values["similar"]), answer=values["answer"], tags=list(values["tags"]),
            department=values["department"], search_text=_search_text(faq_id, values),
            status=values.get("status") or "draft", valid_from=values.get("valid_from"),
            valid_until=values.get("valid_until"), version=1, created_at=now, created_by=actor,
            updated_at=now, updated_by=actor))
        revision = revision if revision is not None else await self._bump(conn, now)
        changes = _diff({}, {**values, "status": values.get("status") or "draft"})
        await conn.execute(insert(faq_history).values(faq_id=faq_id, version=1, revision=revision, at=now,
                                                      actor=actor, action=action, changes=changes))
        if audit_row:
            await audit.record(conn, actor, f"faq.{action}", faq_id, fields=sorted(changes))

    async def _change(self, conn: AsyncConnection, current: FaqEntry, values: Mapping[str, Any], actor: str,
                      now: dt.datetime, action: str, expected_version: int | None = None) -> FaqEntry:
        """Apply ``values`` to ``current``; a no-op change writes nothing and returns ``current``."""
        if expected_version is not None and expected_version != current.version:
            raise FaqConflict("该条目已被其他人修改，请刷新后再编辑")
        changes = _diff(current.fields(), values)
        if not changes:
            return current
        merged = {**current.fields(), **values}
        _check_dates(merged["valid_from"], merged["valid_until"])
        if "question" in changes:
            other = await self._by_question(conn, merged["question"])
            if other is not None and other.id != current.id:
                raise FaqConflict(f"已有相同的标准问题（条目 {other.id}）")
        res = await conn.execute(
            update(faq_entries).where(faq_entries.c.id == current.id, faq_entries.c.version == current.version)
            .values(question=merged["question"], question_key=question_key(merged["question"]),
                    similar=list(merged["similar"]), answer=merged["answer"], tags=list(merged["tags"]),
                    department=merged["department"], search_text=_search_text(current.id, merged),
                    status=merged["status"], valid_from=merged["valid_from"], valid_until=merged["valid_until"],
                    version=current.version + 1, updated_at=now, updated_by=actor))
        if res.rowcount == 0:
            raise FaqConflict("该条目已被其他人修改，请刷新后再编辑")
        revision = await self._bump(conn, now)
        await conn.execute(insert(faq_history).values(faq_id=current.id, version=current.version + 1,
                                                      revision=revision, at=now, actor=actor, action=action,
                                                      changes=changes))
        await audit.record(conn, actor, f"faq.{action}", current.id, fields=sorted(changes))
        return FaqEntry(**{**current.__dict__, **{k: (tuple(v) if isinstance(v, list) else v)
                                                  for k, v in merged.items()},
                           "version": current.version + 1, "updated_at": now, "updated_by": actor})

    async def _create(self, conn: AsyncConnection, data: Mapping[str, Any], actor: str, now: dt.datetime,
                      action: str = "create") -> FaqEntry:
        values = validate(data)
        values.setdefault("status", "draft")
        _check_dates(values["valid_from"], values["valid_until"])
        self._check_placeholders(values["answer"])
        faq_id = str(data.get("id") or "").strip() or new_id()
        if not ID_RE.match(faq_id):
            raise FaqValidationError("编号只能包含小写字母、数字、点、横线和下划线（不超过64个字符）")
        if await self._row(conn, faq_id) is not None:
            raise FaqConflict(f"编号 {faq_id} 已存在")
        other = await self._by_question(conn, values["question"])
        if other is not None:
            raise FaqConflict(f"已有相同的标准问题（条目 {other.id}）")
        await self._insert(conn, faq_id, values, actor, now, action)
        row = await self._row(conn, faq_id)
        assert row is not None
        return row

    # ------------------------------------------------------------------ writes (public)
    async def create(self, data: Mapping[str, Any], actor: str) -> FaqEntry:
        try:
            async with self.engine.begin() as conn:
                return await self._create(conn, data, actor, audit.utcnow())
        except IntegrityError as exc:
            raise FaqConflict("编号或标准问题与已有条目重复") from exc

    async def update(self, faq_id: str, data: Mapping[str, Any], actor: str,
                     expected_version: int | None = None) -> FaqEntry:
        values = validate(data, partial=True)
        if "answer" in values:
            self._check_placeholders(values["answer"])
        try:
            async with self.engine.begin() as conn:
                current = await self._row(conn, faq_id)
                if current is None:
                    raise FaqNotFound(f"没有编号为 {faq_id} 的知识条目")
                return await self._change(conn, current, values, actor, audit.utcnow(), "update", expected_version)
        except IntegrityError as exc:
            raise FaqConflict("标准问题与已有条目重复") from exc

    async def set_status(self, faq_id: str, status: str, actor: str, expected_version: int | None = None) -> FaqEntry:
        if status not in STATUSES:
            raise FaqValidationError("状态只能是 draft 或 published")
        async with self.engine.begin() as conn:
            current = await self._row(conn, faq_id)
            if current is None:
                raise FaqNotFound(f"没有编号为 {faq_id} 的知识条目")
            if status == "published":
                self._check_placeholders(current.answer)
            return await self._change(conn, current, {"status": status}, actor, audit.utcnow(),
                                      "publish" if status == "published" else "unpublish", expected_version)

    async def publish(self, faq_id: str, actor: str, expected_version: int | None = None) -> FaqEntry:
        return await self.set_status(faq_id, "published", actor, expected_version)

    async def unpublish(self, faq_id: str, actor: str, expected_version: int | None = None) -> FaqEntry:
        return await self.set_status(faq_id, "draft", actor, expected_version)

    async def delete(self, faq_id: str, actor: str, expected_version: int | None = None) -> None:
        async with self.engine.begin() as conn:
            current = await self._row(conn, faq_id)
            if current is None:
                raise FaqNotFound(f"没有编号为 {faq_id} 的知识条目")
            if expected_version is not None and expected_version != current.version:
                raise FaqConflict("该条目已被其他人修改，请刷新后再操作")
            now = audit.utcnow()
            await conn.execute(delete(faq_entries).where(faq_entries.c.id == faq_id))
            revision = await self._bump(conn, now)
            await conn.execute(insert(faq_history).values(
                faq_id=faq_id, version=current.version + 1, revision=revision, at=now, actor=actor,
                action="delete", changes={k: {"old": _json_value(v), "new": None} for k, v in current.fields().items()}))
            await audit.record(conn, actor, "faq.delete", faq_id, question=current.question)

    # ------------------------------------------------------------------ import / export / seed
    async def import_entries(self, entries: Sequence[Mapping[str, Any]], actor: str,
                             action: str = "import") -> ImportResult:
        """Upsert by id, else by identical question. All or nothing: any invalid entry rejects the file."""
        cleaned: list[tuple[str | None, dict[str, Any]]] = []
        errors: list[str] = []
        seen_ids: set[str] = set()
        seen_questions: set[str] = set()
        for n, raw in enumerate(entries, 1):
            label = f"第{n}条" + (f"（{raw.get('id')}）" if isinstance(raw, Mapping) and raw.get("id") else "")
            try:
                values = validate(raw)
                _check_dates(values["valid_from"], values["valid_until"])
                self._check_placeholders(values["answer"])
                faq_id = str(raw.get("id") or "").strip() or None
                if faq_id and not ID_RE.match(faq_id):
                    raise FaqValidationError("编号只能包含小写字母、数字、点、横线和下划线")
                if faq_id and faq_id in seen_ids:
                    raise FaqValidationError(f"编号 {faq_id} 在文件中重复")
                key = question_key(values["question"])
                if key in seen_questions:
                    raise FaqValidationError("标准问题在文件中重复")
                seen_ids.add(faq_id or "")
                seen_questions.add(key)
                cleaned.append((faq_id, values))
            except FaqError as exc:
                errors.append(f"{label}：{exc}")
        if errors:
            raise FaqValidationError("导入失败，没有任何条目被修改：\n" + "\n".join(errors[:20]))
        result = ImportResult()
        now = audit.utcnow()
        try:
            async with self.engine.begin() as conn:
                for faq_id, values in cleaned:
                    current = await self._row(conn, faq_id) if faq_id else None
                    if current is None:
                        by_question = await self._by_question(conn, values["question"])
                        if by_question is not None and faq_id and by_question.id != faq_id:
                            raise FaqConflict(f"{faq_id}：标准问题与已有条目 {by_question.id} 相同，但编号不同")
                        current = by_question
                    if current is None:
                        values.setdefault("status", "draft")
                        new = faq_id or new_id()
                        await self._insert(conn, new, values, actor, now, action)
                        result.created.append(new)
                        continue
                    values.setdefault("status", current.status)
                    after = await self._change(conn, current, values, actor, now, action)
                    (result.updated if after.version != current.version else result.unchanged).append(current.id)
                if result.created or result.updated:
                    await audit.record(conn, actor, f"faq.{action}.file", "", **result.counts())
        except IntegrityError as exc:
            raise FaqConflict("导入的编号或标准问题与已有条目冲突，没有任何条目被修改") from exc
        return result

    async def export_entries(self, status: str | None = None) -> list[dict[str, Any]]:
        if status and status not in STATUSES:
            raise FaqValidationError("状态只能是 draft 或 published")
        return [e.as_export() for e in await self.all_entries(status)]

    async def seed_if_empty(self, directory: str | Path | None = None) -> int:
        """Load the starter set (``knowledge/faq/*.yml``) when the FAQ table is empty; idempotent by id.

        Safe when the web app and the action server start together: one wins, the other finds the table
        filled (or hits the primary key) and does nothing.
        """
        if await self.count() > 0:
            return 0
        directory = Path(directory or STARTER_DIR)

        def read() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for path in sorted(directory.glob("*.yml")):
                out.extend(load_yaml(path.read_text(encoding="utf-8")))
            return out

        entries = await asyncio.to_thread(read)   # file I/O and YAML parsing off the event loop
        if not entries:
            return 0
        now = audit.utcnow()
        inserted = 0
        try:
            async with self.engine.begin() as conn:
                if (await conn.execute(select(func.count()).select_from(faq_entries))).scalar():
                    return 0
                revision = await self._bump(conn, now)
                for raw in entries:
                    try:
                        values = validate(raw)
                        faq_id = str(raw.get("id") or "").strip() or new_id()
                        values.setdefault("status", "draft")
                    except FaqError as exc:
                        log.error("starter FAQ %s skipped: %s", raw.get("id"), exc)
                        continue
                    if await self._row(conn, faq_id) is not None:
                        continue
                    await self._insert(conn, faq_id, values, "system", now, "seed", revision, audit_row=False)
                    inserted += 1
                await audit.record(conn, "system", "faq.seed", str(directory.name), count=inserted)
        except IntegrityError:
            log.info("FAQ starter set already loaded by another process")
            return 0
        log.info("loaded %d starter FAQs from %s", inserted, directory)
        return inserted

    # ------------------------------------------------------------------ feedback and unanswered questions
    async def record_feedback(self, faq_id: str, helpful: bool, question: str, sender: str | None) -> None:
        """有帮助/没帮助 for one answer; "not helpful" also lands the question in the unanswered list."""
        now = audit.utcnow()
        async with self.engine.begin() as conn:
            await conn.execute(insert(faq_feedback).values(faq_id=faq_id, helpful=bool(helpful),
                                                           question=mask_text(question or "")[:500],
                                                           sender=mask_sender(sender), at=now))
        if not helpful and question:
            await self.record_unanswered(question, sender, "not_helpful", faq_id)

    async def record_unanswered(self, question: str, sender: str | None, reason: str,
                                best_faq_id: str | None = None, best_confidence: float | None = None) -> bool:
        """Count a question the assistant could not answer; returns False when there was nothing to record."""
        if reason not in UNANSWERED_REASONS:
            raise FaqValidationError(f"未知原因 {reason}")
        text = mask_text((question or "").strip())[:500]
        key = question_key(text)
        if len(key) < 2:
            return False
        now = audit.utcnow()
        who, who_hash = mask_sender(sender), _sender_hash(sender)
        confidence = int(round(best_confidence * 100)) if best_confidence is not None else None
        for _attempt in range(2):
            async with self.engine.begin() as conn:
                row = (await conn.execute(select(faq_unanswered).where(faq_unanswered.c.question_key == key))).first()
                if row is None:
                    try:
                        await conn.execute(insert(faq_unanswered).values(
                            question_key=key, question=text, count=1, first_seen=now, last_seen=now,
                            last_sender=who, last_sender_hash=who_hash, reason=reason, best_faq_id=best_faq_id,
                            best_confidence=confidence, status="open"))
                        return True
                    except IntegrityError:
                        continue   # another message inserted it a moment ago: count on the existing row
                repeat = (who_hash and row.last_sender_hash == who_hash
                          and now - _utc(row.last_seen) < REPEAT_WINDOW)
                await conn.execute(update(faq_unanswered).where(faq_unanswered.c.id == row.id).values(
                    question=text, count=row.count + (0 if repeat else 1), last_seen=now, last_sender=who,
                    last_sender_hash=who_hash, reason=reason, best_faq_id=best_faq_id or row.best_faq_id,
                    best_confidence=confidence if confidence is not None else row.best_confidence,
                    status="open"))
                return True
        return False

    async def list_unanswered(self, status: str = "open", reason: str | None = None, limit: int = 50,
                              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        if status not in UNANSWERED_STATUSES:
            raise FaqValidationError("状态只能是 open、resolved 或 ignored")
        stmt = select(faq_unanswered).where(faq_unanswered.c.status == status)
        count = select(func.count()).select_from(faq_unanswered).where(faq_unanswered.c.status == status)
        if reason:
            if reason not in UNANSWERED_REASONS:
                raise FaqValidationError("未知原因")
            stmt = stmt.where(faq_unanswered.c.reason == reason)
            count = count.where(faq_unanswered.c.reason == reason)
        stmt = stmt.order_by(faq_unanswered.c.count.desc(), faq_unanswered.c.last_seen.desc()).limit(limit).offset(offset)
        async with self.engine.connect() as conn:
            rows = [self._unanswered_dict(r) for r in await conn.execute(stmt)]
            total = int((await conn.execute(count)).scalar() or 0)
        return rows, total

    @staticmethod
    def _unanswered_dict(row: Any) -> dict[str, Any]:
        item = dict(row._mapping)
        item.pop("last_sender_hash", None)
        item.pop("question_key", None)
        for name in ("first_seen", "last_seen", "resolved_at"):
            if item.get(name) is not None:
                item[name] = _utc(item[name]).isoformat()
        return item

    async def get_unanswered(self, unanswered_id: int) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(faq_unanswered).where(faq_unanswered.c.id == unanswered_id))).first()
        if row is None:
            raise FaqNotFound("没有这条未解决的问题")
        return self._unanswered_dict(row)

    async def _mark(self, conn: AsyncConnection, unanswered_id: int, status: str, actor: str, now: dt.datetime,
                    faq_id: str | None) -> dict[str, Any]:
        row = (await conn.execute(select(faq_unanswered).where(faq_unanswered.c.id == unanswered_id))).first()
        if row is None:
            raise FaqNotFound("没有这条未解决的问题")
        await conn.execute(update(faq_unanswered).where(faq_unanswered.c.id == unanswered_id).values(
            status=status, resolved_faq_id=faq_id, resolved_by=actor, resolved_at=now))
        await audit.record(conn, actor, f"faq.unanswered.{status}", str(unanswered_id), faq_id=faq_id)
        return self._unanswered_dict(row)

    async def resolve_unanswered(self, unanswered_id: int, actor: str, status: str = "resolved",
                                 faq_id: str | None = None) -> None:
        if status not in ("resolved", "ignored", "open"):
            raise FaqValidationError("状态只能是 resolved、ignored 或 open")
        async with self.engine.begin() as conn:
            await self._mark(conn, unanswered_id, status, actor, audit.utcnow(), faq_id)

    async def faq_from_unanswered(self, unanswered_id: int, actor: str, mode: str,
                                  data: Mapping[str, Any] | None = None, target_id: str | None = None,
                                  expected_version: int | None = None) -> FaqEntry:
        """One step from an unanswered question to knowledge: a new FAQ whose standard question it is
        (``mode="new"``, fields from the pre-filled form), or a similar question of ``target_id``
        (``mode="similar"``). The unanswered row is marked resolved in the same transaction."""
        if mode not in ("new", "similar"):
            raise FaqValidationError("mode 只能是 new（新建条目）或 similar（加为相似问法）")
        now = audit.utcnow()
        try:
            async with self.engine.begin() as conn:
                row = (await conn.execute(select(faq_unanswered)
                                          .where(faq_unanswered.c.id == unanswered_id))).first()
                if row is None:
                    raise FaqNotFound("没有这条未解决的问题")
                if mode == "new":
                    form = dict(data or {})
                    form.setdefault("question", row.question)
                    entry = await self._create(conn, form, actor, now)
                else:
                    if not target_id:
                        raise FaqValidationError("请选择要加入相似问法的条目")
                    current = await self._row(conn, target_id)
                    if current is None:
                        raise FaqNotFound(f"没有编号为 {target_id} 的知识条目")
                    similar = list(current.similar)
                    if question_key(row.question) not in {question_key(s) for s in (current.question, *similar)}:
                        similar.append(row.question)
                    values = validate({**(data or {}), "similar": similar}, partial=True) if data else \
                        {"similar": similar}
                    if "answer" in values:
                        self._check_placeholders(values["answer"])
                    entry = await self._change(conn, current, values, actor, now, "update", expected_version)
                await self._mark(conn, unanswered_id, "resolved", actor, now, entry.id)
                return entry
        except IntegrityError as exc:
            raise FaqConflict("编号或标准问题与已有条目重复") from exc

    async def feedback_summary(self, limit: int = 100) -> list[dict[str, Any]]:
        """Per FAQ: helpful / not helpful counts (most "not helpful" first) and the latest unhelpful questions."""
        helpful = func.sum(case((faq_feedback.c.helpful.is_(True), 1), else_=0))
        stmt = (select(faq_feedback.c.faq_id, func.count().label("total"), helpful.label("helpful"),
                       func.max(faq_feedback.c.at).label("last_at"))
                .group_by(faq_feedback.c.faq_id))
        async with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(stmt)]
            questions = {r.faq_id: r.question for r in await conn.execute(
                select(faq_entries.c.id.label("faq_id"), faq_entries.c.question))}
            recent: dict[str, list[str]] = {}
            for r in await conn.execute(select(faq_feedback.c.faq_id, faq_feedback.c.question)
                                        .where(faq_feedback.c.helpful.is_(False))
                                        .order_by(faq_feedback.c.id.desc()).limit(2000)):
                lst = recent.setdefault(r.faq_id, [])
                if r.question and r.question not in lst and len(lst) < 5:
                    lst.append(r.question)
        out = []
        for r in rows:
            helpful_n = int(r["helpful"] or 0)
            out.append({"faq_id": r["faq_id"], "question": questions.get(r["faq_id"], "（已删除）"),
                        "helpful": helpful_n, "not_helpful": int(r["total"]) - helpful_n,
                        "last_at": _utc(r["last_at"]).isoformat() if r["last_at"] else None,
                        "recent_unhelpful_questions": recent.get(r["faq_id"], [])})
        out.sort(key=lambda x: (-x["not_helpful"], x["helpful"]))
        return out[:limit]

    async def feedback_counts(self, faq_id: str) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(faq_feedback.c.helpful, func.count()).where(faq_feedback.c.faq_id == faq_id)
                                      .group_by(faq_feedback.c.helpful))
            counts = {bool(h): int(c) for h, c in rows}
        return {"helpful": counts.get(True, 0), "not_helpful": counts.get(False, 0)}
