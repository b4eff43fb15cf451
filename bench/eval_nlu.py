"""`make eval`: intent and entity scores of the trained model on the held-out sets (tests/nlu/).

Set A (heldout.yml) has intents and gold entities; set B (heldout_b.yml, intents only) was written later by
someone who never saw the training data or set A, as a check that set A's scores are not flattered by
choices made while looking at it. Intent macro-F1 is reported for the five routing intents (the target)
and for all intents; entities are scored by (entity, normalised value) per message, so 昨天晚上 must
resolve to the right day, a phone to its canonical digits. Writes var/reports/nlu_eval.json and nlu_eval.md.
"""
from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter, defaultdict
from typing import Any

import yaml

from bench.common import REPO, REPORTS, load_agent, write_report

HELDOUT = REPO / "tests" / "nlu" / "heldout.yml"
HELDOUT_B = REPO / "tests" / "nlu" / "heldout_b.yml"
ROUTING_INTENTS = ("complaint", "petition", "legal_aid", "service_enquiry", "out_of_scope")
IGNORED_ENTITIES = {"input_issue", "id_number_invalid"}


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn}


def intent_scores(pairs: list[tuple[str, str]], labels: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        out[label] = prf(tp, fp, fn)
    return out


def macro_f1(scores: dict[str, dict[str, float]], labels: tuple[str, ...] | list[str]) -> float:
    return round(sum(scores[label]["f1"] for label in labels) / len(labels), 4)


def intents_of(parsed: dict[str, Any]) -> tuple[str, str]:
    """(the classifier's best intent, the intent after the fallback threshold) of one parse result."""
    predicted = (parsed.get("intent") or {}).get("name") or "None"
    ranking = [r["name"] for r in parsed.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    return (ranking[0] if ranking else predicted), predicted


async def evaluate(agent: Any, examples: list[dict[str, Any]], entities: bool = True) -> dict[str, Any]:
    pairs: list[tuple[str, str]] = []
    top_pairs: list[tuple[str, str]] = []   # the classifier's best intent, before the fallback threshold
    ent_counts: dict[str, Counter] = defaultdict(Counter)
    errors: list[dict[str, Any]] = []
    for i, ex in enumerate(examples, 1):
        parsed = await agent.parse_message(ex["text"])
        top, predicted = intents_of(parsed)
        pairs.append((ex["intent"], predicted))
        top_pairs.append((ex["intent"], top))
        gold = Counter((e["entity"], str(e["value"])) for e in ex.get("entities") or [])
        got = Counter((e["entity"], str(e["value"])) for e in parsed.get("entities", [])
                      if e["entity"] not in IGNORED_ENTITIES) if entities else Counter()
        for key in gold | got:
            tp = min(gold[key], got[key])
            ent_counts[key[0]]["tp"] += tp
            ent_counts[key[0]]["fn"] += gold[key] - tp
            ent_counts[key[0]]["fp"] += got[key] - tp
        if predicted != ex["intent"] or gold != got:
            errors.append({"text": ex["text"], "intent": ex["intent"], "predicted": predicted,
                           "missing": sorted(map(list, (gold - got).elements())),
                           "extra": sorted(map(list, (got - gold).elements()))})
        if i % 50 == 0 or i == len(examples):
            correct = sum(1 for g, p in pairs if g == p)
            print(f"  {i:>4}/{len(examples)} parsed — intent accuracy so far {correct / i:.3f}", flush=True)
    labels = sorted({g for g, _ in pairs} | {p for _, p in pairs})
    scores = intent_scores(pairs, labels)
    confusion: dict[str, dict[str, int]] = {g: dict(Counter(p for gg, p in pairs if gg == g)) for g in labels}
    entity_scores = {name: prf(c["tp"], c["fp"], c["fn"]) for name, c in sorted(ent_counts.items())}
    all_tp = sum(c["tp"] for c in ent_counts.values())
    all_fp = sum(c["fp"] for c in ent_counts.values())
    all_fn = sum(c["fn"] for c in ent_counts.values())
    gold_labels = sorted({g for g, _ in pairs})
    top_scores = intent_scores(top_pairs, sorted({g for g, _ in top_pairs} | {p for _, p in top_pairs}))
    fallback_rate = sum(1 for _, p in pairs if p == "nlu_fallback") / len(pairs)
    return {
        "classifier_routing_intent_macro_f1": macro_f1(top_scores, ROUTING_INTENTS),
        "classifier_all_intent_macro_f1": macro_f1(top_scores, gold_labels),
        "classifier_intent_accuracy": round(sum(1 for g, p in top_pairs if g == p) / len(top_pairs), 4),
        "fallback_rate": round(fallback_rate, 4),
        "examples": len(examples),
        "intent_accuracy": round(sum(1 for g, p in pairs if g == p) / len(pairs), 4),
        "routing_intent_macro_f1": macro_f1(scores, ROUTING_INTENTS),
        "all_intent_macro_f1": macro_f1(scores, gold_labels),
        "intents": scores,
        "classifier_intents": top_scores,
        "confusion": confusion,
        "entity_micro": prf(all_tp, all_fp, all_fn),
        "entities": entity_scores,
        "errors": errors,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# NLU evaluation on the held-out set ({report['examples']} messages)", "",
             "Intent (classifier's top intent): macro-F1 five routing intents "
             f"**{report['classifier_routing_intent_macro_f1']:.3f}**, all intents "
             f"{report['classifier_all_intent_macro_f1']:.3f}, accuracy {report['classifier_intent_accuracy']:.3f}", "",
             "Intent after the fallback threshold (what the dialogue sees; nlu_fallback counts as wrong, though the "
             f"resident then gets the likeliest readings as buttons; fallback rate {report['fallback_rate']:.3f}):", "",
             f"- intent macro-F1, five routing intents: **{report['routing_intent_macro_f1']:.3f}**",
             f"- intent macro-F1, all intents: {report['all_intent_macro_f1']:.3f}; accuracy {report['intent_accuracy']:.3f}",
             f"- entity micro-F1: **{report['entity_micro']['f1']:.3f}** "
             f"(P {report['entity_micro']['precision']:.3f}, R {report['entity_micro']['recall']:.3f})", "",
             "| intent (after fallback) | P | R | F1 | n |", "|---|---|---|---|---|"]
    for name, s in report["intents"].items():
        lines.append(f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    lines += ["", "| entity | P | R | F1 | n |", "|---|---|---|---|---|"]
    for name, s in report["entities"].items():
        lines.append(f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    labels = list(report["confusion"])
    cols = sorted({p for row in report["confusion"].values() for p in row})
    lines += ["", "Confusion (rows: gold, columns: predicted)", "", "| gold \\ predicted | " + " | ".join(cols) + " |",
              "|---" * (len(cols) + 1) + "|"]
    for g in labels:
        lines.append(f"| {g} | " + " | ".join(str(report["confusion"][g].get(c, "")) for c in cols) + " |")
    lines += ["", f"Errors: {len(report['errors'])} (full list in nlu_eval.json)"]
    if "heldout_b" in report:
        b = report["heldout_b"]
        lines += ["", f"## Held-out set B ({b['examples']} messages, intents only, written blind)", "",
                  f"Routing intents macro-F1: **{b['classifier_routing_intent_macro_f1']:.3f}** (classifier's top "
                  f"intent), {b['routing_intent_macro_f1']:.3f} after the fallback threshold (fallback rate "
                  f"{b['fallback_rate']:.3f}); all intents {b['classifier_all_intent_macro_f1']:.3f}", "",
                  "| intent (classifier) | P | R | F1 | n |", "|---|---|---|---|---|"]
        for name, sc in b["classifier_intents"].items():
            if sc["support"]:
                lines.append(f"| {name} | {sc['precision']:.3f} | {sc['recall']:.3f} | {sc['f1']:.3f} | {sc['support']} |")
    return "\n".join(lines) + "\n"


class EntityOnlyAgent:
    """`--entities-only`: score the rule-based extractor alone (no model load; intents come out as 'None')."""

    def __init__(self) -> None:
        from bot.components.zh_pipeline import EntityFinder

        self.finder = EntityFinder()

    async def parse_message(self, text: str) -> dict[str, Any]:
        return {"intent": {"name": None}, "entities": [m.as_rasa_entity() for m in self.finder.extract(text)]}


def main() -> int:
    data = yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))
    os.environ["BIANMIN_REFERENCE_DATE"] = str(data.get("reference_date", ""))
    examples = data["examples"]
    if "--entities-only" in sys.argv:
        report = asyncio.run(evaluate(EntityOnlyAgent(), examples))
        print(f"entity micro: {report['entity_micro']}")
        for name, s in report["entities"].items():
            print(f"  {name:<18} P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f} n {s['support']}")
        for e in report["errors"]:
            if e["missing"] or e["extra"]:
                print("  ✗", e["text"][:60], "| missing", e["missing"], "| extra", e["extra"])
        return 0
    print(f"Loading the model and evaluating {len(examples)} held-out messages ...", flush=True)
    agent = load_agent()
    report = asyncio.run(evaluate(agent, examples))
    if HELDOUT_B.exists():
        examples_b = yaml.safe_load(HELDOUT_B.read_text(encoding="utf-8"))["examples"]
        print(f"Held-out set B: {len(examples_b)} messages (intents only) ...", flush=True)
        report["heldout_b"] = asyncio.run(evaluate(agent, examples_b, entities=False))
    path = write_report("nlu_eval", report)
    (REPORTS / "nlu_eval.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    print(f"Report: {path} and {REPORTS / 'nlu_eval.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
