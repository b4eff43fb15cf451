"""FAQ retrieval at scale: query latency (p50/p95/p99) and index (re)build time with 5,000 FAQs.

The 5,000 entries are synthesised in memory from the starter set — never stored: each starter entry whose
question names a service (居住证, 社保卡, 低保 ...) becomes a template, filled with other services and with
district names from the gazetteer ("雁塔区社保卡丢了或者坏了怎么补办？"), answers and similar questions
alike. Targets: p95 ≤ 10 ms per query; a rebuild after an edit well under a second or two.
Writes var/reports/faq_retrieval.json.

``python -m bench.faq_retrieval --calibrate`` instead refits the confidence (a logistic regression on
leave-one-out similar questions of the starter set against the out-of-scope and courtesy messages of the
NLU data — never on the held-out paraphrases) and prints the coefficients for ``faq.retrieval.Params``.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from typing import Any

import numpy as np
import yaml

from bench.common import REPO, summary_ms, write_report
from faq.retrieval import Analyzer, FaqDoc, FaqIndex, Params, build_index

N_FAQS = 5000
N_QUERIES = 3000
TARGET_P95_MS = 10.0


def starter() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for path in sorted((REPO / "knowledge" / "faq").glob("*.yml")):
        entries.extend(yaml.safe_load(path.read_text(encoding="utf-8")))
    return entries


def docs_of(entries: list[dict[str, Any]]) -> list[FaqDoc]:
    return [FaqDoc(e["id"], e["question"], tuple(e["similar"]), e["answer"], tuple(str(t) for t in e["tags"]))
            for e in entries]


def districts() -> list[str]:
    data = yaml.safe_load((REPO / "knowledge" / "gazetteer.yml").read_text(encoding="utf-8"))
    names = [d["name"] for city in (data.get("cities") or {}).values() for d in (city or {}).get("districts") or []]
    return names or ["本区"]


def synthesise(entries: list[dict[str, Any]], n: int, seed: int = 20261123) -> list[FaqDoc]:
    """``n`` plausible entries: the starter set, then its templates refilled with other services and districts."""
    topics = sorted({str(t) for e in entries for t in e["tags"] if len(str(t)) >= 2 and not str(t).isdigit()},
                    key=lambda t: (-len(t), t))
    templates = []
    for e in entries:
        topic = next((t for t in topics if t in e["question"]), None)
        if topic:
            templates.append((topic, e))
    rng = random.Random(seed)
    places = districts()
    out = docs_of(entries)
    seen = {d.question for d in out}
    combos = [(tpl, topic, place) for tpl in templates for topic in topics for place in places]
    rng.shuffle(combos)
    for (old, e), topic, place in combos:
        if len(out) >= n:
            break
        if topic == old:
            continue
        fill = lambda s: place + s.replace(old, topic) if s is e["question"] else s.replace(old, topic)  # noqa: E731
        question = fill(e["question"])
        if question in seen:
            continue
        seen.add(question)
        out.append(FaqDoc(f"syn-{len(out):05d}", question, tuple(s.replace(old, topic) for s in e["similar"]),
                          e["answer"].replace(old, topic), (topic, place)))
    return out


def paraphrases() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO / "tests" / "faq" / "paraphrases.yml").read_text(encoding="utf-8"))


def accuracy(index: FaqIndex, items: list[dict[str, Any]]) -> float:
    labelled = [p for p in items if p["faq_id"]]
    good = sum(1 for p in labelled if (h := index.search(p["text"], k=1)) and h[0].faq_id == p["faq_id"])
    return round(good / len(labelled), 4)


def benchmark() -> dict[str, Any]:
    entries = starter()
    started = time.perf_counter()
    analyzer = Analyzer()
    analyzer_s = time.perf_counter() - started
    docs = synthesise(entries, N_FAQS)
    questions = sum(len(d.questions) for d in docs)
    print(f"{len(docs)} FAQs ({questions} questions) synthesised from {len(entries)} starter entries", flush=True)

    started = time.perf_counter()
    index = build_index(docs, revision=1, analyzer=analyzer)
    cold_s = time.perf_counter() - started
    edited = list(docs)
    edited[7] = dataclasses.replace(edited[7], answer=edited[7].answer + "（已更新）", similar=(*edited[7].similar, "新增的问法"))
    rebuilds = []
    for _ in range(3):
        started = time.perf_counter()
        build_index(edited, revision=2, analyzer=analyzer)
        rebuilds.append(time.perf_counter() - started)

    rng = random.Random(7)
    pool = [p["text"] for p in paraphrases()] + [q for d in rng.sample(docs, 800) for q in d.similar[:2]]
    queries = [rng.choice(pool) for _ in range(N_QUERIES)]
    for q in queries[:50]:                     # warm-up
        index.search(q)
    samples = []
    for q in queries:                          # queries are analysed afresh every time, as in real use
        t0 = time.perf_counter()
        index.search(q, k=3)
        samples.append(time.perf_counter() - t0)
    latency = summary_ms(samples)
    result = {
        "faqs": len(docs), "questions": questions, "queries": len(samples),
        "query_latency": latency, "target_p95_ms": TARGET_P95_MS, "p95_ok": latency["p95_ms"] <= TARGET_P95_MS,
        "analyzer_load_s": round(analyzer_s, 3),
        "index_build_cold_s": round(cold_s, 3),
        "index_rebuild_after_edit_s": round(min(rebuilds), 3),
        "paraphrase_top1_starter_136": accuracy(build_index(docs_of(entries), analyzer=analyzer), paraphrases()),
        "paraphrase_top1_among_5000": accuracy(index, paraphrases()),
    }
    return result


# ------------------------------------------------------------------------------------------- calibration
def _negatives() -> list[str]:
    out = []
    for name in ("out_of_scope", "courtesy"):
        data = yaml.safe_load((REPO / "nlu_data" / "nlu" / f"{name}.yml").read_text(encoding="utf-8"))
        for block in data["nlu"]:
            out += [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
    return out


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.01) -> np.ndarray:
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    reg = l2 * np.eye(a.shape[1])
    reg[-1, -1] = 0
    for _ in range(50):                        # Newton-Raphson
        p = 1 / (1 + np.exp(-a @ w))
        w -= np.linalg.solve(a.T @ (a * (p * (1 - p))[:, None]) + reg, a.T @ (p - y) + reg @ w)
    return w


def calibrate(params: Params) -> dict[str, float]:
    entries = starter()
    analyzer = Analyzer()
    features, labels = [], []
    keys = ("coverage", "margin", "unseen", "info")
    missing = [0.0, 0.0, 1.0, 0.0]            # no hit at all: nothing covered, everything unseen
    for fold in range(4):                      # leave one similar question out of every entry, four times
        held, kept = [], []
        for e in entries:
            similar = list(e["similar"])
            if len(similar) > fold:
                held.append((similar.pop(fold), e["id"]))
            kept.append({**e, "similar": similar})
        index = FaqIndex(docs_of(kept), analyzer, params)
        for text, want in held:
            s = index.signals(text, 3)
            features.append([s[0][k] for k in keys] if s else missing)
            labels.append(float(bool(s) and index.docs[s[0]["index"]].id == want))
    index = FaqIndex(docs_of(entries), analyzer, params)
    for text in _negatives():
        s = index.signals(text, 3)
        features.append([s[0][k] for k in keys] if s else missing)
        labels.append(0.0)
    w = _fit_logistic(np.array(features), np.array(labels))
    return {"conf_a": round(float(w[0]), 3), "conf_m": round(float(w[1]), 3), "conf_u": round(float(w[2]), 3),
            "conf_i": round(float(w[3]), 3), "conf_c": round(float(w[4]), 3), "positives": int(sum(labels)),
            "samples": len(labels)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true", help="refit the confidence coefficients")
    args = parser.parse_args()
    if args.calibrate:
        print(calibrate(Params()))
        return 0
    result = benchmark()
    path = write_report("faq_retrieval", result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"Report: {path}")
    return 0 if result["p95_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
