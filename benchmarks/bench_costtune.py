"""Issue 4 measurements: ``python -m workbench costtune`` on both tasks and both families, plus a
rerun of one configuration to check that seeded runs reproduce exactly.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_costtune.py

Writes benchmarks/results/costtune_<task>_<family>.json and prints one summary line per run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = [("teacher-classification", "mlp"), ("teacher-classification", "cnn"), ("mnist1d", "mlp"), ("mnist1d", "cnn")]


def run(task: str, family: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "workbench", "costtune", "--task", task, "--family", family,
                           "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(proc.stdout), time.perf_counter() - t0


def main() -> None:
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    for task, family in RUNS:
        res, sec = run(task, family)
        (out_dir / f"costtune_{task}_{family}.json").write_text(json.dumps(res, indent=1))
        p = res["policies"]
        print(f"{task} {family}: {sec:.0f} s  budget={res['budget']:.0f}  "
              f"cost_ratio_at_matched_error={res['cost_ratio_at_matched_error']}  "
              f"rl=({p['rl']['cost']:.0f}, {p['rl']['error']:.4f})  static_best=({p['static_best']['cost']:.0f}, "
              f"{p['static_best']['error']:.4f})  cascade=({p['cascade']['cost']:.0f}, {p['cascade']['error']:.4f})  "
              f"ladder_cascade=({p['ladder_cascade']['cost']:.0f}, {p['ladder_cascade']['error']:.4f})  "
              f"oracle_bins=({p['oracle_bins']['cost']:.0f}, {p['oracle_bins']['error']:.4f})  "
              f"rl/oracle_bins cost at rl error={res['rl_cost_over_oracle_bins_cost_at_rl_error']}  "
              f"rl/oracle_bins along rl curve={[round(r, 2) for r in res['rl_over_oracle_bins_along_rl_curve']]}  "
              f"cost_ratio_at_train_selected_static_error={res['cost_ratio_at_train_selected_static_error']}  "
              f"areas={json.dumps({k: round(v, 4) for k, v in res['area_under_cost_error'].items()})}  "
              f"gap_recovered={json.dumps(res['gap_recovered'].get('policies', {}))}  "
              f"cost_ratio_bootstrap={res['cost_ratio_bootstrap']}  steps_to_98pct={res['steps_to_98pct']}  "
              f"steps_to_common_target={res['steps_to_common_target']}  "
              f"guided_at_most_half_steps={res['guided_at_most_half_steps']} (common target: "
              f"{res['guided_at_most_half_steps_common']}) of {len(res['guidance'])}  "
              f"guidance={[{k: v if v is None else round(v, 4) for k, v in g.items()} for g in res['guidance']]}",
              flush=True)
    again, _ = run(*RUNS[0])
    first = json.loads((out_dir / f"costtune_{RUNS[0][0]}_{RUNS[0][1]}.json").read_text())
    print(f"rerun of {RUNS[0]} identical: {again == first}")


if __name__ == "__main__":
    main()
