"""Gazetteer: shipped district lists, alias safety, lookups and replacement by a deployment's own file."""
from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.gazetteer import District, Gazetteer, GazetteerConfigError, derive_alias

EXPECTED_COUNTS = {"北京": 16, "上海": 16, "广州": 11, "深圳": 9, "成都": 20, "杭州": 13, "武汉": 13,
                   "西安": 13, "南京": 11}


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load()


def test_shipped_cities_and_district_counts(gaz: Gazetteer) -> None:
    assert gaz.warnings == []
    assert {c: len(gaz.districts_of(c)) for c in gaz.cities} == EXPECTED_COUNTS
    names = [d.name for d in gaz.districts]
    assert len(names) == len(set(names)), "no full name repeats across the shipped cities"
    for d in gaz.districts:
        assert d.name.endswith(("区", "县", "市")), d


@pytest.mark.parametrize("name, city", [
    ("朝阳区", "北京"), ("浦东新区", "上海"), ("天河区", "广州"), ("南山区", "深圳"), ("武侯区", "成都"),
    ("西湖区", "杭州"), ("江汉区", "武汉"), ("雁塔区", "西安"), ("玄武区", "南京"),
    ("临平区", "杭州"), ("钱塘区", "杭州"), ("新津区", "成都"), ("简阳市", "成都"), ("鄠邑区", "西安"),
    ("光明区", "深圳"), ("坪山区", "深圳"), ("密云区", "北京"), ("崇明区", "上海"),
])
def test_full_names(gaz: Gazetteer, name: str, city: str) -> None:
    d = gaz.lookup(name)
    assert d is not None and (d.name, d.city) == (name, city)


@pytest.mark.parametrize("abolished", ["江干区", "下城区", "新津县", "郫县区", "户县区", "崇明县", "密云县",
                                       "闸北区", "卢湾区", "宣武区", "崇文区", "萝岗区"])
def test_abolished_divisions_are_absent(gaz: Gazetteer, abolished: str) -> None:
    assert all(d.name != abolished for d in gaz.districts)


@pytest.mark.parametrize("alias, name", [
    ("朝阳", "朝阳区"), ("浦东", "浦东新区"), ("海淀", "海淀区"), ("武侯", "武侯区"), ("雁塔", "雁塔区"),
    ("玄武", "玄武区"), ("郫县", "郫都区"), ("户县", "鄠邑区"), ("龙泉驿", "龙泉驿区"), ("都江堰", "都江堰市"),
])
def test_allowed_aliases(gaz: Gazetteer, alias: str, name: str) -> None:
    d = gaz.lookup(alias)
    assert d is not None and d.name == name
    assert gaz.surface_forms()[alias] == name


@pytest.mark.parametrize("alias, full", [
    ("西湖", "西湖区"), ("南山", "南山区"), ("新城", "新城区"), ("鼓楼", "鼓楼区"), ("光明", "光明区"),
    ("长安", "长安区"), ("青山", "青山区"), ("白云", "白云区"), ("大兴", "大兴区"), ("黄浦", "黄浦区"),
])
def test_ordinary_word_aliases_need_the_suffix(gaz: Gazetteer, alias: str, full: str) -> None:
    assert gaz.lookup(alias) is None
    assert alias not in gaz.surface_forms()
    district = gaz.lookup(full)
    assert district is not None and alias in district.suffix_only_aliases and alias not in district.aliases


@pytest.mark.parametrize("surface, name, city", [
    ("北京市朝阳区", "朝阳区", "北京"), ("北京朝阳", "朝阳区", "北京"), ("南京鼓楼", "鼓楼区", "南京"),
    ("杭州市西湖区", "西湖区", "杭州"), ("西安新城", "新城区", "西安"), (" 深圳 南山区 ", "南山区", "深圳"),
])
def test_city_prefixed_forms(gaz: Gazetteer, surface: str, name: str, city: str) -> None:
    d = gaz.lookup(surface)
    assert d is not None and (d.name, d.city) == (name, city)


@pytest.mark.parametrize("surface", ["", "   ", None, "长春朝阳区", "北京鼓楼", "朝阳区街道", "区", "北京"])
def test_unknown_surfaces(gaz: Gazetteer, surface: object) -> None:
    assert gaz.lookup(surface) is None  # type: ignore[arg-type]


def test_surface_forms_point_to_canonical_names(gaz: Gazetteer) -> None:
    forms = gaz.surface_forms()
    names = {d.name for d in gaz.districts}
    assert set(forms.values()) == names
    for d in gaz.districts:
        assert forms[d.name] == d.name
    assert len(forms) > len(names)


def test_find_mentions_in_text(gaz: Gazetteer) -> None:
    found = gaz.find("我住浦东新区，之前在西湖边上，公司在海淀，老家南山区")
    assert [d.name for _, _, d in found] == ["浦东新区", "海淀区", "南山区"]
    start, end, _ = found[0]
    assert (start, end) == (2, 6)


def test_derive_alias() -> None:
    assert derive_alias("朝阳区") == "朝阳"
    assert derive_alias("浦东新区") == "浦东"
    assert derive_alias("都江堰市") == "都江堰"
    assert derive_alias("城区") is None


# ---------------------------------------------------------------- a deployment's own file
TWO_CHAOYANG = """
cities:
  北京:
    districts:
      - {name: 朝阳区}
      - {name: 海淀区}
  长春:
    full_name: 长春市
    districts:
      - {name: 朝阳区}
      - {name: 南关区}
"""


def test_colliding_names_need_the_city(tmp_path: Path) -> None:
    path = tmp_path / "gaz.yml"
    path.write_text(TWO_CHAOYANG, encoding="utf-8")
    g = Gazetteer.load(path)
    assert g.warnings, "the collision is reported"
    assert g.lookup("朝阳") is None
    assert g.lookup("朝阳区") is None
    assert {d.city for d in g.lookup_all("朝阳区")} == {"北京", "长春"}
    cc = g.lookup("长春朝阳区")
    assert cc is not None and cc.city == "长春"
    bj = g.lookup("北京市朝阳区")
    assert bj is not None and bj.city == "北京"
    assert "朝阳" not in g.surface_forms()
    assert g.lookup("南关") == District("南关区", "长春", ("南关",), ())   # derived alias


def test_env_var_replaces_the_shipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "county.yml"
    path.write_text("cities:\n  某市:\n    districts:\n      - {name: 某某县, aliases: [某某]}\n",
                    encoding="utf-8")
    monkeypatch.setenv("BIANMIN_GAZETTEER_FILE", str(path))
    g = Gazetteer.load()
    assert [d.name for d in g.districts] == ["某某县"]
    assert g.lookup("某某") is not None and g.lookup("朝阳区") is None


@pytest.mark.parametrize("text, message", [
    ("cities: {}", "cities"),
    ("cities:\n  某市:\n    districts:\n      - {alias: x}\n", "name"),
    ("cities:\n  某市:\n    districts:\n      - {name: 甲区}\n      - {name: 甲区}\n", "重复"),
    ("cities:\n  某市:\n    districts:\n      - {name: 甲乙区, alias_ok: 是}\n", "alias_ok"),
    ("cities:\n  某市:\n    districts:\n      - {name: 甲乙区, aliases: [甲]}\n", "简称"),
])
def test_bad_files_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GazetteerConfigError, match=message):
        Gazetteer.load(path)
