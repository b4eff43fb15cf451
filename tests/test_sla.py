"""SLA policy: statutory petition / legal-aid deadlines, working-day arithmetic, resident-facing text."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from knowledge.routing import RoutingTaxonomy
from knowledge.sla import Deadline, SlaConfigError, SlaPolicy

D = dt.date
SHIPPED = Path(__file__).resolve().parent.parent / "knowledge" / "sla.yml"


@pytest.fixture(scope="module")
def policy() -> SlaPolicy:
    return SlaPolicy.load()


def custom(tmp_path: Path, **calendar: object) -> SlaPolicy:
    """The shipped policy with a different calendar section."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["calendar"].update(calendar)
    path = tmp_path / "sla.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return SlaPolicy.load(path)


# ---------------------------------------------------------------- petitions (信访工作条例)
def test_petition_accept_within_15_calendar_days(policy: SlaPolicy) -> None:
    accept, handle = policy.deadlines("petition", D(2026, 11, 23))
    assert (accept.kind, accept.days, accept.unit) == ("accept", 15, "calendar")
    assert accept.due == D(2026, 12, 8)
    assert "信访工作条例" in accept.basis
    assert accept.describe_zh() == "我们将在15日内（2026年12月8日前）告知您是否受理"


def test_petition_handle_60_days_from_acceptance(policy: SlaPolicy) -> None:
    _, handle = policy.deadlines("petition", D(2026, 11, 23), accepted=D(2026, 11, 30))
    assert (handle.kind, handle.days, handle.unit) == ("handle", 60, "calendar")
    assert handle.due == D(2027, 1, 29)
    assert handle.describe_zh() == "您的信访事项将在受理后60日内办结（2027年1月29日前）"


def test_petition_handle_before_acceptance_assumes_latest_acceptance(policy: SlaPolicy) -> None:
    accept, handle = policy.deadlines("petition", D(2026, 11, 23))
    assert handle.due == accept.due + dt.timedelta(days=60) == D(2027, 2, 6)
    assert "按最迟受理日期推算" in handle.describe_zh()


def test_petition_extension_adds_at_most_30_days(policy: SlaPolicy) -> None:
    _, handle = policy.deadlines("petition", D(2026, 11, 23), accepted=D(2026, 11, 30), extended=True)
    assert handle.days == 90
    assert handle.due == D(2027, 2, 28)
    assert "延长的30日" in handle.describe_zh()


def test_petition_days_ignore_weekends(policy: SlaPolicy) -> None:
    # Calendar days: received on a Friday, due exactly 15 days later regardless of weekends.
    accept, _ = policy.deadlines("petition", D(2026, 11, 27))
    assert accept.due == D(2026, 12, 12)   # a Saturday; no roll-forward by default


# ---------------------------------------------------------------- legal aid (法律援助法 第四十三条)
def test_legal_aid_review_within_7_calendar_days(policy: SlaPolicy) -> None:
    (review,) = policy.deadlines("legal_aid", D(2026, 11, 27))
    assert (review.kind, review.days, review.unit) == ("review", 7, "calendar")
    assert review.due == D(2026, 12, 4)
    assert review.basis == "《中华人民共和国法律援助法》第四十三条"
    assert review.describe_zh() == "法律援助机构将在7日内（2026年12月4日前）作出是否给予法律援助的决定"


# ---------------------------------------------------------------- complaints (working days)
def test_complaint_days_by_subcategory_category_and_default(policy: SlaPolicy) -> None:
    assert policy.complaint_days("市场监管", "食品安全") == 2
    assert policy.complaint_days("城乡建设", "安全隐患") == 1
    assert policy.complaint_days("市场监管", None) == 7
    assert policy.complaint_days("市场监管", "不存在的子类") == 7
    assert policy.complaint_days("不存在的类别", "食品安全") == 10
    assert policy.complaint_days(None) == 10


def test_urgent_subcategories_are_shorter_than_their_category(policy: SlaPolicy) -> None:
    for cat, sub in [("市场监管", "食品安全"), ("城乡建设", "安全隐患"), ("公安政法", "消防安全")]:
        assert policy.complaint_days(cat, sub) < policy.complaint_days(cat)
    for key in policy.configured_complaint_keys():
        assert 1 <= policy.complaint_days(*key) <= 15


def test_complaint_working_days_skip_weekend(policy: SlaPolicy) -> None:
    friday = D(2026, 11, 27)
    (d,) = policy.deadlines("complaint", friday, "城乡建设", "安全隐患")      # 1 working day
    assert (d.kind, d.unit, d.days, d.due) == ("resolve", "working", 1, D(2026, 11, 30))  # Monday
    (d,) = policy.deadlines("complaint", friday, "环境保护", "噪声")          # 5 working days
    assert d.due == D(2026, 12, 4)
    (d,) = policy.deadlines("complaint", D(2026, 11, 28), "城乡建设", "安全隐患")  # received Saturday
    assert d.due == D(2026, 11, 30)
    assert d.basis == "本地工单考核办法（可配置）"
    assert policy.deadlines("complaint", friday, "环境保护", "噪声")[0].describe_zh() == \
        "承办部门将在5个工作日内（2026年12月4日前）办理并答复您"


def test_working_days_honour_configured_holidays_and_adjusted_workdays(tmp_path: Path) -> None:
    # 2026-10-01 is a Thursday; 10-10 is a Saturday declared a working day.
    p = custom(tmp_path, holidays=["2026-10-01~2026-10-07"], workdays=["2026-10-10"])
    assert not p.is_working_day(D(2026, 10, 5))       # Monday, but a holiday
    assert p.is_working_day(D(2026, 10, 10))          # Saturday, adjusted working day
    assert not p.is_working_day(D(2026, 10, 11))      # ordinary Sunday
    start = D(2026, 9, 30)
    assert p.add_working_days(start, 1) == D(2026, 10, 8)
    assert p.add_working_days(start, 3) == D(2026, 10, 10)
    assert p.add_working_days(start, 4) == D(2026, 10, 12)
    assert p.working_days_between(start, D(2026, 10, 12)) == 4
    (d,) = p.deadlines("complaint", start, "市场监管", "食品安全")
    assert d.due == D(2026, 10, 9)
    # Calendar deadlines are not affected by holidays unless roll-forward is switched on.
    (review,) = p.deadlines("legal_aid", D(2026, 9, 28))
    assert review.due == D(2026, 10, 5)


def test_roll_forward_moves_calendar_deadline_off_rest_days(tmp_path: Path) -> None:
    p = custom(tmp_path, holidays=["2026-10-01~2026-10-07"], roll_forward_calendar_deadlines=True)
    (review,) = p.deadlines("legal_aid", D(2026, 9, 28))
    assert review.due == D(2026, 10, 8)
    accept, _ = p.deadlines("petition", D(2026, 11, 27))
    assert accept.due == D(2026, 12, 14)              # Saturday 12-12 → Monday


def test_single_dates_and_unpadded_dates(tmp_path: Path) -> None:
    p = custom(tmp_path, holidays=[D(2026, 1, 1), "2026-1-2"])
    assert not p.is_working_day(D(2026, 1, 1)) and not p.is_working_day(D(2026, 1, 2))
    assert p.add_working_days(D(2025, 12, 31), 1) == D(2026, 1, 5)


def test_datetime_created_is_accepted(policy: SlaPolicy) -> None:
    (d,) = policy.deadlines("legal_aid", dt.datetime(2026, 11, 27, 23, 59))
    assert d.due == D(2026, 12, 4)


# ---------------------------------------------------------------- configuration
def test_sla_names_match_routing_taxonomy(policy: SlaPolicy) -> None:
    tax = RoutingTaxonomy.load()
    for category, sub in policy.configured_complaint_keys():
        assert category in tax.categories, category
        if sub is not None:
            assert sub in tax.subcategories[category], (category, sub)


def test_unknown_ticket_type_raises(policy: SlaPolicy) -> None:
    with pytest.raises(ValueError):
        policy.deadlines("service_enquiry", D(2026, 11, 23))


@pytest.mark.parametrize("calendar, message", [
    ({"holidays": ["2026-10-01"], "workdays": ["2026-10-01"]}, "同时"),
    ({"holidays": ["2026-13-01"]}, "日期"),
    ({"holidays": ["2026-10-07~2026-10-01"]}, "颠倒"),
    ({"weekend": [0, 6]}, "weekend"),
])
def test_bad_calendar_is_rejected(tmp_path: Path, calendar: dict, message: str) -> None:
    with pytest.raises(SlaConfigError, match=message):
        custom(tmp_path, **calendar)


def test_bad_days_are_rejected() -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["petition"]["accept"]["days"] = 0
    with pytest.raises(SlaConfigError, match="petition.accept"):
        SlaPolicy(data)
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["complaint"]["categories"]["市场监管"]["subcategories"]["食品安全"] = "两天"
    with pytest.raises(SlaConfigError, match="食品安全"):
        SlaPolicy(data)


def test_env_var_selects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["complaint"]["default_days"] = 3
    path = tmp_path / "local-sla.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("BIANMIN_SLA_FILE", str(path))
    assert SlaPolicy.load().complaint_days("不存在的类别") == 3


def test_deadline_is_immutable() -> None:
    d = Deadline("review", D(2026, 1, 1), 7, "calendar", "x")
    with pytest.raises(Exception):
        d.days = 8  # type: ignore[misc]
