"""A blank spaCy ``zh`` pipeline (jieba segmentation) that finds the entities a ticket needs.

No downloaded model: tokenisation is jieba with the project's user dictionary, and recognition is rules —
a span ruler for districts (gazetteer), a token-class ``Matcher`` for addresses, and regex components for
dates, phone numbers, checksum-validated ID numbers, ticket numbers, names and legal-matter types.
All mentions go to ``doc.spans["bianmin"]`` (overlaps allowed: an address contains its district) with
exact offsets and the normalised value in ``doc._.mentions``. ``EntityFinder.extract`` returns them resolved.
"""

import datetime as dt
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import jieba
import spacy
import yaml
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span, Token

from bot.components.normalizers import (
    ID_CANDIDATE,
    LANDLINE,
    MOBILE,
    TICKET_ID,
    find_dates,
    is_valid_id_number,
    normalize_for_matching,
)

HOME = Path(os.environ.get("BIANMIN_HOME") or Path(__file__).resolve().parents[2])
LOOKUPS = HOME / "nlu_data" / "lookups"
JIEBA_DICT_DIR = HOME / "nlu_data" / "jieba"
SPANS_KEY = "bianmin"

ENTITY_LABELS = ("person_name", "phone", "id_number", "id_number_invalid", "address", "district", "date",
                 "ticket_id", "legal_matter_type")

if not Doc.has_extension("mentions"):
    Doc.set_extension("mentions", default=None)
    Doc.set_extension("norm_text", default=None)
    Doc.set_extension("today", default=None)
if not Token.has_extension("addr"):
    Token.set_extension("addr", default="")


@dataclass(frozen=True)
class Mention:
    label: str
    start: int
    end: int
    text: str
    value: str

    def as_rasa_entity(self) -> dict:
        return {"entity": self.label, "start": self.start, "end": self.end, "value": self.value,
                "confidence_entity": 1.0}


def _add(doc: Doc, label: str, start: int, end: int, value: str) -> None:
    span = doc.char_span(start, end, label=label, alignment_mode="expand")
    if span is None:
        return
    doc.spans[SPANS_KEY].append(span)
    doc._.mentions.append(Mention(label, start, end, doc.text[start:end], value))


# ------------------------------------------------------------------ regex components
@Language.component("bianmin_init")
def _init(doc: Doc) -> Doc:
    doc.spans[SPANS_KEY] = []
    doc._.mentions = []
    doc._.norm_text = normalize_for_matching(doc.text)
    return doc


@Language.component("bianmin_numbers")
def _numbers(doc: Doc) -> Doc:
    """Ticket numbers, ID numbers (checksum-validated; invalid ones flagged), mobiles and landlines."""
    text = doc._.norm_text
    taken: list[tuple[int, int]] = []
    for m in TICKET_ID.finditer(text):
        _add(doc, "ticket_id", m.start(), m.end(), f"{m.group(1).upper()}{m.group(2)}-{m.group(3)}")
        taken.append(m.span())
    for m in ID_CANDIDATE.finditer(text):
        value = m.group(1).upper()
        _add(doc, "id_number" if is_valid_id_number(value) else "id_number_invalid", m.start(1), m.end(1), value)
        taken.append(m.span(1))
    inside = lambda s, e: any(a <= s and e <= b for a, b in taken)  # noqa: E731
    for m in MOBILE.finditer(text):
        if not inside(m.start(), m.end()):
            _add(doc, "phone", m.start(), m.end(), "".join(m.groups()))
            taken.append(m.span())
    for m in LANDLINE.finditer(text):
        if not inside(m.start(), m.end()):
            _add(doc, "phone", m.start(), m.end(), f"{m.group(1)}-{m.group(2)}")
    return doc


@Language.component("bianmin_dates")
def _dates(doc: Doc) -> Doc:
    today = doc._.today or reference_today()
    for d in find_dates(doc.text, today):
        _add(doc, "date", d.start, d.end, d.value)
    return doc


def _load_surnames() -> tuple[frozenset[str], frozenset[str]]:
    names = [ln.strip() for ln in (LOOKUPS / "surnames.txt").read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    common = frozenset(n for n in names[:120] if len(n) == 1) | frozenset(n for n in names if len(n) == 2)
    return frozenset(names), common


_SURNAMES, _COMMON_SURNAMES = _load_surnames()
_NAME_CUE = re.compile(r"(我叫|我的名字是|名字叫|名字是|姓名[是:：\s]*|本人叫|本人是|本人|申请人[:：\s]*|联系人[:：\s]*"
                       r"|(?:村民|农民|居民|业主|职工|工人|员工|市民|当事人|家属|退休职工|老党员)"
                       r"|我是)\s*")
_NAME_STOP = re.compile(r"(?:[^\u4e00-\u9fff]|$|电话|手机|身份证|住|家住|地址|今年|是|的|在|想|要|来|从|家|反映|投诉|举报|申请|说|向|和|与|，)")
_NOT_NAME_TAIL = ("大妈", "阿姨", "师傅", "老师", "先生", "女士", "大爷", "大姐", "大哥", "老板", "经理", "同志", "奶奶", "爷爷")
_NOT_NAME_CHARS = set("人的了们在是家里这那个也都就还想要去来说吗呢吧啊")
_NOT_NAME_LAST = set("区县市省镇乡村路街楼号厂店司局站")


@Language.component("bianmin_names")
def _names(doc: Doc) -> Doc:
    """Full names after a cue (我叫张伟, 姓名：王建国, 本人李秀英); titles like 赵大妈 are not names."""
    text = doc.text
    for cue in _NAME_CUE.finditer(text):
        pos = cue.end()
        weak = cue.group(1) == "我是"
        for surname_len in (2, 1):
            surname = text[pos:pos + surname_len]
            if surname not in _SURNAMES or (weak and surname not in _COMMON_SURNAMES):
                continue
            for given_len in (1, 2):
                end = pos + surname_len + given_len
                candidate = text[pos:end]
                if len(candidate) != surname_len + given_len or not re.fullmatch(r"[\u4e00-\u9fff]+", candidate):
                    break
                if any(candidate.endswith(t) for t in _NOT_NAME_TAIL) or set(candidate[surname_len:]) & _NOT_NAME_CHARS \
                        or candidate[-1] in _NOT_NAME_LAST:
                    continue
                if _NAME_STOP.match(text, end):
                    _add(doc, "person_name", pos, end, candidate)
                    break
            break
    return doc


# ------------------------------------------------------------------ addresses (token classes + Matcher)
ADMIN_SUFFIX = ("自治区", "省", "市", "区", "县", "旗", "镇", "乡", "街道")
STREET_SUFFIX = ("大道", "大街", "胡同", "社区", "小区", "花园", "家园", "公寓", "大厦", "广场", "新村", "路", "街",
                 "巷", "弄", "村", "苑", "园", "里", "庄", "城", "府", "湾", "坊", "院")
UNIT_WORDS = ("号楼", "号院", "号", "栋", "幢", "座", "楼", "单元", "层", "室", "户", "门", "期", "组", "弄", "排", "段")
NOT_PLACE = {"超市", "城市", "市场", "地区", "学区", "景区", "园区", "公园", "走路", "思路", "出路", "线路", "电路",
             "道路", "马路", "一路", "路上", "路边", "路口", "街上", "街边", "里面", "这里", "那里", "哪里", "家里",
             "村里", "小区里", "城里", "院里", "院子", "公司", "全市", "本市", "我市", "市区", "城区", "郊区", "辖区",
             "片区", "村子", "农村", "老家", "楼下", "楼上", "大楼", "楼道", "楼梯", "门口", "心里",
             "县城", "省里", "市里", "区里", "街道办", "居委会", "物业", "单位", "法院", "医院", "学院", "庭院",
             "里面", "家园网", "花园里"}
_NUMBERISH = re.compile(r"^[0-9A-Za-z零〇一二三四五六七八九十百两\-#]+$")
_NUM_UNIT = re.compile(r"^[0-9A-Za-z零〇一二三四五六七八九十百两\-]+(?:" + "|".join(UNIT_WORDS) + r")$")
_STOP_TOKENS = {"我", "住", "住在", "在", "家", "家住", "地址", "是", "的", "了", "和", "到", "从", "位于", "就", "这",
                "那", "我家", "我们", "他们", "对面", "旁边", "附近", "门口", "楼下", "楼上", "里", "边"}


_UNIT_PREFIX = re.compile(r"^(" + "|".join(sorted(UNIT_WORDS, key=len, reverse=True)) + r")([\u4e00-\u9fff]+)$")


@Language.component("bianmin_split_units")
def _split_units(doc: Doc) -> Doc:
    """jieba's HMM sometimes glues a unit to the next word after a number (88 / 号华贸): split it off."""
    with doc.retokenize() as retokenizer:
        for i, tok in enumerate(doc):
            if i == 0 or not _NUMBERISH.match(doc[i - 1].text):
                continue
            m = _UNIT_PREFIX.match(tok.text)
            if m and m.group(2) not in ("下", "上", "道", "梯"):
                retokenizer.split(tok, [m.group(1), m.group(2)], heads=[(tok, 0), (tok, 1)])
    return doc


@Language.component("bianmin_address_tokens")
def _address_tokens(doc: Doc) -> Doc:
    """Class each token for the address matcher: ADMIN / STREET / NAME / NUM / UNIT / NUMUNIT."""
    for i, tok in enumerate(doc):
        t = tok.text
        nxt = doc[i + 1].text if i + 1 < len(doc) else ""
        cls = ""
        if t in _STOP_TOKENS or t in NOT_PLACE or not t.strip():
            cls = ""
        elif _NUM_UNIT.match(t):
            cls = "NUMUNIT"
        elif _NUMBERISH.match(t):
            cls = "NUM"
        elif t in UNIT_WORDS:
            cls = "UNIT"
        elif t in ADMIN_SUFFIX or t in STREET_SUFFIX:
            cls = "SUFFIX"
        elif len(t) >= 2 and t.endswith(ADMIN_SUFFIX) and re.fullmatch(r"[\u4e00-\u9fff]+", t):
            cls = "ADMIN"
        elif len(t) >= 2 and t.endswith(STREET_SUFFIX) and re.fullmatch(r"[\u4e00-\u9fff]+", t):
            cls = "STREET"
        elif re.fullmatch(r"[\u4e00-\u9fff]{1,6}", t) and (
                nxt in STREET_SUFFIX or nxt in ADMIN_SUFFIX
                or (2 <= len(nxt) <= 4 and nxt[0] in "东西南北中外内前后" and nxt.endswith(STREET_SUFFIX))):
            cls = "NAME"
        elif (i > 0 and doc[i - 1]._.addr in ("UNIT", "NUMUNIT") and re.fullmatch(r"[\u4e00-\u9fff]{1,3}", t)
              and len(nxt) >= 2 and nxt.endswith(STREET_SUFFIX) and re.fullmatch(r"[\u4e00-\u9fff]+", nxt)):
            # jieba splits an estate name after a house number (…30号 | 华 | 清嘉园 | 小区): the head belongs to it
            cls = "NAME"
        tok._.addr = cls
    return doc


_ADDRESS_PATTERN = [
    {"_": {"addr": {"IN": ["ADMIN", "STREET", "NAME"]}}},
    {"_": {"addr": {"IN": ["ADMIN", "STREET", "NAME", "SUFFIX", "NUM", "UNIT", "NUMUNIT"]}}, "OP": "*"},
    {"_": {"addr": {"IN": ["UNIT", "NUMUNIT", "STREET", "SUFFIX", "NUM"]}}},
]
_ROOM_AFTER = ("单元", "栋", "幢", "楼", "号楼", "座")


class AddressMatcher:
    """Longest runs of address-like tokens that name a street-level place and a number/building/unit."""

    def __init__(self, nlp: Language) -> None:
        self.matcher = Matcher(nlp.vocab)
        self.matcher.add("ADDRESS", [_ADDRESS_PATTERN], greedy="LONGEST")

    def __call__(self, doc: Doc) -> Doc:
        for _, start, end in self.matcher(doc):
            # an address does not run across white space (…11号 三楼的餐馆)
            for i in range(start, end - 1):
                if doc[i].whitespace_:
                    end = i + 1
                    break
            # a bare number ends an address only as a room number (…3单元602)
            if doc[end - 1]._.addr == "NUM" and not (
                    end - start > 2 and doc[end - 2].text in _ROOM_AFTER and re.fullmatch(r"\d{3,4}", doc[end - 1].text)):
                end -= 1
            # a unit word is part of the address only right after a number (…2单元 | 楼道里), or 号+楼/院
            while end - start > 1 and doc[end - 1]._.addr == "UNIT" and doc[end - 2]._.addr != "NUM" \
                    and not (doc[end - 2].text.endswith("号") and doc[end - 1].text in ("楼", "院")):
                end -= 1
            span = doc[start:end]
            classes = [t._.addr for t in span]
            has_street = any(c == "STREET" for c in classes) or any(
                c == "SUFFIX" and t.text in STREET_SUFFIX for c, t in zip(classes, span))
            has_number = "NUMUNIT" in classes or any(
                c == "UNIT" and i > 0 and classes[i - 1] == "NUM" for i, c in enumerate(classes))
            if has_street and has_number:
                _add(doc, "address", span.start_char, span.end_char, span.text)
        return doc


@Language.factory("bianmin_addresses")
def _make_address_matcher(nlp: Language, name: str) -> AddressMatcher:
    return AddressMatcher(nlp)


# ------------------------------------------------------------------ pipeline
def _legal_lexicon() -> list[tuple[str, re.Pattern[str]]]:
    """(type, compiled pattern) in priority order: phrases and gap patterns from legal_matters.yml."""
    data = yaml.safe_load((LOOKUPS / "legal_matters.yml").read_text(encoding="utf-8"))
    out = []
    for kind, spec in data.items():
        alternatives = [re.escape(p) for p in sorted(spec.get("phrases") or [], key=len, reverse=True)]
        alternatives += list(spec.get("patterns") or [])
        if alternatives:
            out.append((kind, re.compile("|".join(f"(?:{a})" for a in alternatives))))
    return out


class LegalMatterMatcher:
    """The main legal-matter type of a message (first type in priority order that matches)."""

    def __init__(self, lexicon: list[tuple[str, re.Pattern[str]]]) -> None:
        self.lexicon = lexicon

    def __call__(self, doc: Doc) -> Doc:
        text = doc._.norm_text
        for kind, pattern in self.lexicon:
            m = pattern.search(text)
            if m:
                _add(doc, "legal_matter_type", m.start(), m.end(), kind)
                break
        return doc


@Language.factory("bianmin_legal_matters")
def _make_legal_matcher(nlp: Language, name: str) -> LegalMatterMatcher:
    return LegalMatterMatcher(_legal_lexicon())


def _district_surfaces() -> dict[str, str]:
    from knowledge.gazetteer import Gazetteer

    return Gazetteer.load().surface_forms()


_JIEBA_LOCK = threading.Lock()
_jieba_ready = False


def prepare_jieba(extra_words: Iterable[str] = ()) -> None:
    """Load the project's user dictionary once, plus words that must stay whole (districts, lexicon phrases)."""
    global _jieba_ready
    with _JIEBA_LOCK:
        if not _jieba_ready:
            jieba.setLogLevel(60)
            for path in sorted(JIEBA_DICT_DIR.glob("*.txt")):
                jieba.load_userdict(str(path))
            _jieba_ready = True
        for w in extra_words:
            jieba.add_word(w, freq=20000)


def build_nlp() -> Language:
    """The blank zh pipeline with every bianmin recogniser (built in code; nothing downloaded)."""
    districts = _district_surfaces()
    prepare_jieba(list(districts))
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.add_pipe("bianmin_init")
    nlp.add_pipe("bianmin_numbers")
    nlp.add_pipe("bianmin_dates")
    nlp.add_pipe("bianmin_names")
    ruler = nlp.add_pipe("span_ruler", name="bianmin_ruler", config={"spans_key": "ruler", "phrase_matcher_attr": "ORTH"})
    patterns = [{"label": "district", "pattern": surface, "id": canonical} for surface, canonical in districts.items()]
    ruler.add_patterns(patterns)
    nlp.add_pipe("bianmin_legal_matters")
    nlp.add_pipe("bianmin_split_units")
    nlp.add_pipe("bianmin_address_tokens")
    nlp.add_pipe("bianmin_addresses")
    return nlp


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def reference_today(now: dt.datetime | None = None) -> dt.date:
    """Residents' calendar day in BIANMIN_TIMEZONE (not the host's), or BIANMIN_REFERENCE_DATE (YYYY-MM-DD)
    for reproducible evaluation of relative dates. On a UTC host, 01:30 Beijing time is still Beijing's day."""
    raw = os.environ.get("BIANMIN_REFERENCE_DATE", "").strip()
    if raw:
        return dt.date.fromisoformat(raw)
    from cases.numbering import local_date  # the same day ticket numbers use

    return local_date(now or _utc_now())


class EntityFinder:
    """Thread-safe facade: text in, resolved mentions out."""

    def __init__(self, nlp: Language | None = None) -> None:
        self.nlp = nlp or build_nlp()

    def doc(self, text: str, today: dt.date | None = None) -> Doc:
        doc = self.nlp.make_doc(text)
        doc._.today = today
        for _, proc in self.nlp.pipeline:
            doc = proc(doc)
        return doc

    def extract(self, text: str, today: dt.date | None = None) -> list[Mention]:
        if not text or not text.strip():
            return []
        doc = self.doc(text, today)
        mentions = list(doc._.mentions)
        for s in doc.spans.get("ruler", []):
            if s.label_ == "district" and not s.text.endswith(("区", "县", "市", "旗")) and _STREETISH.match(text, s.end_char):
                continue  # 朝阳北路 is a road, not 朝阳区
            mentions.append(Mention(s.label_, s.start_char, s.end_char, s.text, s.id_ or s.text))
        return _resolve(mentions)


_STREETISH = re.compile(r"[东西南北中]?(?:路|街|大道|大街|桥|门|巷|胡同|里|村|镇|小区|公园|广场)")


def _resolve(mentions: list[Mention]) -> list[Mention]:
    """One mention per place and label (longest wins); at most one legal_matter_type (the first)."""
    mentions.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Mention] = []
    for m in mentions:
        if any(k.label == m.label and k.start < m.end and m.start < k.end for k in kept):
            continue
        if m.label == "date" and any(k.label in ("phone", "id_number", "ticket_id") and k.start <= m.start < k.end for k in kept):
            continue
        kept.append(m)
    legal = [m for m in kept if m.label == "legal_matter_type"]
    return [m for m in kept if m.label != "legal_matter_type"] + legal[:1]


_default: EntityFinder | None = None
_default_lock = threading.Lock()


def default_finder() -> EntityFinder:
    global _default
    with _default_lock:
        if _default is None:
            _default = EntityFinder()
        return _default
