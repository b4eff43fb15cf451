"""Build the routing corpus files from the real-data pack (run once; the outputs are committed).

    python -m scripts.split_routing_corpus /work/shared/data/routing_train.csv

Writes nlu_data/corpora/routing.csv (training part), routing_heldout.csv (the held-out 20 %, never trained on)
and routing_heldout.sha256 (sha256 of each held-out text, one per line). The split is stratified by
(label, rule) and fixed: within each stratum rows are ordered by sha256(SEED + text) and the first
round(20 %) are held out, so re-running it gives the same split on any machine.
"""
from __future__ import annotations

import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

SEED = "bianmin-routing-heldout-v1"
FRACTION = 0.2
OUT = Path(__file__).resolve().parent.parent / "nlu_data" / "corpora"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main(src: str) -> None:
    with open(src, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    strata: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        strata[(row["label"], row["source"].rsplit("#rule=", 1)[1])].append(row)
    held: set[int] = set()
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda r: hashlib.sha256((SEED + r["text"]).encode()).hexdigest())
        for row in group[: round(len(group) * FRACTION)]:
            held.add(id(row))
    OUT.mkdir(parents=True, exist_ok=True)
    for name, part in (("routing.csv", [r for r in rows if id(r) not in held]),
                       ("routing_heldout.csv", [r for r in rows if id(r) in held])):
        with open(OUT / name, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label", "source"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(part)
    hashes = sorted(text_hash(r["text"]) for r in rows if id(r) in held)
    (OUT / "routing_heldout.sha256").write_text("\n".join(hashes) + "\n", encoding="utf-8")
    print(f"{len(rows) - len(held)} training rows, {len(held)} held out")


if __name__ == "__main__":
    main(sys.argv[1])
