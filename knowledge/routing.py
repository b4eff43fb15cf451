"""Complaint routing: category / sub-category / handling department from a resident's free text.

The taxonomy and its weighted lexicon live in ``routing.yml`` (edited by data admins, not programmers).
Matching is deliberately simple and explainable: after normalisation (NFKC full-width → half-width,
a small traditional → simplified character table, lower-case, whitespace removed) every lexicon phrase
that occurs as a substring scores its weight once. A phrase wholly inside a longer matched phrase does
not count (``拖欠工资`` scores, the ``工资`` inside it does not), so specific phrases win over the
generic words they contain, and ``ignore_phrases`` (weight-less) can shield words such as the ``市政``
in ``市政府``.

Everything is compiled once at load time into plain dicts; ``RoutingTaxonomy.route`` only reads them,
so one instance can be shared by threads and coroutines.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping


from knowledge._files import load_yaml

log = logging.getLogger(__name__)

ENV_VAR = "BIANMIN_ROUTING_FILE"
DEFAULT_PATH = Path(__file__).resolve().with_name("routing.yml")
FALLBACK_CATEGORY = "其他"
FIXED_TICKET_TYPES = ("petition", "legal_aid", "service_enquiry")

# Traditional → simplified, one character for one: covers the characters of the shipped lexicon that have
# a distinct traditional form, plus common function characters. Characters that are also ordinary simplified
# characters with another meaning (乾, 著, 於, 夥 ...) are deliberately absent. Pairs are "繁简".
_T2S_PAIRS = (
    "與与專专業业東东丟丢兩两喪丧個个豐丰臨临為为爲为樂乐習习鄉乡書书買买亂乱爭争產产產产儀仪價价傷伤偽伪"
    "僞伪偵侦傾倾償偿儲储兒儿關关興兴養养獸兽內内冊册軍军農农決决準准減减劃划創创劑剂劇剧辦办務务勞劳勵励"
    "動动區区醫医協协單单賣卖衛卫廠厂廳厅歷历曆历壓压廁厕廂厢廚厨縣县參参雙双發发髮发變变葉叶號号臺台颱台"
    "嚇吓後后員员響响啞哑噴喷團团園园圍围國国圖图圓圆場场壞坏墳坟墜坠執执擴扩掃扫揚扬擾扰撫抚拋抛搶抢護护"
    "報报擁拥擇择掛挂擋挡損损換换攝摄擺摆搖摇攤摊攜携數数鬥斗斷断時时舊旧曬晒暫暂術术機机殺杀雜杂權权桿杆"
    "條条來来楊杨鬆松闆板構构標标棟栋欄栏樹树橋桥樁桩檢检樓楼殘残殯殡毆殴氣气漢汉汙污溝沟沒没瀝沥洩泄瀉泻"
    "潔洁濁浊測测濟济渾浑塗涂澇涝漲涨溫温遊游滿满滅灭燈灯靈灵災灾爐炉點点爛烂煙烟燒烧熱热爺爷牽牵獨独豬猪"
    "貓猫環环電电療疗瘋疯癬癣監监蓋盖盜盗盤盘矯矫碼码磚砖礙碍禍祸離离種种積积稱称稅税竊窃競竞築筑籌筹簽签"
    "籤签籃篮類类糞粪係系繫系糾纠紅红約约級级納纳紛纷紙纸線线練练組组織织經经結结繞绕給给絡络統统續续繩绳"
    "維维綜综綠绿編编縫缝繳缴網网罰罚職职聯联聾聋脅胁髒脏臟脏脫脱蒼苍範范藥药營营虛虚蟲虫蠅蝇補补裝装規规"
    "視视覺觉計计訂订認认討讨訓训議议記记許许訟讼設设訪访證证評评識识詐诈訴诉診诊試试話话誤误讀读課课調调"
    "謝谢貝贝負负財财賬账貨货質质販贩貧贫購购貼贴貸贷貿贸費费賃赁資资賭赌賠赔賴赖贊赞讚赞蹤踪車车軌轨轉转"
    "輪轮轟轰輕轻載载輔辅輛辆輻辐輸输辭辞邊边遷迁過过運运進进遠远違违連连適适遞递遺遗郵邮採采裡里裏里針针"
    "鋼钢錢钱鑽钻鐵铁銀银鋪铺鏈链銷销鎖锁鍋锅錦锦長长門门閉闭問问闖闯間间閘闸鬧闹聞闻隊队陽阳險险隨随隱隐"
    "難难霧雾黴霉靜静項项頂顶順顺預预領领頻频題题風风飆飙飛飞飯饭飲饮饒饶館馆餿馊駛驶駕驾驛驿罵骂驗验騙骗"
    "騷骚魚鱼鮮鲜鳥鸟鳴鸣麥麦黃黄齡龄龍龙優优會会傳传體体別别製制隻只喫吃嗆呛週周迴回睏困牆墙聲声處处備备"
    "復复複复頭头奪夺獎奖妝妆婦妇嬰婴學学實实寵宠審审寬宽賓宾尋寻導导將将塵尘層层屆届屬属崗岗師师帶带幹干"
    "廣广庫库應应廢废開开異异強强當当噹当徵征徑径態态惡恶戲戏戶户無无櫃柜橫横窪洼燻熏釁衅錶表麵面馬马這这"
    "們们說说麼么還还對对嗎吗沒没樣样讓让顧顾歲岁並并雲云誰谁萬万滬沪鄰邻噸吨傢家詢询稈秆託托請请嚴严"
    "幾几從从錯错舉举纔才"
)
T2S: dict[int, str] = {ord(a): b for a, b in zip(_T2S_PAIRS[0::2], _T2S_PAIRS[1::2]) if a != b}

_WHITESPACE = re.compile(r"\s+")
_LONG_NUMBER = re.compile(r"\d{7,}")   # phone, ID and ticket numbers: "12345" inside 13812345678 is no keyword
_ALLOWED_TOP = {"settings", "extra_char_map", "fixed_routes", "ignore_phrases", "categories", "label_map"}
_ALLOWED_NODE = {"department", "keywords", "negative", "subcategories"}
_ALLOWED_SETTINGS = {"min_score", "length_bonus", "confidence_scale", "max_chars", "keep_keyword_confidence",
                     "short_text_chars"}


class RoutingConfigError(ValueError):
    """The routing file is malformed; the message names the offending place for the admin."""


def normalise(text: str, char_map: Mapping[int, str] | None = None) -> str:
    """Canonical form used on both lexicon phrases and residents' text (not length-preserving)."""
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(char_map if char_map is not None else T2S)
    return _WHITESPACE.sub("", _LONG_NUMBER.sub("#", text.lower()))


@dataclass(frozen=True)
class Route:
    category: str
    subcategory: str | None
    department: str
    confidence: float          # 0..1; strong unambiguous match ≥ 0.8, no match → 其他 with ≤ 0.3
    matched: tuple[str, ...]   # lexicon phrases that scored for the chosen category, in text order

    def as_dict(self) -> dict:
        return {
            "category": self.category,
            "subcategory": self.subcategory,
            "department": self.department,
            "confidence": self.confidence,
            "matched": list(self.matched),
        }


@dataclass(frozen=True)
class _Node:
    """A category (sub is None) or one of its sub-categories."""
    category: str
    sub: str | None
    department: str
    cat_index: int


def _as_float(value: Any, where: str) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise RoutingConfigError(f"{where}: 分值必须是数字，现在是 {value!r}") from None
    if not (0 < result <= 10):
        raise RoutingConfigError(f"{where}: 分值应在 0 到 10 之间，现在是 {result}")
    return result


def _weight_groups(raw: Any, where: str) -> list[tuple[str, float]]:
    """Accepts ``{3: [词, 词], 2: [...]}`` (weight groups) or ``{词: 3}``; returns (phrase, weight) pairs."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise RoutingConfigError(f"{where}: 应写成“分值: [词, 词]”的形式")
    pairs: list[tuple[str, float]] = []
    for key, value in raw.items():
        try:
            weight = float(key)
            is_group = True
        except (TypeError, ValueError):
            is_group = False
        if is_group:
            weight = _as_float(key, where)
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is None:
                    continue
                pairs.append((str(item), weight))
        else:
            pairs.append((str(key), _as_float(value, f"{where}.{key}")))
    return pairs


class RoutingTaxonomy:
    """Compiled routing table. Build with :meth:`load`; immutable afterwards (safe to share)."""

    categories: list[str]

    def __init__(self, data: Mapping[str, Any], source: str = "<memory>") -> None:
        self.source = source
        self.warnings: list[str] = []
        if not isinstance(data, Mapping):
            raise RoutingConfigError(f"{source}: 文件内容应是一个映射（mapping）")
        unknown = set(data) - _ALLOWED_TOP
        if unknown:
            raise RoutingConfigError(f"{source}: 未知的顶层项 {sorted(unknown)}")

        settings = data.get("settings") or {}
        unknown = set(settings) - _ALLOWED_SETTINGS
        if unknown:
            raise RoutingConfigError(f"{source}: settings 中有未知项 {sorted(unknown)}")
        self.min_score = float(settings.get("min_score", 1.0))
        self.length_bonus = float(settings.get("length_bonus", 0.1))
        self.confidence_scale = float(settings.get("confidence_scale", 2.2))
        self.max_chars = int(settings.get("max_chars", 3000))
        self.keep_keyword_confidence = float(settings.get("keep_keyword_confidence", 0.9))
        self.short_text_chars = int(settings.get("short_text_chars", 40))
        if self.confidence_scale <= 0 or self.min_score < 0 or self.max_chars <= 0:
            raise RoutingConfigError(f"{source}: settings 数值无效")

        self._char_map = dict(T2S)
        for trad, simp in (data.get("extra_char_map") or {}).items():
            trad, simp = str(trad), str(simp)
            if len(trad) != 1 or len(simp) != 1:
                raise RoutingConfigError(f"{source}: extra_char_map 每项应是一个字对一个字：{trad}: {simp}")
            self._char_map[ord(trad)] = simp

        self._fixed = self._load_fixed(data.get("fixed_routes") or {}, source)
        raw_map = data.get("label_map") or {}
        if not isinstance(raw_map, Mapping):
            raise RoutingConfigError(f"{source}: label_map 应是“历史标签: 顶层类别”的映射")
        self.label_map: dict[str, str] = {str(k): str(v) for k, v in raw_map.items()}

        cats = data.get("categories")
        if not isinstance(cats, Mapping) or not cats:
            raise RoutingConfigError(f"{source}: 缺少 categories")
        if FALLBACK_CATEGORY not in cats:
            raise RoutingConfigError(f"{source}: categories 必须包含“{FALLBACK_CATEGORY}”（无法分类时的去向）")

        self.categories = [str(c) for c in cats]
        self.subcategories: dict[str, list[str]] = {}
        self._nodes: list[_Node] = []
        self._cat_node: list[int] = []          # category index -> its own node index
        self._node_key: dict[tuple[str, str | None], int] = {}
        # phrase -> ((node, weight), ...); an empty tuple marks an ignore phrase (shields, scores nothing)
        positive: dict[str, dict[int, float]] = {}
        negative: dict[str, dict[int, float]] = {}

        for ci, (cat, body) in enumerate(cats.items()):
            cat = str(cat)
            where = f"categories.{cat}"
            body = self._check_node(body, where)
            node = self._add_node(cat, None, body, ci, where)
            self._cat_node.append(node)
            self._add_phrases(positive, node, body.get("keywords"), f"{where}.keywords")
            self._add_phrases(negative, node, body.get("negative"), f"{where}.negative")
            subs = body.get("subcategories") or {}
            if not isinstance(subs, Mapping):
                raise RoutingConfigError(f"{where}.subcategories: 应是一个映射")
            self.subcategories[cat] = []
            for sub, sub_body in subs.items():
                sub = str(sub)
                swhere = f"{where}.subcategories.{sub}"
                sub_body = self._check_node(sub_body, swhere)
                if "subcategories" in sub_body:
                    raise RoutingConfigError(f"{swhere}: 子类别下不能再分子类别")
                snode = self._add_node(cat, sub, sub_body, ci, swhere, default_department=body["department"])
                self.subcategories[cat].append(sub)
                self._add_phrases(positive, snode, sub_body.get("keywords"), f"{swhere}.keywords")
                self._add_phrases(negative, snode, sub_body.get("negative"), f"{swhere}.negative")

        for raw in data.get("ignore_phrases") or []:
            phrase = normalise(str(raw), self._char_map)
            if len(phrase) < 2:
                self.warnings.append(f"ignore_phrases: “{raw}”太短，已忽略")
                continue
            positive.setdefault(phrase, {})

        self._pos_index = self._freeze(positive)
        self._neg_index = self._freeze(negative)
        self._pos_first = self._first_char_index(self._pos_index)
        self._neg_first = self._first_char_index(self._neg_index)
        self._fallback_node = self._cat_node[self.categories.index(FALLBACK_CATEGORY)]
        for message in self.warnings:
            log.warning("routing table %s: %s", source, message)

    # ------------------------------------------------------------------ loading helpers
    @classmethod
    def load(cls, path: str | Path | None = None) -> "RoutingTaxonomy":
        """Read the YAML table: ``path``, else env ``BIANMIN_ROUTING_FILE``, else ``routing.yml`` here."""
        data, source = load_yaml(path, ENV_VAR, DEFAULT_PATH, RoutingConfigError)
        return cls(data, source=str(source))

    def _load_fixed(self, raw: Any, source: str) -> dict[str, Route]:
        if not isinstance(raw, Mapping):
            raise RoutingConfigError(f"{source}: fixed_routes 应是一个映射")
        fixed: dict[str, Route] = {}
        for ticket_type, body in raw.items():
            if not isinstance(body, Mapping) or not body.get("department"):
                raise RoutingConfigError(f"{source}: fixed_routes.{ticket_type} 需要 department")
            fixed[str(ticket_type)] = Route(
                category=str(body.get("category") or ticket_type), subcategory=None,
                department=str(body["department"]), confidence=1.0, matched=())
        missing = [t for t in FIXED_TICKET_TYPES if t not in fixed]
        if missing:
            raise RoutingConfigError(f"{source}: fixed_routes 缺少 {missing}")
        return fixed

    @staticmethod
    def _check_node(body: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(body, Mapping):
            raise RoutingConfigError(f"{where}: 应是一个映射（至少包含 department）")
        unknown = set(body) - _ALLOWED_NODE
        if unknown:
            raise RoutingConfigError(f"{where}: 未知项 {sorted(unknown)}（可用：{sorted(_ALLOWED_NODE)}）")
        return body

    def _add_node(self, cat: str, sub: str | None, body: Mapping[str, Any], ci: int, where: str,
                  default_department: str | None = None) -> int:
        department = body.get("department") or default_department
        if not department:
            raise RoutingConfigError(f"{where}: 缺少 department（承办部门）")
        self._nodes.append(_Node(cat, sub, str(department), ci))
        index = len(self._nodes) - 1
        self._node_key[(cat, sub)] = index
        return index

    def _add_phrases(self, table: dict[str, dict[int, float]], node: int, raw: Any, where: str) -> None:
        for raw_phrase, weight in _weight_groups(raw, where):
            phrase = normalise(raw_phrase, self._char_map)
            if len(phrase) < 2:
                self.warnings.append(f"{where}: “{raw_phrase}”少于两个字，容易误命中，已忽略")
                continue
            effective = weight * (1.0 + self.length_bonus * max(0, len(phrase) - 2))
            slot = table.setdefault(phrase, {})
            if node in slot:
                self.warnings.append(f"{where}: “{raw_phrase}”重复出现，取较高分值")
            slot[node] = max(slot.get(node, 0.0), effective)

    @staticmethod
    def _freeze(table: dict[str, dict[int, float]]) -> dict[str, tuple[tuple[int, float], ...]]:
        return {phrase: tuple(sorted(nodes.items())) for phrase, nodes in table.items()}

    @staticmethod
    def _first_char_index(index: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """first character -> candidate phrase lengths, longest first (so the longest match at a start wins)."""
        lengths: dict[str, set[int]] = {}
        for phrase in index:
            lengths.setdefault(phrase[0], set()).add(len(phrase))
        return {ch: tuple(sorted(ls, reverse=True)) for ch, ls in lengths.items()}

    # ------------------------------------------------------------------ matching
    @staticmethod
    def _scan(text: str, index: Mapping[str, Any], first: Mapping[str, tuple[int, ...]],
              drop_contained: bool) -> list[str]:
        """Phrases found in ``text`` (longest at each start), each once, in text order."""
        n = len(text)
        spans: list[tuple[int, int, str]] = []
        for i, ch in enumerate(text):
            lengths = first.get(ch)
            if lengths is None:
                continue
            for length in lengths:
                if i + length <= n:
                    piece = text[i:i + length]
                    if piece in index:
                        spans.append((i, i + length, piece))
                        break
        out: list[str] = []
        seen: set[str] = set()
        max_end = -1
        for start, end, phrase in spans:   # spans are sorted by start; one span per start
            if drop_contained:
                if end <= max_end:
                    continue               # inside an earlier, longer phrase
                max_end = end
            if phrase not in seen:
                seen.add(phrase)
                out.append(phrase)
        return out

    def _scores(self, text: str) -> tuple[list[float], list[float], list[list[str]]]:
        """Per-category totals, per-node clamped scores, and per-node matched phrases."""
        nn = len(self._nodes)
        pos = [0.0] * nn
        neg = [0.0] * nn
        matched: list[list[str]] = [[] for _ in range(nn)]
        for phrase in self._scan(text, self._pos_index, self._pos_first, True):
            for node, weight in self._pos_index[phrase]:
                pos[node] += weight
                matched[node].append(phrase)
        if self._neg_index:
            for phrase in self._scan(text, self._neg_index, self._neg_first, False):
                for node, weight in self._neg_index[phrase]:
                    neg[node] += weight
        node_score = [0.0] * nn
        cat_raw = [0.0] * len(self.categories)
        for i, node in enumerate(self._nodes):
            if node.sub is None:
                cat_raw[node.cat_index] += pos[i] - neg[i]
            else:
                node_score[i] = max(0.0, pos[i] - neg[i])
                cat_raw[node.cat_index] += node_score[i]
        cat_score = [max(0.0, s) for s in cat_raw]
        for ci, ni in enumerate(self._cat_node):
            node_score[ni] = cat_score[ci]
        return cat_score, node_score, matched

    def _confidence(self, best: float, second: float) -> float:
        if best <= 0:
            return 0.0
        strength = 1.0 - math.exp(-best / self.confidence_scale)
        margin = (best - second) / best
        return round(min(0.99, strength * (0.5 + 0.5 * margin)), 3)

    def _fallback(self, confidence: float) -> Route:
        node = self._nodes[self._fallback_node]
        return Route(FALLBACK_CATEGORY, None, node.department, confidence, ())

    def route(self, text: str) -> Route:
        """Route one complaint text. Never raises on bad input: it goes to 其他 with low confidence."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="ignore")
        if not isinstance(text, str):
            return self._fallback(0.0)
        if len(text) > self.max_chars:
            # A very long paste usually mixes several matters; a person should read and split it.
            return self._fallback(0.1)
        norm = normalise(text, self._char_map)
        if not norm:
            return self._fallback(0.0)
        cat_score, node_score, matched = self._scores(norm)
        order = sorted(range(len(cat_score)), key=lambda i: (-cat_score[i], i))
        best_ci = order[0]
        best = cat_score[best_ci]
        second = cat_score[order[1]] if len(order) > 1 else 0.0
        if best < self.min_score or best <= 0:
            return self._fallback(0.1 if best <= 0 else 0.2)
        category = self.categories[best_ci]
        sub_name: str | None = None
        department = self._nodes[self._cat_node[best_ci]].department
        best_sub = 0.0
        for sub in self.subcategories[category]:
            ni = self._node_key[(category, sub)]
            if node_score[ni] > best_sub:
                best_sub, sub_name, department = node_score[ni], sub, self._nodes[ni].department
        phrases: list[str] = []
        for ni, node in enumerate(self._nodes):
            if node.cat_index == best_ci:
                phrases.extend(matched[ni])
        ordered = tuple(sorted(set(phrases), key=norm.find))
        confidence = self._confidence(best, second)
        if category == FALLBACK_CATEGORY:
            confidence = min(confidence, 0.5)   # "clearly outside our table" is still a manual dispatch
        return Route(category, sub_name, department, confidence, ordered)

    def route_with_model(self, text: str, model: Any, context: str = "") -> Route:
        """Combine the keyword table with the learned classifier (``knowledge.routing_model``).

        The classifier picks the top-level category among the corpus labels; the keyword table picks the
        sub-category (and so the department) inside it, and keeps the categories the corpus has no label for
        (公安政法, 民政 …) and any category whose keywords match strongly and unambiguously
        (``keep_keyword_confidence``). A short text
        (under ``short_text_chars``) with a clear keyword match keeps the table's answer. A text the table cannot read at all (empty,
        too long) keeps the table's fallback.
        """
        return self.route_many_with_model([text], model, [context])[0]

    def route_many_with_model(self, texts: list[str], model: Any,
                              contexts: list[str] | None = None) -> list[Route]:
        """Batch form of :meth:`route_with_model` (one vectorisation for all texts: the fast path).

        ``contexts`` (e.g. the address) are read by the keyword table only: place names are noise to the
        classifier."""
        usable = [i for i, t in enumerate(texts)
                  if isinstance(t, str) and t.strip() and len(t) <= self.max_chars]
        preds = dict(zip(usable, model.predict_many([texts[i] for i in usable])))
        ctx = contexts or [""] * len(texts)
        return [self._combine(t, ctx[i], preds.get(i), model) for i, t in enumerate(texts)]

    def _combine(self, text: str, context: str, pred: Any, model: Any) -> Route:
        keyword = self.route(f"{text} {context}" if context else text)
        if pred is None:
            return keyword
        if pred.label not in self.categories:
            return keyword
        if (len(text) < self.short_text_chars and keyword.category != FALLBACK_CATEGORY
                and keyword.confidence >= 0.5):
            return keyword   # the classifier learnt from 100–300-character posts; a short line is the table's
        if keyword.category == pred.label:
            return Route(keyword.category, keyword.subcategory, keyword.department,
                         round(max(keyword.confidence, pred.confidence), 3), keyword.matched)
        if keyword.category != FALLBACK_CATEGORY and keyword.confidence >= self.keep_keyword_confidence:
            return keyword
        return self._route_in(f"{text} {context}" if context else text, self.categories.index(pred.label),
                              pred.confidence)

    def _route_in(self, text: str, ci: int, confidence: float) -> Route:
        norm = normalise(text, self._char_map)
        _cat_score, node_score, matched = self._scores(norm)
        category = self.categories[ci]
        sub_name: str | None = None
        department = self._nodes[self._cat_node[ci]].department
        best_sub = 0.0
        for sub in self.subcategories[category]:
            ni = self._node_key[(category, sub)]
            if node_score[ni] > best_sub:
                best_sub, sub_name, department = node_score[ni], sub, self._nodes[ni].department
        phrases = [p for ni, node in enumerate(self._nodes) if node.cat_index == ci for p in matched[ni]]
        return Route(category, sub_name, department, round(confidence, 3),
                     tuple(sorted(set(phrases), key=norm.find)))

    def explain(self, text: str) -> dict[str, Any]:
        """Scores per category and the phrases behind them, for admins tuning the lexicon."""
        norm = normalise(text, self._char_map) if isinstance(text, str) else ""
        cat_score, _node_score, matched = self._scores(norm)
        detail: dict[str, Any] = {}
        for ci, cat in enumerate(self.categories):
            if cat_score[ci] <= 0:
                continue
            words = [p for ni, node in enumerate(self._nodes) if node.cat_index == ci for p in matched[ni]]
            detail[cat] = {"score": round(cat_score[ci], 3), "matched": words}
        return {"normalised": norm, "scores": detail, "route": self.route(text).as_dict()}

    # ------------------------------------------------------------------ lookups
    def fixed_route(self, ticket_type: str) -> Route:
        """Route of a ticket type that bypasses keyword matching (petition / legal_aid / service_enquiry)."""
        try:
            return self._fixed[ticket_type]
        except KeyError:
            raise ValueError(f"unknown fixed ticket type {ticket_type!r}; known: {sorted(self._fixed)}") from None

    def department_of(self, category: str, subcategory: str | None = None) -> str:
        """Department for a category (and optional sub-category), e.g. for a staff re-classification."""
        key = (category, subcategory)
        if key not in self._node_key:
            raise KeyError(f"unknown category/subcategory {category}/{subcategory}")
        return self._nodes[self._node_key[key]].department

    def phrases(self) -> Iterable[str]:
        """All scoring phrases (normalised), e.g. to add them to a tokenizer's user dictionary."""
        return [p for p, nodes in self._pos_index.items() if nodes]


_default: RoutingTaxonomy | None = None
_default_lock = threading.Lock()


def default_taxonomy() -> RoutingTaxonomy:
    """The process-wide taxonomy, loaded once (double-checked so concurrent first calls load it once)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = RoutingTaxonomy.load()
    return _default


def reload_default_taxonomy() -> RoutingTaxonomy:
    """Re-read the routing file after an admin edit; callers already holding the old object keep using it."""
    global _default
    fresh = RoutingTaxonomy.load()
    with _default_lock:
        _default = fresh
    return fresh


def route_complaint(text: str, taxonomy: RoutingTaxonomy | None = None, context: str = "") -> Route:
    """Route with ``taxonomy`` (or the cached default one) combined with the learned classifier;
    ``context`` (the address) is read by the keyword table only."""
    from knowledge.routing_model import default_model

    return (taxonomy or default_taxonomy()).route_with_model(text, default_model(), context)
