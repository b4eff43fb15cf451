"""Place-name gazetteer: a deployment's cities and their districts/counties, with safe short aliases.

A short alias (朝阳 for 朝阳区) is only usable on its own when the file allows it (``alias_ok``) and no
other district in the same file claims it; otherwise the full name, or the alias preceded by its city
(南京鼓楼, 杭州市西湖), is required. That keeps ordinary words (西湖, 光明, 新城) out of entity matches.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


from knowledge._files import load_yaml

log = logging.getLogger(__name__)

ENV_VAR = "BIANMIN_GAZETTEER_FILE"
DEFAULT_PATH = Path(__file__).resolve().with_name("gazetteer.yml")
# Longest first so 浦东新区 loses 新区, not 区.
_SUFFIXES = ("新区", "自治县", "自治旗", "林区", "特区", "区", "县", "市", "旗")
_WHITESPACE = re.compile(r"\s+")
_ALLOWED_DISTRICT_KEYS = {"name", "aliases", "alias_ok"}


class GazetteerConfigError(ValueError):
    """The gazetteer file is malformed."""


@dataclass(frozen=True)
class District:
    name: str                              # full official name with suffix, e.g. 朝阳区
    city: str                              # short city name, e.g. 北京
    aliases: tuple[str, ...]               # aliases usable on their own (alias_ok and unambiguous)
    suffix_only_aliases: tuple[str, ...] = ()  # aliases that count only after the city name


def _clean(surface: str) -> str:
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", surface))


def derive_alias(name: str) -> str | None:
    """朝阳区 → 朝阳; None when stripping the suffix would leave a single character (e.g. 城区)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


class Gazetteer:
    """Districts of the configured cities; immutable after construction."""

    districts: list[District]

    def __init__(self, data: Mapping[str, Any], source: str = "<memory>") -> None:
        self.source = source
        self.warnings: list[str] = []
        cities = data.get("cities") if isinstance(data, Mapping) else None
        if not isinstance(cities, Mapping) or not cities:
            raise GazetteerConfigError(f"{source}: 缺少 cities")

        self.cities: list[str] = []
        self.city_full_names: dict[str, str] = {}
        raw: list[tuple[str, str, list[str], bool]] = []   # (name, city, aliases, alias_ok)
        for city, body in cities.items():
            city = _clean(str(city))
            where = f"{source}: cities.{city}"
            if not isinstance(body, Mapping) or not isinstance(body.get("districts"), list):
                raise GazetteerConfigError(f"{where}: 需要 districts 列表")
            self.cities.append(city)
            self.city_full_names[city] = _clean(str(body.get("full_name") or f"{city}市"))
            seen: set[str] = set()
            for item in body["districts"]:
                if isinstance(item, str):
                    item = {"name": item}
                if not isinstance(item, Mapping) or not item.get("name"):
                    raise GazetteerConfigError(f"{where}: 每一项都需要 name（全称）")
                unknown = set(item) - _ALLOWED_DISTRICT_KEYS
                if unknown:
                    raise GazetteerConfigError(f"{where}.{item['name']}: 未知项 {sorted(unknown)}")
                name = _clean(str(item["name"]))
                if name in seen:
                    raise GazetteerConfigError(f"{where}: {name} 重复")
                seen.add(name)
                if "aliases" in item and item["aliases"] is not None:
                    if not isinstance(item["aliases"], list):
                        raise GazetteerConfigError(f"{where}.{name}: aliases 应是列表")
                    aliases = [_clean(str(a)) for a in item["aliases"] if str(a).strip()]
                else:
                    derived = derive_alias(name)
                    aliases = [derived] if derived else []
                alias_ok = item.get("alias_ok", True)
                if not isinstance(alias_ok, bool):
                    raise GazetteerConfigError(f"{where}.{name}: alias_ok 只能是 true 或 false")
                for alias in aliases:
                    if len(alias) < 2 or alias == name:
                        raise GazetteerConfigError(f"{where}.{name}: 简称“{alias}”无效")
                raw.append((name, city, aliases, alias_ok))

        # An alias claimed by two districts, or equal to a full name, cannot stand alone.
        claims: dict[str, set[tuple[str, str]]] = {}
        full_names = {name for name, *_ in raw}
        for name, city, aliases, _ok in raw:
            for alias in aliases:
                claims.setdefault(alias, set()).add((city, name))
        ambiguous = {a for a, owners in claims.items() if len(owners) > 1 or a in full_names}
        for alias in sorted(ambiguous):
            self.warnings.append(f"简称“{alias}”对应多个地方 {sorted(claims[alias])}，只在带城市名时使用")

        self.districts = []
        for name, city, aliases, alias_ok in raw:
            usable = tuple(a for a in aliases if alias_ok and a not in ambiguous)
            blocked = tuple(a for a in aliases if a not in usable)
            self.districts.append(District(name, city, usable, blocked))

        self._by_full: dict[str, list[District]] = {}
        self._by_alias: dict[str, District] = {}
        for district in self.districts:
            self._by_full.setdefault(district.name, []).append(district)
            for alias in district.aliases:
                self._by_alias[alias] = district
        for name, owners in self._by_full.items():
            if len(owners) > 1:
                self.warnings.append(f"“{name}”在 {[d.city for d in owners]} 都有，只在带城市名时能确定")
        # city prefixes, longest first: 北京市 before 北京
        prefixes = {city: city for city in self.cities}
        prefixes.update({full: city for city, full in self.city_full_names.items()})
        self._city_prefixes = sorted(prefixes.items(), key=lambda kv: -len(kv[0]))
        for message in self.warnings:
            log.warning("gazetteer %s: %s", source, message)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Gazetteer":
        """Read ``path``, else env ``BIANMIN_GAZETTEER_FILE``, else ``gazetteer.yml`` next to this module."""
        data, source = load_yaml(path, ENV_VAR, DEFAULT_PATH, GazetteerConfigError)
        return cls(data, source=str(source))

    # ------------------------------------------------------------------ lookups
    def _in_city(self, city: str, rest: str) -> District | None:
        for district in self.districts:
            if district.city == city and (rest == district.name or rest in district.aliases
                                          or rest in district.suffix_only_aliases):
                return district
        return None

    def lookup(self, surface: str) -> District | None:
        """Full name, an allowed alias, or city + name/alias (北京市朝阳区, 南京鼓楼); else None.

        A full name found in two configured cities is ambiguous without its city and gives None.
        """
        if not isinstance(surface, str):
            return None
        text = _clean(surface)
        if not text:
            return None
        owners = self._by_full.get(text)
        if owners:
            return owners[0] if len(owners) == 1 else None
        if text in self._by_alias:
            return self._by_alias[text]
        for prefix, city in self._city_prefixes:
            if text.startswith(prefix) and len(text) > len(prefix):
                found = self._in_city(city, text[len(prefix):])
                if found:
                    return found
        return None

    def lookup_all(self, surface: str) -> list[District]:
        """Every district a full name or alias could mean (for disambiguation prompts)."""
        text = _clean(surface) if isinstance(surface, str) else ""
        out = list(self._by_full.get(text, []))
        out += [d for d in self.districts if d not in out and
                (text in d.aliases or text in d.suffix_only_aliases)]
        return out

    def surface_forms(self) -> dict[str, str]:
        """surface → canonical full name, for entity rulers: full names and the aliases allowed alone."""
        forms: dict[str, str] = {}
        for district in self.districts:
            forms[district.name] = district.name
            for alias in district.aliases:
                forms[alias] = district.name
        return forms

    def districts_of(self, city: str) -> list[District]:
        return [d for d in self.districts if d.city == city]

    def find(self, text: str) -> list[tuple[int, int, District]]:
        """Non-overlapping mentions in free text, longest surface first at each position."""
        if not isinstance(text, str) or not text:
            return []
        forms = self.surface_forms()
        lengths = sorted({len(f) for f in forms}, reverse=True)
        text = unicodedata.normalize("NFKC", text)
        out: list[tuple[int, int, District]] = []
        i = 0
        while i < len(text):
            for length in lengths:
                piece = text[i:i + length]
                if len(piece) == length and piece in forms:
                    district = self.lookup(piece)
                    if district is not None:
                        out.append((i, i + length, district))
                        i += length
                        break
            else:
                i += 1
        return out
