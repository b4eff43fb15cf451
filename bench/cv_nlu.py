"""`make cv`: k-fold cross-validation of an NLU config on the *training* data (nlu_data/nlu) only.

This is how pipeline choices are made without looking at the held-out set: each candidate config is
trained on k-1 folds and scored on the k-th, with the same seeded, intent-stratified folds for every
candidate. Reported: macro-F1 on the five routing intents from the classifier's top intent and after the
fallback threshold, and all-intent macro-F1. The held-out set (tests/nlu/) is never read here.

    python -m bench.cv_nlu [--config bot/config.yml] [--folds 5] [--seed 7] [--extra data.yml] [--name label]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import REPO, write_report
from bench.eval_nlu import ROUTING_INTENTS, intent_scores, intents_of, macro_f1

TRAINING_DATA = REPO / "nlu_data" / "nlu"


def folds(n: int, seed: int, extra: list[str] | None = None) -> list[tuple[Any, Any]]:
    """Seeded intent-stratified folds (Rasa's own `generate_folds` is unseeded, so runs would not compare)."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import StratifiedKFold

    data = load_data(str(TRAINING_DATA), language="zh")
    for path in extra or []:   # a candidate data file (e.g. lookup tables) tried before it joins nlu_data/
        data = data.merge(load_data(path, language="zh"))
    examples = data.intent_examples
    labels = [ex.get("intent") for ex in examples]
    out = []
    for train_idx, test_idx in StratifiedKFold(n_splits=n, shuffle=True, random_state=seed).split(examples, labels):
        train = TrainingData(training_examples=[examples[i] for i in train_idx],
                             entity_synonyms=data.entity_synonyms, regex_features=data.regex_features,
                             lookup_tables=data.lookup_tables)
        out.append((train, [examples[i] for i in test_idx]))
    return out


async def score_fold(model_path: str, test: list[Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)
    top, after = [], []
    for ex in test:
        best, predicted = intents_of(await agent.parse_message(ex.get("text")))
        top.append((ex.get("intent"), best))
        after.append((ex.get("intent"), predicted))
    return top, after


def summarise(pairs: list[tuple[str, str]]) -> dict[str, float]:
    labels = sorted({g for g, _ in pairs} | {p for _, p in pairs})
    scores = intent_scores(pairs, labels)
    gold = sorted({g for g, _ in pairs})
    return {"routing_macro_f1": macro_f1(scores, ROUTING_INTENTS), "all_macro_f1": macro_f1(scores, gold),
            **{f"f1_{name}": scores[name]["f1"] for name in ROUTING_INTENTS}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "bot" / "config.yml"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--extra", action="append", default=[], help="another NLU data file to include")
    parser.add_argument("--name", default=None, help="label for the report file (default: config file stem)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter

    name = args.name or Path(args.config).stem
    all_top: list[tuple[str, str]] = []
    all_after: list[tuple[str, str]] = []
    per_fold = []
    started = time.perf_counter()
    for i, (train, test) in enumerate(folds(args.folds, args.seed, args.extra), 1):
        with tempfile.TemporaryDirectory(prefix="bianmin-cv-") as tmp:
            data_path = Path(tmp) / "nlu.yml"
            data_path.write_text(RasaYAMLWriter().dumps(train), encoding="utf-8")
            t0 = time.perf_counter()
            model = train_nlu(args.config, str(data_path), str(Path(tmp) / "models"), fixed_model_name="cv")
            trained_s = time.perf_counter() - t0
            if not model:
                raise SystemExit(f"training fold {i} failed")
            top, after = asyncio.run(score_fold(model, test))
        all_top += top
        all_after += after
        fold = {"fold": i, "train_s": round(trained_s, 1), **summarise(top)}
        per_fold.append(fold)
        print(f"  fold {i}/{args.folds}: routing macro-F1 {fold['routing_macro_f1']:.3f} "
              f"(trained in {trained_s:.0f} s)", flush=True)
    confusions = Counter(f"{g} → {p}" for g, p in all_top if g != p and (g in ROUTING_INTENTS or p in ROUTING_INTENTS))
    report = {"config": args.config, "folds": args.folds, "seed": args.seed,
              "top_confusions": dict(confusions.most_common(12)),
              "classifier": summarise(all_top), "after_fallback": summarise(all_after),
              "fallback_rate": round(sum(1 for _, p in all_after if p == "nlu_fallback") / len(all_after), 4),
              "per_fold": per_fold, "seconds": round(time.perf_counter() - started, 1)}
    path = write_report(f"cv_{name}", report)
    c, a = report["classifier"], report["after_fallback"]
    print(f"{name}: routing macro-F1 {c['routing_macro_f1']:.3f} (classifier), {a['routing_macro_f1']:.3f} "
          f"(after fallback, rate {report['fallback_rate']:.3f}); all intents {c['all_macro_f1']:.3f}")
    print("  most confused: " + ", ".join(f"{k} {v}" for k, v in confusions.most_common(6)))
    print("  per intent: " + ", ".join(f"{k[3:]} {v:.3f}" for k, v in c.items() if k.startswith("f1_")))
    print(f"Report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
