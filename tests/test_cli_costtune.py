"""``python -m workbench costtune``: bad input exits 2 with one line; a tiny run prints the report."""

import json
import os

import pytest
import torch
from conftest import interrupt_cli, interrupted_badly

TINY = ["--widths", "4,8", "--train-steps", "150", "--n-inputs", "400"]


@pytest.fixture
def env_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("args,needle", [
    (["--task", "digits"], "--task"),
    (["--task", "mnist1d", "--family", "transformer"], "--family"),
    (["--task", "mnist1d", "--budget", "-5"], "--budget"),
    (["--task", "mnist1d", "--steps", "0"], "--steps"),
    (["--task", "mnist1d", "--budget", "inf"], "--budget"),
    (["--task", "mnist1d", "--seed", "-1"], "--seed"),
    (["--task", "mnist1d", "--train-steps", "0"], "--train-steps"),
    (["--task", "mnist1d", "--n-inputs", "1"], "--n-inputs"),
    (["--task", "mnist1d", "--n-inputs", "99"], "--n-inputs must be an integer in [100, "),  # 2 was accepted
    (["--task", "mnist1d", "--widths", ""], "--widths"),
    (["--task", "mnist1d", "--widths", "8,8,16"], "more than once"),
    (["--task", "mnist1d", "--steps", "99999999999999999999"], "--steps must be an integer in [1, 1000000000]"),
    (["--task", "mnist1d", "--n-inputs", "99999999999999999999"], "--n-inputs must be an integer in [100, 16777216]"),
    (["--task", "mnist1d", "--widths", "4,99999999999999999999"], "--widths must be <= 65536"),
    (["--task", "mnist1d", "--device", "gpu"], "--device must be cpu or cuda; got 'gpu'"),
])
def test_bad_arguments_exit_2_before_any_work(cli, args, needle):
    proc = cli("costtune", *args, "--json", timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_asked_for_without_cuda_exits_2(cli, env_cache):
    proc = cli("costtune", "--task", "mnist1d", *TINY, "--device", "cuda", "--json", timeout=60)
    assert proc.returncode == 2 and proc.stdout == "" and "--device cuda" in proc.stderr
    assert not list(env_cache.rglob("*.npz"))  # no table was built


def test_a_budget_below_every_settings_cost_exits_2_before_the_table_is_built(cli, env_cache):
    proc = cli("costtune", "--task", "mnist1d", *TINY, "--budget", "20", "--json", timeout=60)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert "--budget must be >= the cheapest setting's cost (w4-d0.25-int8: 27 FLOPs per input); got 20.0" in proc.stderr
    assert not list(env_cache.rglob("*.npz"))  # no table was built


def test_tiny_run_and_budget_below_cheapest_setting(cli, env_cache):
    proc = cli("costtune", "--task", "teacher-classification", "--family", "mlp", *TINY, "--steps", "1500",
               "--n-budgets", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["policies"]) == {"rl", "static_best", "cascade", "ladder_cascade", "oracle_bins", "oracle_input"}
    for p in out["policies"].values():
        assert 0 <= p["error"] <= 1 and p["cost"] > 0
    assert set(out["steps_to_98pct"]) == {"guided", "unguided"}
    assert {"rl", "static", "cascade", "ladder_cascade", "oracle_bins", "oracle_input"} <= set(out["pareto"])
    assert "cost_ratio_at_matched_error" in out
    assert out["table_device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    g = out["guidance"]  # the guidance counts agree with the rows they summarise
    assert out["guided_at_most_half_steps"] == sum(
        r["guided_steps_to_98pct"] <= r["unguided_steps_to_98pct"] / 2
        and r["guided_steps_to_98pct"] < r["unguided_steps_to_98pct"] for r in g)
    # the common target: COMMON_REWARD_TOL below the better final reward, None (null) when never reached
    assert out["steps_to_common_target"] == {"guided": g[0]["guided_steps_to_common"],
                                             "unguided": g[0]["unguided_steps_to_common"], "tolerance": 0.005}
    assert out["guided_at_most_half_steps_common"] == sum(
        r["guided_steps_to_common"] is not None and (r["unguided_steps_to_common"] is None or (
            r["guided_steps_to_common"] <= r["unguided_steps_to_common"] / 2
            and r["guided_steps_to_common"] < r["unguided_steps_to_common"])) for r in g)
    assert all(isinstance(r[f"{n}_steps_to_common"], (int, type(None))) for r in g for n in ("guided", "unguided"))
    assert out["guided_worse_final_reward_lams"] == [
        r["lam"] for r in g if r["guided_final_reward"] < r["unguided_final_reward"] - 1e-3]
    gap = out["gap_recovered"]  # RouteLLM's metrics between the cheapest and the most accurate static setting
    assert [gap["weak"]["cost"], gap["weak"]["error"]] == out["pareto"]["static"][0]
    assert [gap["strong"]["cost"], gap["strong"]["error"]] == out["pareto"]["static"][-1]
    assert set(gap["policies"]) == set(out["pareto"])
    static, oracle = gap["policies"]["static"], gap["policies"]["oracle_input"]
    assert static["apgr"] >= 0.5 - 1e-9  # the static hull lies on or below the weak-strong mixture
    assert oracle["apgr"] >= static["apgr"] and oracle["cpt80"] <= static["cpt80"]
    assert static["cpt50"] <= 0.5 + 1e-9 and static["cpt80"] <= 0.8 + 1e-9
    cheapest = min(c for curve in [out["pareto"]["static"]] for c, _ in curve)
    low = cli("costtune", "--task", "teacher-classification", *TINY, "--budget", str(cheapest / 2), "--json")
    assert low.returncode == 2 and "--budget" in low.stderr and low.stdout == ""
    # above the cheapest static setting but below the ladder's first rung: RL cannot meet it
    first_rung = out["ladder"]["cost"][0]
    if first_rung > cheapest:
        mid = cli("costtune", "--task", "teacher-classification", *TINY, "--budget", str(cheapest), "--json")
        assert mid.returncode == 2 and "first rung" in mid.stderr and mid.stdout == ""


def test_ctrl_c_after_the_outcome_table_exits_130_saying_it_is_kept(tmp_path):
    env = dict(os.environ, WORKBENCH_CACHE=str(tmp_path))
    proc = interrupt_cli("costtune", "--task", "teacher-classification", *TINY, "--steps", "1000000", "--json",
                         watch=tmp_path / "costtune", pattern="outcomes-*.npz", count=1, env=env)
    table = next((tmp_path / "costtune").glob("outcomes-*.npz"))
    assert proc.returncode == 130 and proc.stdout == "" and "Traceback" not in proc.stderr, interrupted_badly(proc)
    assert proc.stderr.strip().splitlines()[-1] == (
        f"costtune interrupted (Ctrl-C): the outcome table is kept in {table}; rerun the same command to resume "
        "(it reads the table and trains only the RL agents, which start over)")


@pytest.mark.parametrize("argv", [
    ["costtune", "--task", "digits"],
    ["costtune", "--task", "mnist1d", "--steps", "0"],
    ["costtune", "--task", "mnist1d", "--n-inputs", "99"],
    # mnist1d's test split: its limit, not the general one (refused after torch, without naming --n-inputs)
    ["costtune", "--task", "mnist1d", "--n-inputs", "1039577", "@--n-inputs must be <= 1039576 for --task mnist1d"],
    ["sweep", "--task", "nope", "--widths", "4", "--depths", "1", "--sizes", "256", "--out", "x.csv"],
    ["prune", "--task", "nope", "--width", "4", "--depth", "1", "--size", "256", "--out", "x.csv"],
])
def test_arguments_refused_before_torch_is_imported(argv, tmp_path):
    """A mistyped task or step count is refused at once: torch's import (about 3 s) came first."""
    import subprocess
    import sys

    said = [a[1:] for a in argv if a.startswith("@")]  # what the error must say
    argv = [a for a in argv if not a.startswith("@")]
    code = ("import sys\nfrom workbench.cli import main\n"
            f"status = main({argv!r})\n"
            "assert status == 2, status\nassert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert all(s in proc.stderr for s in said), proc.stderr
