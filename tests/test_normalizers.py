import datetime as dt

import pytest

from bot.components.normalizers import (
    find_dates, id_checksum, is_valid_id_number, normalize_for_matching, normalize_phone, normalize_ticket_id,
    parse_cn_int,
)

MONDAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize("text,value", [
    ("昨天晚上十点多", "2026-11-22 22:00"),
    ("上周三晚上八点", "2026-11-18 20:00"),
    ("前天凌晨两点", "2026-11-21 02:00"),
    ("3月5号", "2026-03-05"),
    ("12月1号", "2025-12-01"),
    ("三月五日下午3点半", "2026-03-05 15:30"),
    ("2025年10月8日", "2025-10-08"),
    ("十天前", "2026-11-13"),
    ("昨晚", "2026-11-22 晚上"),
    ("这周一上午", "2026-11-23 上午"),
    ("周五", "2026-11-20"),
    ("上个月10号", "2026-10-10"),
    ("这个月五号", "2026-11-05"),
    ("11月30日那天晚上", "2025-11-30 晚上"),
])
def test_dates_resolve_against_reference_day(text, value):
    found = find_dates(text, MONDAY)
    assert [d.value for d in found] == [value]
    assert text[found[0].start:found[0].end] in text


def test_no_date_in_plain_text():
    assert find_dates("楼下天天很吵，最近经常这样", MONDAY) == []


def test_id_number_checksum():
    body = "11010519900307123"
    valid = body + id_checksum(body)
    assert is_valid_id_number(valid)
    wrong = body + ("0" if valid[-1] != "0" else "1")
    assert not is_valid_id_number(wrong)
    assert not is_valid_id_number("110105199013071234")  # month 13


@pytest.mark.parametrize("text,phone", [
    ("电话一三八一二三四五六七八", "13812345678"),
    ("手机 138 1234 5678", "13812345678"),
    ("+86 13912345678", "13912345678"),
    ("座机(021)54321234", "021-54321234"),
    ("0755 88889999", "0755-88889999"),
    ("电话123", None),
])
def test_phone_normalisation(text, phone):
    assert normalize_phone(text) == phone


def test_normalisation_keeps_offsets():
    text = "我的电话是幺三八一二三四五六七八谢谢"
    assert len(normalize_for_matching(text)) == len(text)
    assert normalize_for_matching("三月五号一个人") == "三月五号一个人"


def test_ticket_ids_and_numbers():
    assert normalize_ticket_id("ts20261120-0007进度") == "TS20261120-0007"
    assert normalize_ticket_id("ＴＳ 20261120 0007") == "TS20261120-0007"
    assert parse_cn_int("二十一") == 21 and parse_cn_int("两") == 2 and parse_cn_int("abc") is None
