"""Department routing on the real held-out split (nlu_data/corpora/routing_heldout.csv, never trained on).

    python -m bench.eval_routing          # held-out report: headline on R1 rows, also all rows
    python -m bench.eval_routing --cv     # 5-fold CV on the training part only (model selection)

Reports per-class precision/recall/F1 and the confusion matrix for: the combined router that `bianmin route`
uses, the classifier alone and the keyword table alone. Report also written to var/reports/routing.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from knowledge.routing import RoutingTaxonomy
from knowledge.routing_model import CONFIG, CORPUS, build_pipeline, load_shipped, read_corpus

HELDOUT = CORPUS.with_name("routing_heldout.csv")
REPORTS = Path(__file__).resolve().parent.parent / "var" / "reports"


def report(gold: list[str], pred: list[str], title: str) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    labels = sorted(set(gold))
    p, r, f, n = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    macro = f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
    print(f"\n== {title}: n={len(gold)}  macro-F1 {macro:.3f}  accuracy "
          f"{sum(a == b for a, b in zip(gold, pred)) / len(gold):.3f}")
    print(f"{'label':<10}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}")
    for i, lab in enumerate(labels):
        print(f"{lab:<10}{p[i]:7.3f}{r[i]:7.3f}{f[i]:7.3f}{n[i]:6d}")
    cols = labels + sorted(set(pred) - set(labels))
    matrix = confusion_matrix(gold, pred, labels=cols)
    print("confusion (rows gold, columns predicted): " + " ".join(c[:2] for c in cols))
    for lab, row in zip(labels, matrix):
        print(f"{lab:<10}" + "".join(f"{v:5d}" for v in row))
    return {"title": title, "n": len(gold), "macro_f1": round(float(macro), 4),
            "per_class": {lab: {"p": round(float(p[i]), 4), "r": round(float(r[i]), 4),
                                "f1": round(float(f[i]), 4), "n": int(n[i])} for i, lab in enumerate(labels)},
            "labels": cols, "confusion": matrix[: len(labels)].tolist()}


def heldout() -> dict:
    with open(HELDOUT, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    taxonomy = RoutingTaxonomy.load()
    model = load_shipped()   # the shipped model, even where `route learn` saved a city one
    texts = [r["text"] for r in rows]
    gold = [r["label"] for r in rows]
    r1 = [r["source"].endswith("#rule=R1") for r in rows]
    start = time.perf_counter()
    combined = [taxonomy.route_with_model(t, model).category for t in texts]
    per_s = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    batch = taxonomy.route_many_with_model(texts * 4, model)
    batch_per_s = len(batch) / (time.perf_counter() - start)
    assert [r.category for r in batch[: len(texts)]] == combined
    alone = [p.label for p in model.predict_many(texts)]
    keyword = [taxonomy.route(t).category for t in texts]
    out = {"config": CONFIG, "messages_per_s_one_by_one": round(per_s), "messages_per_s_batch": round(batch_per_s)}
    for name, pred in (("combined (bianmin route)", combined), ("classifier alone", alone),
                       ("keyword table alone", keyword)):
        out[f"{name} R1"] = report([g for g, k in zip(gold, r1) if k], [x for x, k in zip(pred, r1) if k],
                                   f"{name}, held-out R1 rows (headline)")
        out[f"{name} all"] = report(gold, pred, f"{name}, held-out all rows (R1 + R2-kw)")
    print(f"\ncombined router, one message at a time: {per_s:.0f} messages/s; "
          f"batch (bianmin route on stdin): {batch_per_s:.0f} messages/s")
    return out


def cv() -> dict:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts, labels = read_corpus(CORPUS, CONFIG["rules"])
    texts = [t[: CONFIG["max_chars"]] for t in texts]
    pred = cross_val_predict(build_pipeline(), texts, labels, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    return {"cv": report(labels, list(pred), "5-fold CV, training part, classifier alone")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true")
    args = parser.parse_args()
    out = cv() if args.cv else heldout()
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / ("routing_cv.json" if args.cv else "routing.json")).write_text(
        json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
