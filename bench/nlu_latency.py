"""NLU parse latency (p50/p95) and parses per second of the trained model on this machine.

Parses realistic resident messages of mixed length sequentially in one process (as the Rasa server does
per message). Target: p95 ≤ 25 ms. Writes var/reports/nlu_latency.json.
"""
from __future__ import annotations

import asyncio
import sys
import time

import yaml

from bench.common import REPO, load_agent, summary_ms, write_report

ROUNDS = 3


async def run(agent, texts: list[str]) -> dict:  # type: ignore[no-untyped-def]
    for t in texts[:20]:                       # warm-up: TensorFlow graph tracing, jieba caches
        await agent.parse_message(t)
    samples: list[float] = []
    started = time.perf_counter()
    for _ in range(ROUNDS):
        for t in texts:
            t0 = time.perf_counter()
            await agent.parse_message(t)
            samples.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    return {**summary_ms(samples), "parses_per_second": round(len(samples) / wall, 1)}


def main() -> int:
    data = yaml.safe_load((REPO / "tests" / "nlu" / "heldout.yml").read_text(encoding="utf-8"))
    texts = [ex["text"] for ex in data["examples"]]
    long_text = ("我家楼下的饭店每天晚上都很吵，油烟也很大，" * 250)[:5000]
    print(f"Loading the model; then {ROUNDS} rounds over {len(texts)} messages ...", flush=True)
    agent = load_agent()
    result = asyncio.run(run(agent, texts))
    t0 = time.perf_counter()
    asyncio.run(agent.parse_message(long_text))
    result["one_5000_char_message_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    path = write_report("nlu_latency", result)
    print(result)
    print(f"Report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
