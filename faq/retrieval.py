"""FAQ retrieval for Chinese paraphrases: jieba words + character n-grams, synonyms, BM25F, calibrated confidence.

How a text becomes features (the same for residents' questions and FAQ entries):

1. normalise: NFKC (full-width → half-width), traditional → simplified, lower case;
2. segment with a private jieba tokenizer (the NLU user dictionary plus every synonym term, so
   "暂住证" or "扯证" stay one token; the process-wide jieba that Rasa uses is not touched). The HMM
   new-word guesser is off: it glues function characters onto content words ("能领", "查下");
3. map each token that is a synonym variant to its canonical term (``nlu_data/synonyms.yml``);
4. drop stopwords (function words, question particles) and punctuation → word features ``w:``;
5. character bigrams ``b:`` and unigrams ``u:`` of the canonical text inside each run between stopwords
   (robust to segmentation differences, typos such as 居住正, and words the dictionary does not know).

Every FAQ is one BM25F document with three fields: all its questions (standard + similar), its tags and —
lighter — its answer. Besides that, each question is also indexed on its own: the best-matching question
is shown to admins in the preview. The confidence estimates the probability that the best FAQ is the right
one: a logistic function of how much of the query's (known) weight it covers, its margin over the runner-up
and the share of the query the knowledge base has never seen (weather, recipes ...), fitted on held-out
similar questions (leave-one-out) against out-of-scope messages from the NLU data
(``python -m bench.faq_retrieval --calibrate`` prints the coefficients used in :class:`Params`).

Building an index is CPU work (jieba, numpy): call :func:`build_index` in a worker thread
(``asyncio.to_thread``). Analysed texts are cached, so rebuilding after one edit re-segments only the texts
that changed. A :class:`FaqIndex` is immutable once built; searching only reads numpy arrays.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence

import numpy as np
import yaml

from knowledge.routing import T2S

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
THRESHOLD_ENV = "BIANMIN_FAQ_THRESHOLD"
DEFAULT_THRESHOLD = 0.7   # calibrated: answer directly when at least 70% likely right
#: below the answer threshold, candidates at least this confident are offered as "您是不是想问" buttons
CANDIDATE_FLOOR_ENV = "BIANMIN_FAQ_CANDIDATE_FLOOR"
DEFAULT_CANDIDATE_FLOOR = 0.1
MAX_QUERY_CHARS = 300

# Function words and question particles that say nothing about which FAQ is meant. Words that do
# (多久, 多少钱, 哪里, 材料 ...) are kept and canonicalised by the synonyms instead.
STOPWORDS = frozenset("""
的 了 吗 呢 吧 啊 呀 嘛 哦 哈 啦 呗 嘞 么 哇 喔 噢 唉 诶 嗯 哎 哟
是 是不是 是否 在 和 与 及 以及 或 或者 还是 跟 同 并 并且 而 而且 但 但是 就 都 也 还 又 再 才 只
我 我们 咱 咱们 俺 你 你们 您 他 她 它 他们 她们 自己 人家 本人 我家 家里
这 那 这个 那个 这些 那些 这样 那样 这种 那种 这么 那么 此 该 其 之
什么 怎么 怎么样 怎样 如何 怎么办 咋 咋办 咋样 啥 为什么 为啥 干嘛 是什么 有什么 有啥 能否
能 能不能 可以 可不可以 可否 会 会不会 要 要不要 想 想要 应该 应当 得 需不需要 行不行 好不好 对不对
请问 请 问 问问 问下 咨询 一下 下 个 一个 一些 些 点 一点 有点
把 被 给 让 叫 从 到 对 对于 向 往 朝 由 为 为了 因为 所以 如果 要是 的话 比如
上 中 里 里面 内 外 去 来 过 着 地 之后 以后 之前 以前 时候 的时候
好 行 没 没有 不 不能 不会 不是 已经 刚 刚刚 现在 目前 就是 然后 那边 有 有没有 干什么 干啥 咋整 咋弄
怎么弄 怎么整 怎么回事 一直 还没 还能 能够 行吗 可以吗 说 一般 大概 具体 东西 事情 事儿
""".split())
#: multi-character stopwords jieba would otherwise split or glue to a neighbour
_STOP_PHRASES = ("要不要", "会不会", "是不是", "能不能", "可不可以", "有没有", "需不需要", "行不行", "怎么办",
                 "怎么样", "怎么弄", "怎么整", "咋整", "咋弄", "干什么", "干啥")

_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")


def normalise(text: str) -> str:
    """NFKC, traditional → simplified, lower case (whitespace kept: it separates words)."""
    return unicodedata.normalize("NFKC", text or "").translate(T2S).lower()


def question_key(text: str) -> str:
    """A question reduced for "identical question" checks: normalised, without punctuation or spaces."""
    return re.sub(r"[\W_]+", "", normalise(text))[:255]


def load_synonyms(path: str | Path | None = None) -> dict[str, str]:
    """``nlu_data/synonyms.yml`` as variant → canonical term (normalised; a canonical maps to itself)."""
    path = Path(path) if path else REPO / "nlu_data" / "synonyms.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    mapping: dict[str, str] = {}
    for canonical, variants in (data.get("synonyms") or {}).items():
        canon = normalise(str(canonical)).strip()
        if not canon:
            continue
        mapping.setdefault(canon, canon)
        for variant in variants or []:
            v = normalise(str(variant)).strip()
            if v and v not in mapping:          # the first definition wins: a variant has one meaning
                mapping[v] = canon
    return mapping


class Analyzer:
    """Text → weighted features (``w:词``, ``b:字字``, ``u:字``).

    :meth:`vector` returns a text's features as arrays of term ids (a vocabulary that only grows) and
    weights, cached per text: rebuilding an index after one edit re-segments only the changed texts.
    Thread-safe.
    """

    CACHE_LIMIT = 400_000

    def __init__(self, synonyms: Mapping[str, str] | None = None, userdict: str | Path | None = None,
                 bigram_weight: float = 0.5, unigram_weight: float = 0.9) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.synonyms = dict(load_synonyms() if synonyms is None else synonyms)
        self.bigram_weight = bigram_weight
        self.unigram_weight = unigram_weight
        self._tokenizer = jieba.Tokenizer()
        userdict = Path(userdict) if userdict else REPO / "nlu_data" / "jieba" / "userdict.txt"
        if userdict.exists():
            self._tokenizer.load_userdict(str(userdict))
        for term in (*self.synonyms, *_STOP_PHRASES):
            if _CJK.search(term) and len(term) > 1:
                self._tokenizer.add_word(term, freq=3000)
        self._tokenizer.initialize()
        self.vocab: dict[str, int] = {}
        self._vectors: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        self._lock = threading.Lock()

    def tokens(self, text: str) -> list[str]:
        """Canonical tokens in order; stopwords and punctuation become ``""`` (run separators)."""
        out: list[str] = []
        synonyms = self.synonyms
        for raw in self._tokenizer.cut(normalise(text), HMM=False):
            tok = raw.strip()
            if not tok or _PUNCT.match(tok):
                out.append("")
                continue
            tok = synonyms.get(tok, tok)
            out.append("" if tok in STOPWORDS else tok)
        return out

    def features(self, text: str) -> dict[str, float]:
        feats: dict[str, float] = {}
        bw, uw = self.bigram_weight, self.unigram_weight
        run: list[str] = []
        for tok in self.tokens(text) + [""]:
            if tok:
                key = "w:" + tok
                feats[key] = feats.get(key, 0.0) + 1.0
                run.append(tok)
                continue
            if not run:
                continue
            joined = "".join(run)
            prev_cjk = False
            for i, ch in enumerate(joined):
                cjk = "\u3400" <= ch <= "\u9fff"
                if cjk and uw:
                    key = "u:" + ch
                    feats[key] = feats.get(key, 0.0) + uw
                if i and (cjk or prev_cjk):
                    key = "b:" + joined[i - 1:i + 1]
                    feats[key] = feats.get(key, 0.0) + bw
                prev_cjk = cjk
            run = []
        return feats

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(term ids, weights, total weight) of an indexed text; new terms join the vocabulary."""
        cached = self._vectors.get(text)
        if cached is not None:
            return cached
        feats = self.features(text)
        with self._lock:
            vocab = self.vocab
            ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in feats), dtype=np.int64, count=len(feats))
            if len(self._vectors) >= self.CACHE_LIMIT:
                self._vectors.clear()
            vals = np.fromiter(feats.values(), dtype=np.float64, count=len(feats))
            result = (ids, vals, float(vals.sum()))
            self._vectors[text] = result
        return result


_default_analyzer: Analyzer | None = None
_default_lock = threading.Lock()


def default_analyzer() -> Analyzer:
    """One analyzer per process (jieba's dictionary takes about a second to load: do it off the event loop)."""
    global _default_analyzer
    with _default_lock:
        if _default_analyzer is None:
            _default_analyzer = Analyzer()
        return _default_analyzer


@dataclass(frozen=True)
class FaqDoc:
    """What the index needs of one FAQ entry."""
    id: str
    question: str
    similar: tuple[str, ...] = ()
    answer: str = ""
    tags: tuple[str, ...] = ()
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    @property
    def questions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(q for q in (self.question, *self.similar) if q and q.strip()))


@dataclass(frozen=True)
class Hit:
    faq_id: str
    question: str           # the FAQ's standard question
    matched: str            # the standard or similar question closest to the query
    score: float            # raw BM25F score
    confidence: float       # 0..1: estimated probability that this FAQ answers the query

    def as_dict(self) -> dict:
        return {"faq_id": self.faq_id, "question": self.question, "matched": self.matched,
                "score": round(self.score, 4), "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class Params:
    k1: float = 1.2
    b: float = 0.9
    w_questions: float = 1.0
    w_answer: float = 0.5
    w_tags: float = 1.0
    w_single: float = 0.2        # the best single question's plain BM25 score
    # confidence = sigmoid(a·coverage + m·margin + u·unseen + i·info + c), fitted by
    # ``python -m bench.faq_retrieval --calibrate``
    conf_a: float = 2.052
    conf_m: float = 2.041
    conf_u: float = -1.96
    conf_i: float = 2.624
    conf_c: float = -10.829


_EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), 0.0)


def _by_term(term: np.ndarray, n_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order grouping entries by term, and the offsets of each term's run (CSR by term)."""
    order = np.argsort(term, kind="stable")
    offsets = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(term, minlength=n_terms), out=offsets[1:])
    return order, offsets


class FaqIndex:
    """An immutable search index over FAQ entries (build with :func:`build_index`)."""

    def __init__(self, docs: Sequence[FaqDoc], analyzer: Analyzer, params: Params | None = None,
                 revision: int = 0) -> None:
        self.params = p = params or Params()
        self.analyzer = analyzer
        self.revision = revision
        self.docs = list(docs)
        n = len(self.docs)
        vec = analyzer.vector
        questions = [d.questions for d in self.docs]
        q_vecs = [[vec(q) for q in qs] for qs in questions]
        a_vecs = [vec(d.answer) if d.answer and p.w_answer else _EMPTY for d in self.docs]
        t_vecs = [[vec(str(t)) for t in d.tags] if p.w_tags else [] for d in self.docs]
        self.n_terms = n_terms = len(analyzer.vocab)

        # ---- BM25F over (questions, answer, tags): length-normalised weighted tf, summed over the fields
        arrays: list[tuple[np.ndarray, np.ndarray, float]] = []
        owners: list[int] = []
        scales: list[float] = []
        for weight, per_doc in ((p.w_questions, q_vecs), (p.w_answer, [[a] for a in a_vecs]), (p.w_tags, t_vecs)):
            if not weight:
                continue
            lengths = np.array([sum(v[2] for v in vs) for vs in per_doc], dtype=np.float64)
            avg = float(lengths.mean()) if n and lengths.sum() else 1.0
            scale = weight / (1 - p.b + p.b * lengths / avg)
            for i, vs in enumerate(per_doc):
                for v in vs:
                    if len(v[0]):
                        arrays.append(v)
                        owners.append(i)
                        scales.append(scale[i])
        if arrays:
            counts = np.fromiter((len(a[0]) for a in arrays), dtype=np.int64, count=len(arrays))
            term = np.concatenate([a[0] for a in arrays])
            doc = np.repeat(np.asarray(owners, dtype=np.int64), counts)
            tf = np.concatenate([a[1] for a in arrays]) * np.repeat(np.asarray(scales), counts)
            key, inverse = np.unique(term * max(n, 1) + doc, return_inverse=True)   # sum a term's tf over fields
            tf = np.bincount(inverse, weights=tf, minlength=len(key))
            term, doc = key // max(n, 1), key % max(n, 1)
        else:
            term = doc = np.zeros(0, dtype=np.int64)
            tf = np.zeros(0, dtype=np.float64)
        self._off = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=n_terms), out=self._off[1:])   # key is sorted by term already
        self._doc = doc.astype(np.int32)
        self._w = (tf * (p.k1 + 1) / (tf + p.k1)).astype(np.float32)
        df = np.diff(self._off).astype(np.float64)
        self._idf = np.log(1 + (n - df + 0.5) / (df + 0.5))

        # ---- every question on its own (plain BM25): the closest question and the exact-match shortcut
        flat = [v for vs in q_vecs for v in vs]
        self._q_text = [q for qs in questions for q in qs]
        q_counts = np.fromiter((len(qs) for qs in questions), dtype=np.int64, count=n)
        self._q_owner = np.repeat(np.arange(n, dtype=np.int64), q_counts)
        self._q_start = np.concatenate([[0], np.cumsum(q_counts)]).astype(np.int64)
        self._nq = nq = len(flat)
        if flat:
            sizes = np.fromiter((len(v[0]) for v in flat), dtype=np.int64, count=nq)
            q_len = np.fromiter((v[2] for v in flat), dtype=np.float64, count=nq)
            q_avg = float(q_len.mean()) if q_len.sum() else 1.0
            qterm = np.concatenate([v[0] for v in flat])
            qdoc = np.repeat(np.arange(nq, dtype=np.int64), sizes)
            qtf = np.concatenate([v[1] for v in flat])
            norm = np.repeat(p.k1 * (1 - p.b + p.b * q_len / q_avg), sizes)
            order, self._qoff = _by_term(qterm, n_terms)
            self._qdoc = qdoc[order].astype(np.int32)
            self._qw = (qtf * (p.k1 + 1) / (qtf + norm))[order].astype(np.float32)
        else:
            self._qoff = np.zeros(n_terms + 1, dtype=np.int64)
            self._qdoc = np.zeros(0, dtype=np.int32)
            self._qw = np.zeros(0, dtype=np.float32)
        qdf = np.diff(self._qoff).astype(np.float64)
        self._qidf = np.log(1 + (nq - qdf + 0.5) / (qdf + 0.5))
        self._has_q = q_counts > 0
        self._exact: dict[str, int] = {}
        for owner, text in zip(self._q_owner.tolist(), self._q_text):
            self._exact.setdefault(question_key(text), owner)

        far_past, far_future = dt.date.min.toordinal(), dt.date.max.toordinal()
        self._from = np.array([d.valid_from.toordinal() if d.valid_from else far_past for d in self.docs],
                              dtype=np.int64)
        self._until = np.array([d.valid_until.toordinal() if d.valid_until else far_future for d in self.docs],
                               dtype=np.int64)

    def __len__(self) -> int:
        return len(self.docs)

    # ------------------------------------------------------------------ scoring
    def _scores(self, feats: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        total = np.zeros(len(self.docs), dtype=np.float32)
        q_scores = np.zeros(self._nq, dtype=np.float32)
        ideal = q_ideal = unseen = weight = 0.0
        vocab, n_terms = self.analyzer.vocab, self.n_terms
        for term, qw in feats.items():
            weight += qw
            t = vocab.get(term)
            if t is None or t >= n_terms or self._off[t] == self._off[t + 1]:
                unseen += qw
                continue
            lo, hi = self._off[t], self._off[t + 1]
            total[self._doc[lo:hi]] += np.float32(qw * self._idf[t]) * self._w[lo:hi]
            ideal += qw * self._idf[t]
            lo, hi = self._qoff[t], self._qoff[t + 1]
            if hi > lo:
                q_scores[self._qdoc[lo:hi]] += np.float32(qw * self._qidf[t]) * self._qw[lo:hi]
            q_ideal += qw * self._qidf[t]
        return total, q_scores, {"ideal": ideal, "q_ideal": q_ideal,
                                 "unseen": unseen / weight if weight else 1.0}

    def _confidence(self, coverage: float, margin: float, unseen: float, info: float) -> float:
        p = self.params
        z = p.conf_a * coverage + p.conf_m * margin + p.conf_u * unseen + p.conf_i * info + p.conf_c
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def _rank(self, query: str, k: int, today: dt.date | None) -> tuple[list[dict], np.ndarray | None]:
        if not self.docs or not query or not query.strip():
            return [], None
        feats = self.analyzer.features(query[:MAX_QUERY_CHARS])
        if not feats:
            return [], None
        total, q_scores, stats = self._scores(feats)
        ideal, q_ideal = stats["ideal"], stats["q_ideal"]
        best_q = np.zeros(len(self.docs), dtype=np.float32)
        if self._nq:
            best_q = np.maximum.reduceat(q_scores, np.minimum(self._q_start[:-1], self._nq - 1))
            best_q[~self._has_q] = 0
        if self.params.w_single:
            total += np.float32(self.params.w_single) * best_q
        day = (today or dt.date.today()).toordinal()
        total[(self._from > day) | (day > self._until)] = -1.0
        exact = self._exact.get(question_key(query))
        if exact is not None and total[exact] >= 0:
            total[exact] = float(total.max()) + 1.0
        kk = min(k + 1, len(total))
        top = np.argpartition(-total, kk - 1)[:kk]
        top = [int(i) for i in top[np.argsort(-total[top], kind="stable")] if total[i] > 0]
        out = []
        for rank, i in enumerate(top[:k]):
            score = float(total[i])
            # the best is compared with the runner-up; a runner-up with the best (a negative margin)
            other = float(total[top[0]]) if rank else (float(total[top[1]]) if len(top) > 1 else 0.0)
            out.append({"index": i, "score": score,
                        "coverage": score / ideal if ideal > 0 else 0.0,
                        "margin": (score - other) / ideal if ideal > 0 else 0.0,
                        "single": float(best_q[i]) / q_ideal if q_ideal > 0 else 0.0,
                        "unseen": stats["unseen"], "info": math.log1p(ideal), "exact": i == exact})
        return out, q_scores

    def signals(self, query: str, k: int = 3, today: dt.date | None = None) -> list[dict]:
        """Top ``k`` FAQs valid on ``today`` with the raw signals behind the confidence (for calibration)."""
        return self._rank(query, k, today)[0]

    def search(self, query: str, k: int = 3, today: dt.date | None = None) -> list[Hit]:
        """Top ``k`` FAQs currently valid on ``today`` (local date), best first."""
        ranked, q_scores = self._rank(query, k, today)
        hits = []
        for s in ranked:
            d = self.docs[s["index"]]
            confidence = 1.0 if s["exact"] else self._confidence(s["coverage"], s["margin"], s["unseen"], s["info"])
            hits.append(Hit(d.id, d.question, self._closest_question(s["index"], q_scores), s["score"], confidence))
        return hits

    def _closest_question(self, faq: int, q_scores: np.ndarray | None) -> str:
        lo, hi = int(self._q_start[faq]), int(self._q_start[faq + 1])
        if q_scores is None or hi <= lo:
            return self.docs[faq].question
        return self._q_text[lo + int(np.argmax(q_scores[lo:hi]))]

    def explain(self, query: str) -> dict:
        """How the query was analysed (for the admin preview)."""
        feats = self.analyzer.features(query[:MAX_QUERY_CHARS])
        vocab = self.analyzer.vocab
        words = [t[2:] for t in feats if t.startswith("w:")]
        return {"words": words,
                "unknown_words": [w for w in words if vocab.get("w:" + w, self.n_terms) >= self.n_terms]}


def build_index(docs: Iterable[FaqDoc], revision: int = 0, analyzer: Analyzer | None = None,
                params: Params | None = None) -> FaqIndex:
    """CPU-bound: run it in a thread from async code."""
    return FaqIndex(list(docs), analyzer or default_analyzer(), params, revision)


def _env_fraction(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return min(max(float(raw), 0.0), 1.0)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, raw, default)
        return default


def threshold_from_env() -> float:
    """Confidence at or above which the assistant answers directly (env ``BIANMIN_FAQ_THRESHOLD``)."""
    return _env_fraction(THRESHOLD_ENV, DEFAULT_THRESHOLD)


def candidate_floor_from_env() -> float:
    return _env_fraction(CANDIDATE_FLOOR_ENV, DEFAULT_CANDIDATE_FLOOR)


class IndexSource(Protocol):
    """Where a :class:`LiveIndex` reads the knowledge from (``faq.store.FaqStore``)."""

    async def revision(self) -> int: ...

    async def published_docs(self) -> tuple[int, list[FaqDoc]]: ...


class LiveIndex:
    """The in-memory index of one process, kept in step with the database without restarts.

    Every query first reads the global FAQ revision (one cheap SELECT); when it moved, the published
    entries are loaded and the index is rebuilt in a worker thread (``asyncio.to_thread``), so the event
    loop keeps serving other conversations. Concurrent queries during a rebuild wait for that one rebuild.
    """

    def __init__(self, source: IndexSource, analyzer: Analyzer | None = None, params: Params | None = None) -> None:
        self.source = source
        self.params = params
        self._analyzer = analyzer
        self._index: FaqIndex | None = None
        self._lock = asyncio.Lock()
        self.rebuilds = 0
        self.last_build_seconds = 0.0

    @property
    def index(self) -> FaqIndex | None:
        return self._index

    async def current(self) -> FaqIndex:
        revision = await self.source.revision()
        index = self._index
        if index is not None and index.revision == revision:
            return index
        async with self._lock:
            index = self._index
            if index is not None and index.revision == revision:   # rebuilt while we waited
                return index
            revision, docs = await self.source.published_docs()
            started = time.perf_counter()
            self._index = await asyncio.to_thread(build_index, docs, revision, self._analyzer, self.params)
            self.last_build_seconds = time.perf_counter() - started
            self.rebuilds += 1
            log.info("FAQ index rebuilt: revision %d, %d entries, %.0f ms", revision, len(docs),
                     self.last_build_seconds * 1000)
            return self._index

    async def search(self, query: str, k: int = 3, today: dt.date | None = None) -> list[Hit]:
        return (await self.current()).search(query, k, today)


@dataclass(frozen=True)
class Decision:
    """What the assistant does with a query's hits (shared by the action and the admin preview)."""
    kind: str                     # "answer" | "candidates" | "none"
    best: Hit | None
    candidates: tuple[Hit, ...]   # offered as "您是不是想问" buttons when kind == "candidates"


def decide(hits: Sequence[Hit], threshold: float | None = None, floor: float | None = None,
           max_candidates: int = 3) -> Decision:
    threshold = threshold_from_env() if threshold is None else threshold
    floor = candidate_floor_from_env() if floor is None else floor
    best = hits[0] if hits else None
    if best is not None and best.confidence >= threshold:
        return Decision("answer", best, ())
    candidates = tuple(h for h in hits if h.confidence >= floor)[:max_candidates]
    return Decision("candidates" if candidates else "none", best, candidates)
