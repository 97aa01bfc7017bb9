"""Magnitude pruning / IMP with rewinding: exact densities, masks respected, batched == alone."""

import dataclasses
import json
import os

import pandas as pd
import pytest
import torch

from workbench import prune as prune_mod
from workbench.errors import CacheWarning, InputError
from workbench.prune import PruneConfig, magnitude_masks, prunable, run_prune, with_sweep
from workbench.sweep import SweepConfig
from workbench.sweep_train import initial_params, spec_of, train_stack
from workbench.students import stack_params
from workbench.tasks import TaskConfig, make_task, task_config


TASK = TaskConfig(name="teacher-classification", pool_size=1024, val_size=128, test_size=512)
CFG = PruneConfig(SweepConfig(task=TASK, widths=(16,), depths=(2,), sizes=(128, 1024), seeds=(0,),
                              steps=120, batch_size=32, lr=3e-3), rounds=4, rewind_step=10)


@pytest.fixture(scope="module")
def table():
    return run_prune(CFG, progress=False, cache_dir=False)


def test_densities_are_reached_exactly(table):
    total = 20 * 16 + 16 * 16 + 16 * 10
    assert (table["weights_prunable"] == total).all()
    for rnd, g in table.groupby("round"):
        assert (g["weights_kept"] == round(total * 0.8 ** rnd)).all()
        assert g["density"].iloc[0] == pytest.approx(0.8 ** rnd, abs=1 / total)
    assert sorted(table["round"].unique()) == [0, 1, 2, 3, 4]
    assert len(table) == 2 * 5
    dense, sparse = table[table["round"] == 0].iloc[0], table[table["round"] == 4].iloc[0]
    assert sparse["flops_infer"] == 2 * sparse["weights_kept"] < dense["flops_infer"]
    assert (table["params_nonzero"] == table["params"] - total + table["weights_kept"]).all()


def test_masks_are_nested_topk_and_hold_pruned_weights_at_zero():
    task = make_task(TASK)
    runs = CFG.sweep.runs()
    spec = spec_of(runs[0], task)
    p = stack_params([initial_params(r, spec) for r in runs])
    names = prunable(spec)
    ones = {k: torch.ones_like(p[k]) for k in names}
    total = sum(p[k][0].numel() for k in names)
    m1 = magnitude_masks(p, ones, round(0.8 * total))
    m2 = magnitude_masks(p, m1, round(0.64 * total))
    for k in names:
        assert bool((m2[k] <= m1[k]).all())  # survivors of round 2 survived round 1
    kept = torch.cat([p[k].abs()[m1[k] > 0] for k in names]).min()
    dropped = torch.cat([p[k].abs()[m1[k] == 0] for k in names]).max()
    assert kept >= dropped
    res = train_stack(task, runs, init=p, masks=m2, steps=30)
    for k in names:
        assert float(res.params[k][m2[k] == 0].abs().max()) == 0.0
        assert float(res.params[k][m2[k] > 0].abs().min()) > 0.0


def test_rewind_restores_the_early_weights(table):
    task = make_task(TASK)
    runs = CFG.sweep.runs()
    short = train_stack(task, runs, steps=CFG.rewind_step)
    full = train_stack(task, runs, rewind_step=CFG.rewind_step)
    for k in short.params:
        assert torch.allclose(short.params[k], full.rewind[k], atol=1e-6)


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_a_rewound_round_goes_on_with_the_learning_rate_schedule_from_the_rewind_step(monkeypatch, tmp_path, schedule):
    """Weight rewinding (Frankle et al. 2020): back to the step-k weights, then steps k … T − 1 of the same
    schedule. Until session 22 every round restarted it: full rate at its first step, over T − k steps (a review
    found the cosine factor 0.5 at a retrain's middle where the run's own schedule is at 0.146)."""
    import workbench.sweep_train as st

    seen = []
    real = st.lr_factor
    monkeypatch.setattr(st, "lr_factor", lambda sched, step, total: seen.append((step, total)) or real(sched, step, total))
    cfg = dataclasses.replace(with_sweep(CFG, sizes=(128,), lr_schedule=schedule), rounds=2)
    run_prune(cfg, progress=False, cache_dir=tmp_path)
    T, k = cfg.sweep.steps, cfg.rewind_step
    dense, rounds = seen[:T], [seen[T + i * (T - k): T + (i + 1) * (T - k)] for i in range(cfg.rounds)]
    assert len(seen) == T + cfg.rounds * (T - k)
    assert dense == [(t, T) for t in range(T)]
    assert all(r == [(t, T) for t in range(k, T)] for r in rounds)


def test_batched_prune_equals_pruning_each_student_alone(table):
    alone = run_prune(with_sweep(CFG, sizes=(128,)), progress=False, cache_dir=False)
    mine = table[table["n"] == 128].reset_index(drop=True)
    assert alone["weights_kept"].tolist() == mine["weights_kept"].tolist()
    assert alone["test_loss"].tolist() == pytest.approx(mine["test_loss"].tolist(), rel=1e-4)


def test_bad_prune_configs_raise():
    with pytest.raises(InputError, match="rewind_step"):
        PruneConfig(CFG.sweep, rewind_step=500).validate()
    with pytest.raises(InputError, match="method"):
        PruneConfig(CFG.sweep, method="random").validate()
    with pytest.raises(InputError, match="rounds"):
        run_prune(PruneConfig(with_sweep(CFG, widths=(1,), depths=(0,)).sweep, rounds=30), progress=False)


def test_an_interrupted_prune_resumes_from_its_finished_stacks(tmp_path, monkeypatch):
    cfg = with_sweep(CFG, widths=(8, 16), sizes=(128,), steps=60)  # two stacks
    whole = run_prune(cfg, progress=False, cache_dir=False)
    first = run_prune(cfg, progress=False, cache_dir=tmp_path, max_new_groups=1)  # "killed" after one stack
    assert set(first["width"]) == {8} and len(first) == cfg.rounds + 1
    assert len(list((tmp_path / "prune").glob("student-*.json"))) == 1
    resumed = run_prune(cfg, progress=False, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), whole.drop(columns="seconds"))

    def no_training(*args, **kwargs):
        raise AssertionError("a cached student was trained again")

    monkeypatch.setattr(prune_mod, "_prune_group", no_training)
    pd.testing.assert_frame_equal(run_prune(cfg, progress=False, cache_dir=tmp_path), resumed)
    other = PruneConfig(cfg.sweep, rounds=cfg.rounds, rewind_step=cfg.rewind_step + 1)  # new key: must train
    with pytest.raises(AssertionError, match="trained again"):
        run_prune(other, progress=False, cache_dir=tmp_path)


def test_a_stack_killed_between_its_student_writes_is_trained_whole_again_and_only_its_missing_student_written(
        tmp_path):
    # before: a study killed (SIGKILL) after the first of a stack's two student files left one student; the rerun
    # pruned the other alone, a smaller stack whose CNN losses differ by float rounding from an uninterrupted study's
    task = task_config("mnist1d", pool_size=256, val_size=64, test_size=128)
    cfg = PruneConfig(SweepConfig(task=task, family="cnn", widths=(4,), depths=(1,), sizes=(64, 128), steps=30,
                                  batch_size=16), rounds=2, rewind_step=5)  # one stack of two CNNs
    full = run_prune(cfg, progress=False, cache_dir=tmp_path / "a")
    assert list(full["group_size"]) == [2] * len(full)
    run_prune(cfg, progress=False, cache_dir=tmp_path / "b")
    first, second = (prune_mod._student_path(tmp_path / "b", cfg, r) for r in cfg.sweep.runs())
    second.unlink()  # as if killed between the two writes
    os.utime(first, (0, 0))
    resumed = run_prune(cfg, progress=False, cache_dir=tmp_path / "b")
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), full.drop(columns="seconds"))
    assert first.stat().st_mtime == 0 and second.exists()  # the cached student is kept, not written again
    # a student cached by a smaller stack (another grid) is not a killed stack: only the missing student trains
    grown = PruneConfig(dataclasses.replace(cfg.sweep, sizes=(64, 128, 256)), rounds=2, rewind_step=5)
    table = run_prune(grown, progress=False, cache_dir=tmp_path / "b")
    assert table.groupby("n")["group_size"].first().to_dict() == {64: 2, 128: 2, 256: 1}
    # rows cached before group_size was recorded are used; the stack's missing student trains alone
    for path in (first, second):
        path.write_text(json.dumps([{k: v for k, v in row.items() if k != "group_size"}
                                    for row in json.loads(path.read_text())]))
    second.unlink()
    old = run_prune(cfg, progress=False, cache_dir=tmp_path / "b")
    assert old.groupby("n")["group_size"].first().isna().to_dict() == {64: True, 128: False}
    assert old.loc[old["n"] == 128, "group_size"].eq(1).all()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "a-round-missing", "another-configs-rows"])
def test_a_damaged_student_file_is_trained_again_with_a_warning_never_used(tmp_path, damage):
    # before: garbage or a truncated file crashed every rerun (JSONDecodeError); a file with a round missing or
    # another student's rows was put into the table as this student's
    cfg = PruneConfig(with_sweep(CFG, widths=(4, 8), sizes=(128,), steps=30).sweep, rounds=2, rewind_step=5)
    first = run_prune(cfg, progress=False, cache_dir=tmp_path)
    run4, run8 = cfg.sweep.runs()
    path, other = (prune_mod._student_path(tmp_path, cfg, r) for r in (run4, run8))
    rows = json.loads(path.read_text())
    path.write_text({"garbage": "]]", "truncated": path.read_text()[:50], "a-round-missing": json.dumps(rows[:-1]),
                     "another-configs-rows": other.read_text()}[damage])
    with pytest.warns(CacheWarning, match=f"ignoring the cache file {path}"):
        again = run_prune(cfg, progress=False, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), first.drop(columns="seconds"))
    untimed = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert untimed(json.loads(path.read_text())) == untimed(rows)  # replaced by the retrained rows
    assert prune_mod.cached_students(cfg, tmp_path) == 2


def test_ctrl_c_while_a_stack_is_written_keeps_all_of_its_students(tmp_path, monkeypatch):
    # before: Ctrl-C between the students of one stack kept only the first; the rerun trained the other alone
    import signal

    cfg = PruneConfig(with_sweep(CFG, widths=(4,), sizes=(64, 128), steps=30).sweep, rounds=1, rewind_step=5)
    real = prune_mod.write_json_atomic

    def write_then_ctrl_c(path, obj):
        real(path, obj)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(prune_mod, "write_json_atomic", write_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_prune(cfg, progress=False, cache_dir=tmp_path)
    assert prune_mod.cached_students(cfg, tmp_path) == 2


def test_too_many_rounds_are_rejected_before_any_training(monkeypatch):
    monkeypatch.setattr(prune_mod, "_prune_group", lambda *a, **k: pytest.fail("trained before checking"))
    with pytest.raises(InputError, match="no weights at round"):
        run_prune(PruneConfig(with_sweep(CFG, widths=(2,), depths=(1,)).sweep, rounds=40), progress=False)


def test_progress_can_be_a_bar_factory_such_as_the_notebooks_one():
    import io

    from tqdm.std import tqdm

    made, text = [], io.StringIO()

    def factory(iterable, **kw):  # as workbench.report.progress(None, interactive=..., total=...)
        assert iterable is None
        made.append(tqdm(iterable, file=text, **kw))
        return made[-1]

    cfg = with_sweep(CFG, widths=(8, 16), sizes=(128,), steps=30)  # two stacks
    run_prune(cfg, progress=factory, cache_dir=False)
    (bar,) = made
    assert (bar.total, bar.desc, bar.unit) == (2 * (cfg.rounds + 1), "prune", "round")
    assert bar.n == bar.total  # every round of both stacks counted
    assert "prune: 100%" in text.getvalue()


def test_prune_config_names_fractional_rounds_and_a_missing_sweep():

    sweep = SweepConfig(task=task_config("teacher-regression", pool_size=512), widths=(8,), sizes=(64,), steps=20,
                        batch_size=16)
    assert PruneConfig(sweep=sweep, rounds=2, rewind_step=5).validate().rounds == 2
    for kwargs, match in (({"rounds": 2.5}, "rounds must be a whole number; got 2.5"),
                          ({"rounds": True}, "rounds must be a whole number; got True"),
                          ({"rewind_step": 2.5}, "rewind_step must be a whole number; got 2.5"),
                          ({"fraction": "0.2"}, "fraction must be a number in \\(0, 1\\); got '0.2'")):
        with pytest.raises(InputError, match=match):  # rounds=2.5 validated, then failed in range() after training
            PruneConfig(sweep=sweep, **{"rounds": 2, "rewind_step": 5, **kwargs}).validate()
    with pytest.raises(InputError, match="sweep must be a SweepConfig"):
        PruneConfig(sweep=None).validate()


def test_rows_record_fraction_and_device_and_rows_cached_without_them_are_used(tmp_path, monkeypatch):
    """helper-68 (session 24): prune rows had no ``fraction`` (the density schedule (1 - fraction)^r) and no
    ``device`` column, which sweep rows have. Rows cached before them are read as they are, never retrained, with
    the config's fraction and device 'unknown', in the new rows' column order."""
    cfg = PruneConfig(with_sweep(CFG, widths=(4,), sizes=(128,), steps=30).sweep, rounds=2, rewind_step=5,
                      fraction=0.3)
    new = run_prune(cfg, progress=False, cache_dir=tmp_path, device="cpu")
    assert (new["fraction"] == 0.3).all() and (new["device"] == "cpu").all()
    assert new["density"].tolist() == pytest.approx([0.7 ** r for r in range(3)], abs=1 / new["weights_prunable"][0])
    cols = list(new.columns)
    assert cols.index("fraction") == cols.index("rewind_step") + 1 and cols[-1] == "device"
    (path,) = (tmp_path / "prune").glob("student-*.json")
    path.write_text(json.dumps([{k: v for k, v in row.items() if k not in ("fraction", "device")}
                                for row in json.loads(path.read_text())]))
    monkeypatch.setattr(prune_mod, "_prune_group", lambda *a, **k: pytest.fail("a cached student was trained again"))
    old = run_prune(cfg, progress=False, cache_dir=tmp_path)
    assert list(old.columns) == cols and (old["device"] == "unknown").all()
    pd.testing.assert_frame_equal(old.drop(columns="device"), new.drop(columns="device"))
    rows = json.loads(path.read_text())
    rows[1]["fraction"] = 0.2  # a row of another schedule under this key: not this student's
    path.write_text(json.dumps(rows))
    with pytest.warns(CacheWarning, match="round 1: fraction is 0.2, not 0.3"), pytest.raises(pytest.fail.Exception):
        run_prune(cfg, progress=False, cache_dir=tmp_path)


def test_the_default_cache_is_used_as_run_sweep_uses_it_and_false_stores_nothing(isolated_cache, monkeypatch,
                                                                                tmp_path):
    """helper-68 (session 24): run_prune(cache_dir=None) stored nothing, so a long study interrupted from Python
    lost every finished stack, while run_sweep(cache_dir=None) keeps them in the default cache."""
    from workbench.sweep import resolve_cache_dir

    cfg = PruneConfig(with_sweep(CFG, widths=(4,), sizes=(64,), steps=20, seeds=(7,)).sweep, rounds=1, rewind_step=2)
    first = run_prune(cfg, progress=False)
    assert prune_mod.cached_students(cfg, isolated_cache) == 1
    monkeypatch.setattr(prune_mod, "_prune_group", lambda *a, **k: pytest.fail("a cached student was trained again"))
    pd.testing.assert_frame_equal(run_prune(cfg, progress=False), first)
    with pytest.raises(pytest.fail.Exception):  # False: trains, reads nothing
        run_prune(cfg, progress=False, cache_dir=False)
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    run_prune(with_sweep(cfg, seeds=(8,)), progress=False, cache_dir=False)
    assert not list(tmp_path.rglob("*")) and prune_mod.cached_students(with_sweep(cfg, seeds=(8,)), isolated_cache) == 0
    for bad in (True, 3, ""):
        with pytest.raises(InputError, match="cache_dir must be a folder"):
            resolve_cache_dir(bad)
