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


_var_cache: dict[tuple[str | None, ...], Path] = {}


def _var_dir() -> Path:
    """$BIANMIN_VAR/routing (memoised per environment: called on every routing)."""
    key = (os.environ.get("BIANMIN_VAR"), os.environ.get("BIANMIN_HOME"))
    if key not in _var_cache:
        from bianmin.settings import Settings

        _var_cache[key] = Settings.from_env().var / "routing"
    return _var_cache[key]


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


LEARNED = "learned.pkl"


class HistoryFileError(ValueError):
    """A `route learn` file that cannot be used; the message names the line (Chinese, then English)."""


def read_history(path: Path, categories: Sequence[str], label_map: dict[str, str]) -> tuple[list[str], list[str]]:
    """Validate and read a city's history CSV (header ``text,label``; other columns ignored)."""
    raw = Path(path).read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise HistoryFileError(f"第 {line} 行不是 UTF-8 编码，请另存为 UTF-8 / line {line}: not UTF-8") from None
    reader = csv.reader(content.splitlines())
    header = [h.strip() for h in next(reader, [])]
    if "text" not in header or "label" not in header:
        raise HistoryFileError(f"第 1 行表头应包含 text,label，现在是 {','.join(header)!r} / "
                               "line 1: the header must have the columns text,label")
    ti, li = header.index("text"), header.index("label")
    known = set(categories)
    texts: list[str] = []
    labels: list[str] = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        text = row[ti].strip() if ti < len(row) else ""
        label = row[li].strip() if li < len(row) else ""
        if not text:
            raise HistoryFileError(f"第 {number} 行 text 为空 / line {number}: empty text")
        label = label_map.get(label, label)
        if label not in known:
            raise HistoryFileError(f"第 {number} 行的类别“{label}”不是顶层类别，也不在 label_map 中 / "
                                   f"line {number}: unknown label {label!r}")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise HistoryFileError("文件没有数据行 / the file has no data rows")
    return texts, labels


def learn(path: Path, categories: Sequence[str], label_map: dict[str, str], replace: bool = False,
          var_dir: Path | None = None, progress: Any = print) -> dict[str, Any]:
    """Retrain on the shipped corpus + a city's history (or the history alone) and save it under $BIANMIN_VAR.

    The file is validated before anything is trained; on any error the model in use is left untouched.
    Returns the cross-validated report (macro-F1, labels, confusion matrix)."""
    from sklearn.metrics import confusion_matrix, f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts, labels = read_history(path, categories, label_map)
    progress(f"读取历史工单 {len(texts)} 条 / read {len(texts)} history rows")
    if not replace:
        base_t, base_l = read_corpus(CORPUS, CONFIG.get("rules"))
        texts, labels = base_t + texts, base_l + labels
        progress(f"加上内置语料共 {len(texts)} 条 / with the shipped corpus: {len(texts)} rows")
    texts = [t[: CONFIG["max_chars"]] for t in texts]
    counts = {lab: labels.count(lab) for lab in sorted(set(labels))}
    if len(counts) < 2:
        raise HistoryFileError("至少需要两个类别 / at least two labels are needed")
    folds = max(2, min(5, min(counts.values())))
    progress(f"交叉验证（{folds} 折）… / cross-validating ({folds} folds) …")
    pred = cross_val_predict(build_pipeline(), texts, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    order = sorted(counts)
    report = {"rows": len(texts), "folds": folds, "labels": order,
              "macro_f1": round(float(f1_score(labels, pred, labels=order, average="macro")), 4),
              "confusion": confusion_matrix(labels, pred, labels=order).tolist()}
    progress("训练最终模型… / training the final model …")
    pipeline = build_pipeline()
    pipeline.fit(texts, labels)
    directory = var_dir or _var_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{LEARNED}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        pickle.dump(RoutingModel(pipeline, CONFIG["max_chars"]), fh)
    os.replace(tmp, directory / LEARNED)
    progress(f"已保存 / saved: {directory / LEARNED}")
    return report


_model: RoutingModel | None = None
_model_key: tuple[str, float] | None = None
_lock = threading.Lock()


def default_model() -> RoutingModel:
    """The learned model of `route learn` if there is one, else the shipped one.

    One ``stat`` per call: a model saved by `route learn` is picked up by running processes without restart."""
    global _model, _model_key
    directory = _var_dir()
    learned = directory / LEARNED
    try:
        key: tuple[str, float] = (str(learned), learned.stat().st_mtime)
    except OSError:
        key = ("shipped", 0.0)
    if _model is None or key != _model_key:
        with _lock:
            if _model is None or key != _model_key:
                model: RoutingModel | None = None
                if key[0] != "shipped":
                    try:
                        with open(learned, "rb") as fh:
                            loaded = pickle.load(fh)
                        model = loaded if isinstance(loaded, RoutingModel) else None
                    except Exception:   # noqa: BLE001 - keep routing with the shipped model
                        log.warning("learned routing model unreadable; using the shipped one")
                _model = model or load_shipped(directory)
                _model_key = key
    return _model
