"""Helpers shared by evaluations and benchmarks: loading the trained model once, writing reports."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REPORTS = Path(os.environ.get("BIANMIN_VAR") or REPO / "var") / "reports"


def load_agent(model: Path | None = None):  # type: ignore[no-untyped-def]
    """Rasa's Agent for the trained model (NLU only is used; loading takes a few seconds)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)   # unconfigured, Rasa's structlog prints every parsed message

    path = model or Path(os.environ.get("BIANMIN_MODEL") or REPO / "models" / "bianmin.tar.gz")
    if not path.exists():
        raise SystemExit(f"no trained model at {path}: run `make train` first")
    return Agent.load(str(path))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"n": len(ms), "mean_ms": round(statistics.fmean(ms), 3), "p50_ms": round(percentile(ms, 0.5), 3),
            "p95_ms": round(percentile(ms, 0.95), 3), "p99_ms": round(percentile(ms, 0.99), 3),
            "max_ms": round(max(ms), 3)}


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_report(name: str, data: dict[str, Any]) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, ensure_ascii=False, indent=2))
    return path
