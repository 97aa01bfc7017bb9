"""RouteLLM's APGR and CPT(x%) (``policies.gap_table``) of the held-out curves stored by bench_costtune.py,
without rerunning the studies (newer runs carry them in their JSON as ``gap_recovered``).

    .venv/bin/python benchmarks/gap_metrics.py
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench.costtune import policies as P

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    for path in sorted(RESULTS.glob("costtune_*.json")):
        gap = P.gap_table(json.loads(path.read_text())["pareto"])
        w, s = gap["weak"], gap["strong"]
        print(f"{path.stem}: weak ({w['cost']:.0f} FLOPs, error {w['error']:.4f}) -> "
              f"strong ({s['cost']:.0f} FLOPs, error {s['error']:.4f})")
        for name, m in gap["policies"].items():
            print(f"  {name:15s}" + "  ".join(f"{k} {'never' if v is None else f'{v:.3f}'}" for k, v in m.items()))


if __name__ == "__main__":
    main()
