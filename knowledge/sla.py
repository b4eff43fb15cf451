"""Deadline (SLA) policy: statutory deadlines for petitions and legal aid, local ones for complaints.

Days are counted the way Chinese law counts periods: the day of receipt is not counted, counting starts
the next day. ``calendar`` deadlines count every day; ``working`` deadlines skip the configured weekend,
the public holidays listed in ``sla.yml`` and count the adjusted working weekends (调休上班) listed there.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping


from knowledge._files import load_yaml

ENV_VAR = "BIANMIN_SLA_FILE"
DEFAULT_PATH = Path(__file__).resolve().with_name("sla.yml")
TICKET_TYPES = ("complaint", "petition", "legal_aid")
UNITS = ("calendar", "working")
_RANGE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2})\s*(?:~|～|\.\.|至)\s*(\d{4}-\d{1,2}-\d{1,2})\s*$")


class SlaConfigError(ValueError):
    """The SLA file is malformed; the message names the offending place."""


def format_date_zh(d: datetime.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


@dataclass(frozen=True)
class Deadline:
    kind: str            # "accept" | "handle" | "review" | "resolve"
    due: datetime.date   # last day on which the step is still on time
    days: int
    unit: str            # "calendar" | "working"
    basis: str           # legal or local basis, e.g. "《信访工作条例》"
    note: str = ""       # e.g. how the start date was assumed, or an approved extension

    def describe_zh(self) -> str:
        """One sentence for the resident, e.g. 我们将在15日内（2026年12月8日前）告知您是否受理."""
        span = f"{self.days}个工作日内" if self.unit == "working" else f"{self.days}日内"
        when = f"（{self.note}，{format_date_zh(self.due)}前）" if self.note else f"（{format_date_zh(self.due)}前）"
        if self.kind == "accept":
            return f"我们将在{span}{when}告知您是否受理"
        if self.kind == "handle":
            return f"您的信访事项将在受理后{span}办结{when}"
        if self.kind == "review":
            return f"法律援助机构将在{span}{when}作出是否给予法律援助的决定"
        return f"承办部门将在{span}{when}办理并答复您"


def _to_date(value: Any, where: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        # fromisoformat in 3.10 needs zero-padded months/days; accept 2026-1-1 as admins write it
        try:
            y, m, d = (int(p) for p in str(value).strip().split("-"))
            return datetime.date(y, m, d)
        except (ValueError, TypeError):
            raise SlaConfigError(f"{where}: 无法识别的日期 {value!r}（应写成 2026-10-01）") from None


def _date_set(raw: Any, where: str) -> frozenset[datetime.date]:
    """Dates from a YAML list of dates, 'YYYY-MM-DD' strings or 'YYYY-MM-DD~YYYY-MM-DD' ranges."""
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise SlaConfigError(f"{where}: 应是一个列表")
    days: set[datetime.date] = set()
    for item in raw:
        match = _RANGE.match(item) if isinstance(item, str) else None
        if match:
            start, end = _to_date(match.group(1), where), _to_date(match.group(2), where)
            if end < start:
                raise SlaConfigError(f"{where}: 日期范围首尾颠倒：{item}")
            if (end - start).days > 60:
                raise SlaConfigError(f"{where}: 日期范围过长（超过60天）：{item}")
            days.update(start + datetime.timedelta(days=i) for i in range((end - start).days + 1))
        else:
            days.add(_to_date(item, where))
    return frozenset(days)


def _days(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not (1 <= raw <= 365):
        raise SlaConfigError(f"{where}: 天数应是 1 到 365 之间的整数，现在是 {raw!r}")
    return raw


@dataclass(frozen=True)
class _Rule:
    days: int
    unit: str
    basis: str
    extension_days: int = 0


class SlaPolicy:
    """Deadlines per ticket type, loaded from ``sla.yml``; immutable after construction."""

    def __init__(self, data: Mapping[str, Any], source: str = "<memory>") -> None:
        self.source = source
        if not isinstance(data, Mapping):
            raise SlaConfigError(f"{source}: 文件内容应是一个映射（mapping）")
        cal = data.get("calendar") or {}
        weekend = cal.get("weekend", [6, 7])
        if not isinstance(weekend, list) or any(not isinstance(w, int) or not 1 <= w <= 7 for w in weekend):
            raise SlaConfigError(f"{source}: calendar.weekend 应是 1–7 的列表")
        self.weekend = frozenset(weekend)
        self.holidays = _date_set(cal.get("holidays"), f"{source}: calendar.holidays")
        self.workdays = _date_set(cal.get("workdays"), f"{source}: calendar.workdays")
        both = self.holidays & self.workdays
        if both:
            raise SlaConfigError(f"{source}: 这些日期同时登记为节假日和调休上班日：{sorted(both)}")
        self.roll_forward = bool(cal.get("roll_forward_calendar_deadlines", False))

        pet = self._section(data, "petition", source)
        pet_basis = str(pet.get("basis") or "《信访工作条例》")
        self._petition_accept = self._rule(pet.get("accept"), f"{source}: petition.accept", pet_basis)
        self._petition_handle = self._rule(pet.get("handle"), f"{source}: petition.handle", pet_basis)

        aid = self._section(data, "legal_aid", source)
        self._legal_aid_review = self._rule(aid.get("review"), f"{source}: legal_aid.review",
                                            str(aid.get("basis") or "《中华人民共和国法律援助法》"))

        comp = self._section(data, "complaint", source)
        self._complaint_basis = str(comp.get("basis") or "本地工单考核办法（可配置）")
        self._complaint_default = _days(comp.get("default_days", 10), f"{source}: complaint.default_days")
        self._complaint_days: dict[tuple[str, str | None], int] = {}
        for cat, body in (comp.get("categories") or {}).items():
            where = f"{source}: complaint.categories.{cat}"
            if isinstance(body, int):
                self._complaint_days[(str(cat), None)] = _days(body, where)
                continue
            if not isinstance(body, Mapping):
                raise SlaConfigError(f"{where}: 应写成 days: N 或带 subcategories 的映射")
            if "days" in body:
                self._complaint_days[(str(cat), None)] = _days(body["days"], f"{where}.days")
            for sub, days in (body.get("subcategories") or {}).items():
                self._complaint_days[(str(cat), str(sub))] = _days(days, f"{where}.subcategories.{sub}")

    @staticmethod
    def _section(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
        body = data.get(name)
        if not isinstance(body, Mapping):
            raise SlaConfigError(f"{source}: 缺少 {name} 部分")
        return body

    @staticmethod
    def _rule(raw: Any, where: str, default_basis: str) -> _Rule:
        if not isinstance(raw, Mapping):
            raise SlaConfigError(f"{where}: 缺少 days/unit")
        unit = str(raw.get("unit", "calendar"))
        if unit not in UNITS:
            raise SlaConfigError(f"{where}: unit 只能是 calendar 或 working")
        extension = raw.get("extension_days", 0)
        extension = 0 if not extension else _days(extension, f"{where}.extension_days")
        return _Rule(_days(raw.get("days"), f"{where}.days"), unit,
                     str(raw.get("basis") or default_basis), extension)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SlaPolicy":
        """Read ``path``, else env ``BIANMIN_SLA_FILE``, else ``sla.yml`` next to this module."""
        data, source = load_yaml(path, ENV_VAR, DEFAULT_PATH, SlaConfigError)
        return cls(data, source=str(source))

    # ------------------------------------------------------------------ day arithmetic
    def is_working_day(self, day: datetime.date) -> bool:
        if day in self.workdays:
            return True
        return day.isoweekday() not in self.weekend and day not in self.holidays

    def add_working_days(self, start: datetime.date, n: int) -> datetime.date:
        """The n-th working day after ``start`` (``start`` itself never counts)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        day, counted = start, 0
        while counted < n:
            day += datetime.timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def add_calendar_days(self, start: datetime.date, n: int) -> datetime.date:
        day = start + datetime.timedelta(days=n)
        if self.roll_forward:
            while not self.is_working_day(day):
                day += datetime.timedelta(days=1)
        return day

    def _due(self, start: datetime.date, days: int, unit: str) -> datetime.date:
        return self.add_working_days(start, days) if unit == "working" else self.add_calendar_days(start, days)

    def working_days_between(self, start: datetime.date, end: datetime.date) -> int:
        """Working days in (start, end]; useful to report how much of a deadline is used."""
        if end <= start:
            return 0
        return sum(1 for i in range(1, (end - start).days + 1)
                   if self.is_working_day(start + datetime.timedelta(days=i)))

    # ------------------------------------------------------------------ policy
    def complaint_days(self, category: str | None = None, subcategory: str | None = None) -> int:
        """Working days for a complaint: sub-category rule, else category rule, else the default."""
        if category is not None:
            if subcategory is not None and (category, subcategory) in self._complaint_days:
                return self._complaint_days[(category, subcategory)]
            if (category, None) in self._complaint_days:
                return self._complaint_days[(category, None)]
        return self._complaint_default

    def configured_complaint_keys(self) -> Iterable[tuple[str, str | None]]:
        """(category, subcategory) pairs named in the file, so tests can check them against routing.yml."""
        return list(self._complaint_days)

    def deadlines(self, ticket_type: str, created: datetime.date, category: str | None = None,
                  subcategory: str | None = None, *, accepted: datetime.date | None = None,
                  extended: bool = False) -> list[Deadline]:
        """Deadlines for a new ticket received on ``created``.

        For petitions the handling deadline runs from acceptance: pass ``accepted`` once known; before
        that it is computed from the latest lawful acceptance day (the accept deadline) and says so.
        ``extended=True`` adds the approved extension (at most ``extension_days``).
        """
        if isinstance(created, datetime.datetime):
            created = created.date()
        if isinstance(accepted, datetime.datetime):
            accepted = accepted.date()
        if not isinstance(created, datetime.date):
            raise TypeError("created must be a datetime.date")
        if ticket_type == "complaint":
            days = self.complaint_days(category, subcategory)
            return [Deadline("resolve", self.add_working_days(created, days), days, "working",
                             self._complaint_basis)]
        if ticket_type == "petition":
            acc = self._petition_accept
            accept_due = self._due(created, acc.days, acc.unit)
            out = [Deadline("accept", accept_due, acc.days, acc.unit, acc.basis)]
            handle = self._petition_handle
            days = handle.days + (handle.extension_days if extended else 0)
            notes = []
            if accepted is None:
                notes.append("按最迟受理日期推算")
            if extended and handle.extension_days:
                notes.append(f"含经批准延长的{handle.extension_days}日")
            start = accepted if accepted is not None else accept_due
            out.append(Deadline("handle", self._due(start, days, handle.unit), days, handle.unit,
                                handle.basis, "，".join(notes)))
            return out
        if ticket_type == "legal_aid":
            rule = self._legal_aid_review
            return [Deadline("review", self._due(created, rule.days, rule.unit), rule.days, rule.unit, rule.basis)]
        raise ValueError(f"unknown ticket type {ticket_type!r}; expected one of {TICKET_TYPES}")


_default: SlaPolicy | None = None


def default_policy() -> SlaPolicy:
    """Process-wide policy, loaded on first use (loading twice under a race is harmless: same content)."""
    global _default
    if _default is None:
        _default = SlaPolicy.load()
    return _default
