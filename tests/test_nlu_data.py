"""Hygiene of the NLU training data and the held-out sets: the held-out scores mean something only if no
held-out message (or a copy differing only in spaces and punctuation) is trained on."""
from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from bench.eval_nlu import ROUTING_INTENTS

REPO = Path(__file__).resolve().parent.parent
TRAINING = sorted((REPO / "nlu_data" / "nlu").glob("*.yml"))
HELDOUT_SETS = {"A": REPO / "tests" / "nlu" / "heldout.yml", "B": REPO / "tests" / "nlu" / "heldout_b.yml"}
INTENTS = set(ROUTING_INTENTS) | {"progress_query", "human_handoff", "greet", "goodbye", "thanks", "affirm",
                                  "deny", "cancel", "inform"}


def canonical(text: str) -> str:
    """Text with entity markup, spaces, punctuation and emoji removed, full-width folded: what a copy shares."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\{[^}]*\}", r"\1", text)
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


@pytest.fixture(scope="module")
def training() -> list[tuple[str, str]]:
    out = []
    for path in TRAINING:
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" in block:
                for line in block["examples"].splitlines():
                    if line.strip().startswith("- "):
                        out.append((block["intent"], line.strip()[2:].strip()))
    return out


@pytest.mark.parametrize("name", sorted(HELDOUT_SETS))
def test_no_heldout_message_is_trained_on(name: str, training: list[tuple[str, str]]) -> None:
    trained = {canonical(text) for _, text in training}
    examples = yaml.safe_load(HELDOUT_SETS[name].read_text(encoding="utf-8"))["examples"]
    leaked = [ex["text"] for ex in examples if canonical(ex["text"]) in trained and len(canonical(ex["text"])) > 4]
    assert not leaked, f"held-out set {name} messages found in nlu_data/: {leaked[:5]}"


@pytest.mark.parametrize("name", sorted(HELDOUT_SETS))
def test_heldout_sets_are_well_formed(name: str) -> None:
    examples = yaml.safe_load(HELDOUT_SETS[name].read_text(encoding="utf-8"))["examples"]
    assert {ex["intent"] for ex in examples} <= INTENTS
    counts = Counter(ex["intent"] for ex in examples)
    assert all(counts[intent] >= 40 for intent in ROUTING_INTENTS), counts
    texts = [canonical(ex["text"]) for ex in examples]
    assert len(texts) == len(set(texts)), "a held-out set repeats a message"


def test_routing_intents_have_enough_examples(training: list[tuple[str, str]]) -> None:
    counts = Counter(intent for intent, _ in training)
    assert all(counts[intent] >= 80 for intent in ROUTING_INTENTS), counts


def test_no_training_message_has_two_intents(training: list[tuple[str, str]]) -> None:
    labels: dict[str, set[str]] = defaultdict(set)
    for intent, text in training:
        labels[canonical(text)].add(intent)
    clashes = {text: intents for text, intents in labels.items() if len(intents) > 1 and len(text) > 1}
    assert not clashes, f"the same message under two intents: {list(clashes.items())[:5]}"
