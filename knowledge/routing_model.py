"""The learned half of complaint routing: a char n-gram TF-IDF + linear SVM over the real routing corpus.

Where the shipped model comes from: it is trained deterministically at first use from
``nlu_data/corpora/routing.csv`` (R1 rows only, see ``CONFIG``) and cached under ``$BIANMIN_VAR/routing/`` in a
file named by the sha256 of corpus bytes + config + scikit-learn version, so every clone with the same corpus gets
the same model, and an edited corpus or config retrains by itself. Training takes a few seconds; loading the cached
pickle takes well under one. The held-out file ``routing_heldout.csv`` is never read here.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

CORPUS = Path(__file__).resolve().parent.parent / "nlu_data" / "corpora" / "routing.csv"
# Chosen by 5-fold cross-validation on the training part only (bench/eval_routing.py --cv); R2-kw weak keyword
# labels (10–12 % noise) are left out: with them, CV macro-F1 on the R1 rows was lower (0.841 vs 0.848).
CONFIG: dict[str, Any] = {"analyzer": "char", "ngram_range": [1, 3], "min_df": 2, "sublinear_tf": True,
                          "C": 0.5, "class_weight": "balanced", "rules": ["R1"], "max_chars": 300}


def read_corpus(path: Path = CORPUS, rules: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(texts, labels) of the rows whose ``source`` ends in one of ``rules`` (all rows when None)."""
    texts: list[str] = []
    labels: list[str] = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rule = row.get("source", "").rsplit("#rule=", 1)[-1]
            if rules is None or rule in rules:
                texts.append(row["text"])
                labels.append(row["label"])
    return texts, labels


def build_pipeline(config: dict[str, Any] = CONFIG) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(
        TfidfVectorizer(analyzer=config["analyzer"], ngram_range=tuple(config["ngram_range"]),
                        min_df=config["min_df"], sublinear_tf=config["sublinear_tf"]),
        LinearSVC(C=config["C"], class_weight=config["class_weight"], random_state=0))


@dataclass(frozen=True)
class Prediction:
    label: str          # "" when the text has no feature the corpus knows
    confidence: float   # 0..1, a squashed SVM margin over the runner-up
    runner_up: str


class RoutingModel:
    """A fitted pipeline plus its labels; ``predict`` never raises on odd text."""

    def __init__(self, pipeline: Any, max_chars: int = 300) -> None:
        self.pipeline = pipeline
        self.labels: list[str] = [str(c) for c in pipeline.classes_]
        self.max_chars = max_chars

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        import numpy as np

        if not texts:
            return []
        vectoriser, classifier = self.pipeline.steps[0][1], self.pipeline.steps[-1][1]
        features = vectoriser.transform([t[: self.max_chars] for t in texts])
        scores = classifier.decision_function(features)
        known = np.diff(features.indptr) > 0
        out: list[Prediction] = []
        for has_features, row in zip(known, np.atleast_2d(scores)):
            if not has_features:   # nothing the corpus ever showed (emoji, Latin noise): no opinion
                out.append(Prediction("", 0.0, ""))
                continue
            order = np.argsort(-row)
            best, second = row[order[0]], row[order[1]]
            confidence = float(1.0 / (1.0 + np.exp(-3.0 * (best - second))))   # 0.5 at a tie
            out.append(Prediction(self.labels[order[0]], round(2 * confidence - 1, 3), self.labels[order[1]]))
        return out

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]


def fingerprint(corpus: Path = CORPUS, config: dict[str, Any] = CONFIG) -> str:
    import sklearn

    digest = hashlib.sha256(corpus.read_bytes())
    digest.update(json.dumps(config, sort_keys=True).encode())
    digest.update(sklearn.__version__.encode())
    return digest.hexdigest()[:16]


def train(corpus: Path = CORPUS, config: dict[str, Any] = CONFIG) -> RoutingModel:
    texts, labels = read_corpus(corpus, config.get("rules"))
    pipeline = build_pipeline(config)
    pipeline.fit([t[: config["max_chars"]] for t in texts], labels)
    return RoutingModel(pipeline, config["max_chars"])


def _var_dir() -> Path:
    from bianmin.settings import Settings

    return Settings.from_env().var / "routing"


def load_shipped(var_dir: Path | None = None) -> RoutingModel:
    """The shipped model: the cached pickle for this corpus+config, trained and cached on first use."""
    directory = var_dir or _var_dir()
    path = directory / f"model-{fingerprint()}.pkl"
    if path.exists():
        try:
            with open(path, "rb") as fh:
                model = pickle.load(fh)
            if isinstance(model, RoutingModel):
                return model
        except Exception:   # a truncated or foreign file: retrain below
            log.warning("routing model cache %s unreadable; retraining", path.name)
    model = train()
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(model, fh)
    os.replace(tmp, path)   # atomic: concurrent first uses never read a half-written file
    return model


_model: RoutingModel | None = None
_lock = threading.Lock()


def default_model() -> RoutingModel:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = load_shipped()
    return _model
