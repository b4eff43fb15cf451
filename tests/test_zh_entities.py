"""The rule-based Chinese entity pipeline (blank spaCy zh + jieba), on sentences written for this test."""
import datetime as dt

import pytest

from bot.components.zh_pipeline import EntityFinder, SPANS_KEY

TODAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def finder():
    return EntityFinder()


def found(finder, text):
    return {(m.label, m.value) for m in finder.extract(text, TODAY)}


def test_spacy_pipeline_is_blank_zh_with_jieba(finder):
    nlp = finder.nlp
    assert nlp.lang == "zh" and nlp.tokenizer.segmenter == "jieba"
    assert {"bianmin_ruler", "bianmin_addresses", "bianmin_dates", "bianmin_numbers"} <= set(nlp.pipe_names)
    doc = finder.doc("我叫李明 住在海淀区中关村大街27号", TODAY)
    labels = {s.label_ for s in doc.spans[SPANS_KEY]} | {s.label_ for s in doc.spans["ruler"]}
    assert {"person_name", "address", "district"} <= labels


def test_a_full_complaint_message(finder):
    text = "我叫刘洋 电话 139 0000 1234 住在朝阳区朝阳北路101号幸福小区2号楼3单元602 昨晚十一点楼上还在装修"
    assert found(finder, text) >= {
        ("person_name", "刘洋"), ("phone", "13900001234"), ("district", "朝阳区"),
        ("address", "朝阳区朝阳北路101号幸福小区2号楼3单元602"), ("date", "2026-11-22 23:00"),
    }


def test_dictated_phone_and_invalid_id(finder):
    got = found(finder, "手机幺五九零零零零一二三四 身份证11010519900307123X")
    assert ("phone", "15900001234") in got
    assert ("id_number_invalid", "11010519900307123X") in got and not any(l == "id_number" for l, _ in got)


def test_valid_id_number(finder):
    from bot.components.normalizers import id_checksum

    body = "32010219850612004"
    valid = body + id_checksum(body)
    assert ("id_number", valid) in found(finder, f"身份证号码是{valid.lower()}")


def test_titles_and_places_are_not_names(finder):
    assert not any(l == "person_name" for l, _ in found(finder, "我是王阿姨 住在这个小区十年了"))
    assert not any(l == "person_name" for l, _ in found(finder, "我是龙岗区的居民"))
    assert ("person_name", "王德胜") in found(finder, "村民王德胜反映征地补偿问题")


@pytest.mark.parametrize("text,kind", [
    ("老板拖了我们三个月的工资一直不给", "劳动"),
    ("在车间干活被机器压伤了手", "工伤"),
    ("下班路上被一辆电动车撞了", "交通事故"),
    ("想离婚 孩子抚养权怎么争", "婚姻家庭"),
    ("朋友借了我五万块钱一直不还", "借贷"),
    ("房东到期了押金一直不退", "房屋"),
    ("网购的手机是翻新机商家不给退款", "消费"),
])
def test_legal_matter_types(finder, text, kind):
    assert ("legal_matter_type", kind) in found(finder, text)


def test_ticket_numbers_and_districts_by_alias(finder):
    got = found(finder, "xf20261101-0032 我在海淀这边住")
    assert ("ticket_id", "XF20261101-0032") in got and ("district", "海淀区") in got


def test_no_entities_in_plain_question(finder):
    assert found(finder, "居住证怎么办理需要什么材料") == set()


@pytest.mark.parametrize("text", ["", "   ", "😀" * 50, "<script>alert(1)</script>", "投诉" * 2500])
def test_bad_input_never_raises(finder, text):
    finder.extract(text, TODAY)


def test_relative_dates_use_residents_time_zone_not_the_hosts(monkeypatch):
    """At 01:30 Beijing time (17:30 UTC the day before) 昨天 is the Beijing calendar's yesterday."""
    from bot.components import zh_pipeline

    monkeypatch.delenv("BIANMIN_REFERENCE_DATE", raising=False)
    monkeypatch.setenv("BIANMIN_TIMEZONE", "Asia/Shanghai")
    now = dt.datetime(2026, 11, 22, 17, 30, tzinfo=dt.timezone.utc)
    assert zh_pipeline.reference_today(now) == dt.date(2026, 11, 23)
    monkeypatch.setenv("BIANMIN_TIMEZONE", "UTC")
    assert zh_pipeline.reference_today(now) == dt.date(2026, 11, 22)


def test_relative_date_in_a_message_follows_the_time_zone(monkeypatch):
    from bot.components import zh_pipeline

    monkeypatch.delenv("BIANMIN_REFERENCE_DATE", raising=False)
    monkeypatch.setenv("BIANMIN_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setattr(zh_pipeline, "_utc_now", lambda: dt.datetime(2026, 11, 22, 17, 30, tzinfo=dt.timezone.utc))
    got = {(m.label, m.value) for m in EntityFinder().extract("昨天晚上十点楼下还在施工")}
    assert ("date", "2026-11-22 22:00") in got


@pytest.mark.parametrize("text", [
    "我的电话是一三八零零一三八零零零",
    "电话：１３８００１３８０００",
    "手机号 一三八 零零一三 八零零零",
])
def test_phone_dictated_in_chinese_digits_or_full_width(finder, text):
    assert ("phone", "13800138000") in found(finder, text)


def test_address_keeps_the_estate_and_building(finder):
    got = found(finder, "海淀区学院路30号华清嘉园小区5号楼下")
    addresses = [v for l, v in got if l == "address"]
    assert addresses and max(addresses, key=len).startswith("海淀区学院路30号华清嘉园小区5号楼"), got
