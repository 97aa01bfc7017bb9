"""Batched sweep engine: agreement with per-model training, packing, counts, cache and resume."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from dataclasses import asdict, replace

import pandas as pd
import pytest
import torch

from workbench import sweep as sweep_mod
from workbench.errors import CacheWarning, InputError
from workbench.students import StudentSpec, count_params, flops_infer, flops_train, macs_per_example
from workbench.sweep import SweepConfig, run_sweep
from workbench.sweep_train import RunConfig, lr_factor, split_means, train_single, train_stack
from workbench.tasks import TaskConfig, make_task


REG = TaskConfig(name="teacher-regression", pool_size=2048, val_size=256, test_size=1024)
CLS = TaskConfig(name="teacher-classification", pool_size=2048, val_size=256, test_size=1024)
M1D = TaskConfig(name="mnist1d", pool_size=400, val_size=100, test_size=200)


@pytest.mark.parametrize("task_cfg, family, width, depth, steps", [
    (REG, "mlp", 8, 2, 60), (CLS, "mlp", 8, 2, 60), (M1D, "cnn", 8, 2, 60),
    (M1D, "gru", 4, 1, 20),  # a Python loop over 40 time steps: fewer, smaller steps
])
def test_batched_equals_per_model_loop(task_cfg, family, width, depth, steps):
    task = make_task(task_cfg)
    runs = [RunConfig(task_cfg, family, width=width, depth=depth, n=n, seed=s, steps=steps, batch_size=32, lr=3e-3)
            for n, s in ((64, 0), (400, 0), (400, 1))]
    stacked = train_stack(task, runs).metrics
    for run, m in zip(runs, stacked):
        ref = train_single(task, run)
        for col in ("train_loss", "test_loss", "test_error"):
            assert m[col] == pytest.approx(ref[col], rel=1e-4, abs=1e-5), col


def test_student_numbers_do_not_depend_on_stack_mates_or_packing():
    task = make_task(REG)
    runs = [RunConfig(REG, width=w, depth=2, n=n, seed=0, steps=50, batch_size=64)
            for w in (4, 16) for n in (128, 1024)]
    alone = [train_stack(task, [r]).metrics[0]["test_loss"] for r in runs]
    same_width = [m["test_loss"] for w in (4, 16)
                  for m in train_stack(task, [r for r in runs if r.width == w]).metrics]
    packed = [m["test_loss"] for m in train_stack(task, runs).metrics]  # widths 4 and 16 zero-padded
    assert same_width == pytest.approx(alone, rel=1e-5)
    assert packed == pytest.approx(alone, rel=1e-5)
    assert len(set(alone)) == 4  # the students really differ


def test_parameter_and_flop_counts_known_answers():
    mlp = StudentSpec("mlp", 20, 1, 32, 1)
    assert count_params(mlp) == 20 * 32 + 32 + 32 + 1
    assert macs_per_example(mlp) == 20 * 32 + 32
    assert flops_infer(mlp) == 2 * 672 and flops_train(mlp, 1000) == 6 * 672 * 1000
    cnn = StudentSpec("cnn", 40, 10, 25, 3)  # Greydanus 2020 MNIST-1D CNN
    assert count_params(cnn) == (25 * 5 + 25) + 2 * (25 * 25 * 3 + 25) + (125 * 10 + 10)
    # feature lengths 40 -> 19 -> 10 -> 5
    assert macs_per_example(cnn) == 25 * 5 * 19 + 25 * 25 * 3 * 10 + 25 * 25 * 3 * 5 + 125 * 10


def test_error_goes_down_with_data_size(tmp_path):
    # lr 1e-2: at 3e-3 the n = 2048 students were still optimisation-limited on 25 of 180 task and student seed draws
    # (the ratio below up to 1.00); at 1e-2 180 of 180 passed, ratio at most 0.59 (helper-97)
    cfg = SweepConfig(task=REG, widths=(32,), depths=(1,), sizes=(32, 2048), seeds=(0, 1),
                      steps=300, batch_size=64, lr=1e-2)
    t = run_sweep(cfg, cache_dir=tmp_path, progress=False)
    err = t.groupby("n")["test_error"].mean()
    assert err[2048] < 0.7 * err[32]
    assert (t.groupby("n")["train_error"].mean()[32] < err[32])  # small n overfits


def test_resume_after_interruption_recomputes_nothing_and_matches(tmp_path, monkeypatch):
    cfg = SweepConfig(task=CLS, widths=(4, 8, 16), depths=(1,), sizes=(64, 256), seeds=(0,),
                      steps=40, batch_size=32, lr=3e-3)
    calls = []  # device pinned: on a CUDA machine widths would be packed into one stack by default
    real = sweep_mod.train_group
    monkeypatch.setattr(sweep_mod, "train_group", lambda g, d: calls.append(len(g)) or real(g, d))

    full = run_sweep(cfg, cache_dir=tmp_path / "a", progress=False, device="cpu")
    assert calls == [2, 2, 2] and len(full) == 6
    calls.clear()
    part = run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, max_new_groups=1, device="cpu")  # "killed"
    assert len(part) == 2 and calls == [2]
    calls.clear()
    resumed = run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, device="cpu")
    assert calls == [2, 2]  # only the two unfinished groups
    calls.clear()
    again = run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, device="cpu")
    assert calls == []
    pd.testing.assert_frame_equal(again, resumed)
    timing = ["seconds"]
    pd.testing.assert_frame_equal(resumed.drop(columns=timing), full.drop(columns=timing))
    assert not list((tmp_path / "b" / "sweep").glob(".tmp-*"))


DAMAGE = {  # what a crash, a full disk, a hand edit or a copied file can leave in a cache entry
    "garbage": lambda path, other: path.write_text("not json {"),
    "empty": lambda path, other: path.write_bytes(b""),
    "truncated": lambda path, other: path.write_text(path.read_text()[:100]),
    "not-utf8": lambda path, other: path.write_bytes(b"\xff\xfe\x00"),
    "a-list": lambda path, other: path.write_text("[]"),
    "a-column-missing": lambda path, other: path.write_text(json.dumps(
        {k: v for k, v in json.loads(path.read_text()).items() if k != "test_error"})),
    "a-null-error": lambda path, other: path.write_text(json.dumps({**json.loads(path.read_text()), "test_error": None})),
    "another-configs-row": lambda path, other: path.write_bytes(other.read_bytes()),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_row_is_trained_again_with_a_warning_never_used(tmp_path, damage):
    # before: garbage, an empty or a truncated file crashed every rerun (JSONDecodeError), and a list, a row
    # without a column or another configuration's row (width 8 under width 4's key) went into the table unsaid
    cfg = SweepConfig(task=REG, widths=(4, 8), sizes=(64,), steps=10, batch_size=16)
    first = run_sweep(cfg, cache_dir=tmp_path, progress=False, device="cpu")
    run4, run8 = cfg.runs()
    path, other = (tmp_path / "sweep" / f"{r.key()}.json" for r in (run4, run8))
    DAMAGE[damage](path, other)
    with pytest.warns(CacheWarning, match=f"ignoring the cache file {path}"):
        again = run_sweep(cfg, cache_dir=tmp_path, progress=False, device="cpu")
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), first.drop(columns="seconds"))
    assert json.loads(path.read_text())["key"] == run4.key()  # replaced by the retrained row
    assert sweep_mod.cached_count(cfg.runs(), tmp_path) == 2


def test_the_cli_names_a_damaged_cache_row_in_one_line_and_retrains_it(tmp_path, capsys):
    from workbench.cli import main

    args = ["sweep", "--task", "teacher-regression", "--widths", "4", "--sizes", "64", "--steps", "10",
            "--pool-size", "256", "--val-size", "64", "--test-size", "64", "--no-progress",
            "--out", str(tmp_path / "s.csv"), "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 0
    (row,) = (tmp_path / "c" / "sweep").glob("*.json")
    row.write_text('{"task": "teacher-regr')  # cut off mid-write
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: ignoring the cache file {row} (unreadable: JSONDecodeError: ")
    assert err.endswith("); computing it again\n") and err.count("\n") == 1
    assert json.loads(row.read_text())["width"] == 4


def test_a_stack_killed_between_its_row_writes_is_trained_whole_again_and_only_its_missing_row_written(tmp_path):
    # before: a run killed (SIGKILL) after the first of a stack's two row files left one row; the rerun trained the
    # other alone (group_size 1, not 2, and float-rounding differences), unlike an uninterrupted run
    cfg = SweepConfig(task=CLS, widths=(4,), sizes=(64, 256), steps=20, batch_size=16)  # one stack of two
    full = run_sweep(cfg, cache_dir=tmp_path / "a", progress=False, device="cpu")
    run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, device="cpu")
    first, second = (tmp_path / "b" / "sweep" / f"{r.key()}.json" for r in cfg.runs())
    second.unlink()  # as if killed between the two writes
    os.utime(first, (0, 0))
    resumed = run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, device="cpu")
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), full.drop(columns="seconds"))
    assert first.stat().st_mtime == 0 and second.exists()  # the cached row is kept, not written again
    # a row cached by a smaller stack (another grid) is not a killed stack: only the missing student trains
    grown = SweepConfig(task=CLS, widths=(4,), sizes=(64, 256, 512), steps=20, batch_size=16)
    table = run_sweep(grown, cache_dir=tmp_path / "b", progress=False, device="cpu")
    assert list(table["group_size"]) == [2, 2, 1]


def test_ctrl_c_while_a_stack_is_written_keeps_all_of_its_rows(tmp_path, monkeypatch):
    # before: Ctrl-C between the rows of one stack kept only the first row; the rerun trained the other alone
    # (group_size 1, not 2; a CNN's losses then differ by float rounding), unlike an uninterrupted run
    cfg = SweepConfig(task=CLS, widths=(4,), sizes=(64, 256), steps=20, batch_size=16)  # one stack of two
    full = run_sweep(cfg, cache_dir=tmp_path / "a", progress=False, device="cpu")
    real = sweep_mod.write_json_atomic

    def write_then_ctrl_c(path, obj):
        real(path, obj)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C just after each row is written

    monkeypatch.setattr(sweep_mod, "write_json_atomic", write_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, device="cpu")
    assert len(list((tmp_path / "b" / "sweep").glob("*.json"))) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    monkeypatch.setattr(sweep_mod, "write_json_atomic", real)
    resumed = run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, device="cpu")
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), full.drop(columns="seconds"))


def test_packed_sweep_groups_every_width_and_matches_the_unpacked_one(tmp_path):
    cfg = SweepConfig(task=CLS, widths=(4, 8, 16), depths=(1,), sizes=(64, 256), seeds=(0,),
                      steps=40, batch_size=32, lr=3e-3)
    plain = run_sweep(cfg, cache_dir=tmp_path / "a", progress=False, device="cpu")
    packed = run_sweep(cfg, cache_dir=tmp_path / "b", progress=False, device="cpu", pack_widths=True)
    assert (packed.group_size == 6).all() and (plain.group_size == 2).all()
    assert packed.test_loss.to_numpy() == pytest.approx(plain.test_loss.to_numpy(), rel=1e-5)


def test_table_has_every_config_and_measured_column(tmp_path):
    cfg = SweepConfig(task=REG, widths=(4,), sizes=(64,), steps=5, batch_size=16, early_stopping=True,
                      eval_every=2)
    t = run_sweep(cfg, cache_dir=tmp_path, progress=False)
    for col in ("task", "task_intrinsic_dim", "task_label_noise", "family", "width", "depth", "n", "seed",
                "steps", "batch_size", "lr", "params", "flops_train", "flops_infer", "train_error",
                "train_loss", "val_error", "val_loss", "test_error", "test_loss", "seconds", "best_step"):
        assert col in t.columns, col
    assert t.loc[0, "best_step"] in (0, 2, 4, 5)
    changed = SweepConfig(task=REG, widths=(4,), sizes=(64,), steps=6, batch_size=16)
    assert changed.runs()[0].key() != cfg.runs()[0].key()


def test_early_stopping_keeps_the_best_validation_parameters():
    noisy = TaskConfig(name="teacher-classification", pool_size=256, val_size=512, test_size=512,
                       label_noise=0.4)
    task = make_task(noisy)
    base = dict(width=128, depth=2, n=64, steps=300, batch_size=64, lr=1e-2, eval_every=10)
    late = train_stack(task, [RunConfig(noisy, **base)]).metrics[0]
    best = train_stack(task, [RunConfig(noisy, **base, early_stopping=True)]).metrics[0]
    assert best["best_step"] < 300  # 64 noisy labels: the net overfits, validation loss turns up
    assert best["val_loss"] < late["val_loss"]
    assert best["best_step"] % 10 == 0


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_lr_schedule_batched_equals_per_model_loop_and_constant_key_is_unchanged(schedule):
    task = make_task(REG)
    runs = [RunConfig(REG, "mlp", width=8, depth=2, n=n, seed=s, steps=60, batch_size=32, lr=3e-2,
                      lr_schedule=schedule) for n, s in ((64, 0), (400, 0), (400, 1))]
    stacked = train_stack(task, runs).metrics
    constant = train_stack(task, [replace(r, lr_schedule="constant") for r in runs]).metrics
    for run, m, c in zip(runs, stacked, constant):
        ref = train_single(task, run)
        for col in ("train_loss", "test_loss", "test_error"):
            assert m[col] == pytest.approx(ref[col], rel=1e-4, abs=1e-5), col
        # the schedule really acts: over 300 students (helper-97) the two losses were >= 3.2e-4 apart (relative; wsd
        # decays only the last 20% of steps, so 1e-3 failed 3 of 50 task seeds); a schedule that does nothing is equal
        assert m["test_loss"] != pytest.approx(c["test_loss"], rel=1e-5)
    # constant-lr keys are the ones computed before lr_schedule existed (cached rows stay valid)
    run = RunConfig(REG, width=8, n=64, steps=60, batch_size=32, lr=3e-3)
    old = {"v": 1, **{k: v for k, v in asdict(run).items() if k != "lr_schedule"}}
    assert run.key() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:24]
    assert replace(run, lr_schedule=schedule).key() != run.key()
    assert replace(run, lr_schedule=schedule).group_key() != run.group_key()
    with pytest.raises(InputError, match="lr_schedule.*'linear'"):
        SweepConfig(task=REG, lr_schedule="linear").validate()


def test_wsd_holds_the_lr_then_decays_it_linearly_over_the_last_fifth():
    f = [lr_factor("wsd", t, 100) for t in range(100)]
    assert f[:80] == [1.0] * 80  # stable phase
    assert f[80] == 1.0 and f[90] == pytest.approx(0.5) and f[99] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(f[80:], f[81:]))  # strictly decreasing in the decay phase
    assert lr_factor("cosine", 0, 100) == 1.0 and lr_factor("cosine", 50, 100) == pytest.approx(0.5)


def test_cli_lr_schedule_flag_writes_the_column_and_rejects_bad_values(tmp_path, capsys):
    from workbench.cli import main

    args = ["sweep", "--task", "teacher-regression", "--widths", "4", "--sizes", "32", "--steps", "10",
            "--batch-size", "16", "--pool-size", "64", "--val-size", "32", "--test-size", "64",
            "--no-progress", "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]
    assert main(args + ["--lr-schedule", "warmup"]) == 2
    err = capsys.readouterr().err
    assert "--lr-schedule" in err and "'warmup'" in err and not (tmp_path / "x.csv").exists()
    assert main(args + ["--lr-schedule", "cosine"]) == 0
    assert list(pd.read_csv(tmp_path / "x.csv")["lr_schedule"]) == ["cosine"]
    assert main(args) == 0  # constant: no lr_schedule column, as before the flag existed
    assert "lr_schedule" not in pd.read_csv(tmp_path / "x.csv").columns


def test_cache_key_versions():
    """MLP classification rows carry key version 5, 6 with label noise (their gradients changed by float rounding
    twice: the softmax, then the head's weight gradient); regression rows keep version 1 and CNN rows theirs (1, or 4
    with label noise), so their cached rows stay valid."""
    def key_with(run, version):
        fields = {k: v for k, v in asdict(run).items() if k != "lr_schedule"}
        return hashlib.sha256(json.dumps({"v": version, **fields}, sort_keys=True).encode()).hexdigest()[:24]

    # v4: classification label noise drawn row by row (session 14; v3 was real-task noise, applied from session 5)
    noisy_m1d, noisy_cls = replace(M1D, label_noise=0.1), replace(CLS, label_noise=0.1)
    noisy_reg = replace(REG, label_noise=0.1)  # regression noise was always nested: its key is unchanged
    for task_cfg, family, version in ((CLS, "mlp", 5), (M1D, "mlp", 5), (REG, "mlp", 1), (M1D, "cnn", 1),
                                      (noisy_m1d, "cnn", 4), (noisy_m1d, "mlp", 6), (noisy_cls, "mlp", 6),
                                      (noisy_reg, "mlp", 1)):
        run = RunConfig(task_cfg, family, width=8, n=64, steps=60, batch_size=32)
        assert run.key() == key_with(run, version), (task_cfg.name, family)


def test_numbers_of_another_type_give_the_same_students_and_cache_key():
    """A config's repr seeds its minibatches and its JSON keys its cache: label_noise=0 (an int) or a width
    of 8.0 or np.int64(8) trained other students than 0.0 and 8, under another key (np.int64 could not be
    keyed at all). Each field now takes its declared type; canonical configs keep their keys."""
    import numpy as np

    from workbench.sweep_train import data_seed

    plain = RunConfig(REG, width=8, n=64, seed=1, steps=60, batch_size=32, lr=3e-3)
    odd_task = replace(REG, label_noise=0, seed=np.int64(REG.seed), intrinsic_dim=float(REG.intrinsic_dim))
    odd = RunConfig(odd_task, width=np.int64(8), n=64.0, seed=np.int64(1), steps=60.0, batch_size=32,
                    lr=np.float64(3e-3))
    assert odd == plain and odd.key() == plain.key() and data_seed(odd) == data_seed(plain)
    assert type(odd.task.label_noise) is float and type(odd.width) is int and type(odd.lr) is float
    old = {"v": 1, **{k: v for k, v in asdict(plain).items() if k != "lr_schedule"}}
    assert plain.key() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:24]
    grid = SweepConfig(task=odd_task, widths=[8.0, np.int64(16)], sizes=(np.int64(64),), steps=60.0)
    assert grid.widths == (8, 16) and [type(w) for w in grid.widths] == [int, int]
    assert grid.runs()[0].key() == replace(plain, seed=0, batch_size=256, lr=1e-3).key()
    with pytest.raises(InputError, match="widths must be integers >= 1; got 8.5"):
        SweepConfig(task=REG, widths=(8.5,)).validate()  # not whole: left for validate to name


def test_sweep_progress_can_be_a_bar_factory_such_as_the_notebooks_one(tmp_path):
    import io

    from tqdm.std import tqdm

    made, text = [], io.StringIO()

    def factory(iterable, **kw):  # as workbench.report.progress(None, interactive=..., total=...)
        assert iterable is None
        made.append(tqdm(iterable, file=text, **kw))
        return made[-1]

    cfg = SweepConfig(task=REG, widths=(4, 8), sizes=(64,), steps=20, batch_size=16)  # two stacks
    run_sweep(cfg, cache_dir=tmp_path, progress=factory)
    (bar,) = made
    assert (bar.total, bar.n, bar.desc, bar.unit) == (2, 2, "sweep", "student")
    assert "sweep: 100%" in text.getvalue()
    run_sweep(cfg, cache_dir=tmp_path, progress=factory)  # all cached: a bar of 0
    assert made[-1].total == 0


def test_stack_adam_falls_back_only_when_the_kernel_is_missing(monkeypatch):
    import torch

    from workbench.sweep_adam import StackAdam

    torch.manual_seed(0)
    p, g = torch.randn(3, 4), torch.randn(3, 4)
    fused, textbook = StackAdam([p.clone()], lr=1e-2), StackAdam([p.clone()], lr=1e-2)
    textbook._fused = False
    for _ in range(3):
        fused.step([g])
        textbook.step([g])
    assert torch.allclose(fused.params[0], textbook.params[0], atol=1e-6)  # the same maths

    def missing(*args, **kwargs):
        raise RuntimeError("no kernel for this device")
    monkeypatch.setattr(torch, "_fused_adam_", missing)
    opt = StackAdam([torch.zeros(2)], lr=1e-2)
    opt.step([torch.ones(2)])
    assert not opt._fused and opt.params[0][0] < 0  # fell back and still stepped

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")
    monkeypatch.setattr(torch, "_fused_adam_", out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):  # a real failure is never hidden behind the slow path
        StackAdam([torch.zeros(2)], lr=1e-2).step([torch.ones(2)])


def test_stack_adam_applies_a_gradient_with_other_strides_to_the_right_entries():
    # autograd.grad through a permute (the GRU forward's recurrent weights) returns a permuted view; the
    # fused kernel applied it in memory order, updating the wrong entries
    import torch

    from workbench.sweep_adam import StackAdam

    p, g = torch.randn(3, 4), torch.randn(4, 3).T
    ref = p.clone().requires_grad_()
    ref.grad = g.contiguous()
    torch.optim.Adam([ref], lr=0.1).step()
    StackAdam([p], 0.1).step([g])
    torch.testing.assert_close(p, ref.detach())


def test_training_runs_with_cudnn_tf32_off_and_restores_the_flags():
    import torch

    from workbench.sweep_train import exact_cudnn

    seen = {}
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)

    @exact_cudnn
    def probe(x):
        seen.update(tf32=torch.backends.cudnn.allow_tf32, det=torch.backends.cudnn.deterministic,
                    bench=torch.backends.cudnn.benchmark)
        return x + 1

    assert probe(1) == 2 and probe.__name__ == "probe"
    assert seen == {"tf32": False, "det": True, "bench": False}
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark) == before
    assert getattr(train_stack, "__wrapped__", None) is not None  # the engine and the loop both run under it
    assert getattr(train_single, "__wrapped__", None) is not None


@pytest.mark.parametrize("task_cfg", [REG, CLS])
def test_a_split_scored_in_chunks_matches_one_piece(task_cfg, monkeypatch):
    import workbench.sweep_train as st

    task = make_task(task_cfg)
    runs = [RunConfig(task_cfg, width=8, depth=1, n=n, seed=s, steps=20, batch_size=32) for n, s in ((100, 0), (2048, 1))]
    res = train_stack(task, runs)
    spec = st.stack_spec(runs, task)
    ns = [r.n for r in runs]
    whole = [split_means(task.kind, spec, res.params, task.x_pool, task.y_pool, ns),
             split_means(task.kind, spec, res.params, task.x_test, task.y_test)]
    monkeypatch.setattr(st, "EXACT_ROWS", 16)
    monkeypatch.setattr(st, "shared_chunk", lambda spec, s: 100)  # 100-row chunks, the last one partial
    chunked = [split_means(task.kind, spec, res.params, task.x_pool, task.y_pool, ns),
               split_means(task.kind, spec, res.params, task.x_test, task.y_test)]
    for (loss, err), (loss_c, err_c) in zip(whole, chunked):
        torch.testing.assert_close(loss_c, loss, rtol=1e-6, atol=0)
        torch.testing.assert_close(err_c, err, rtol=1e-6, atol=0)
    assert float(whole[0][0][0]) != float(whole[0][0][1])  # the prefixes really differ


def test_a_large_test_set_is_scored_without_holding_every_output(tmp_path):
    """2^20 test rows and 16 students: the old whole-split labelling and scoring took 1.7 GB above the
    interpreter (the 2^24 rows the CLI allows then needed well over 24 GB); chunked, about 0.35 GB."""
    code = textwrap.dedent(f"""
        import resource
        from workbench.sweep import SweepConfig, run_sweep
        from workbench.tasks import task_config
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cfg = SweepConfig(task_config("teacher-classification", test_size=2 ** 20), widths=(32,), sizes=(256,),
                          seeds=tuple(range(16)), steps=5)
        table = run_sweep(cfg, cache_dir={str(tmp_path)!r}, device="cpu", progress=False)
        assert len(table) == 16 and table["test_error"].between(0, 1).all()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    grown_mb = int(proc.stdout.split()[-1])
    assert grown_mb < 800, f"peak memory grew by {grown_mb} MB"


@pytest.mark.parametrize("field", ["steps", "batch_size", "eval_every"])
def test_a_step_count_that_is_not_whole_is_refused(field):
    # before: steps=2.5 or batch_size=2.5 passed validate and failed inside training with a TypeError, and
    # eval_every=2.5 checked the validation loss every 5 steps (step % 2.5 == 0) unsaid
    with pytest.raises(InputError, match=f"{field} must be a positive integer; got 2.5"):
        SweepConfig(**{field: 2.5}).validate()


@pytest.mark.parametrize("field,values", [("widths", (8, 8)), ("seeds", (0, 1, 0)), ("sizes", (256, 256))])
def test_a_grid_value_listed_twice_is_refused(field, values):
    # before: every student of the repeated value came back twice, and seed_mean counted the copy as a seed
    with pytest.raises(InputError, match=f"{field} must list each value once; got {values[-1]} twice"):
        SweepConfig(**{field: values}).validate()


@pytest.mark.parametrize("field,value", [("in_dim", -3), ("in_dim", 0), ("out_dim", 0), ("width", 2.5), ("width", None)])
def test_student_spec_refuses_sizes_that_are_not_positive_integers(field, value):
    # before: in_dim=-3 gave count_params -7, in_dim=0 or out_dim=0 a network with no inputs/outputs,
    # width=2.5 a count of 16.0 params and then a TypeError in init_params
    kw = {"family": "mlp", "in_dim": 4, "out_dim": 1, "width": 8, "depth": 1, field: value}
    with pytest.raises(InputError, match=f"{field} must be a positive integer; got {value!r}"):
        StudentSpec(**kw)


@pytest.mark.parametrize("change,message", [
    ({"widths": 8}, "widths must be a list or tuple of integers; got 8"),
    ({"sizes": "256"}, "sizes must be a list or tuple of integers; got '256'"),
    ({"widths": ("a",)}, "widths must be integers >= 1; got 'a'"),
    ({"widths": (True,)}, "widths must be integers >= 1; got True"),
    ({"lr": "0.1"}, "lr must be finite and > 0; got '0.1'"),
    ({"task": "teacher-regression"}, r"task must be a TaskConfig \(from tasks.task_config\(name\)\); got 'teacher-regression'"),
    ({"steps": True}, "steps must be a positive integer; got True"),
    ({"batch_size": False}, "batch_size must be a positive integer; got False"),
])
def test_a_field_of_the_wrong_type_is_refused_by_name(change, message):
    # before: widths=8 raised "object of type 'int' has no len()", lr='0.1' a TypeError from the comparison,
    # task='teacher-regression' an AttributeError ('str' object has no attribute 'validate'), widths=('a',)
    # int()'s ValueError, and steps=True passed validation as 1 step
    with pytest.raises(InputError, match=message):
        SweepConfig(**change).validate()


def test_the_parameter_limit_counts_the_tasks_own_outputs():
    # before: the 2**30 limit was checked with 2 output units, so a 10-class student of width 32756 and depth 2
    # (1,074,003,738 parameters) passed as 1,073,741,682
    task = TaskConfig(name="teacher-classification", n_classes=10)
    spec = StudentSpec("mlp", 20, 10, 32756, 2)
    assert count_params(spec) > 2**30
    with pytest.raises(InputError, match=r"width 32756 and depth 2 has 1\.07e\+09 parameters; at most 1073741824"):
        SweepConfig(task=task, widths=(32756,), depths=(2,), sizes=(64,)).validate()
    SweepConfig(task=task, widths=(32752,), depths=(2,), sizes=(64,)).validate()  # 1,073,741,578: the largest


def test_depth_0_with_several_widths_is_refused_not_labelled_with_widths_it_does_not_have():
    # before: --widths 1,8,32 --depths 0 trained three identical-shape linear models labelled width 1, 8 and 32
    task = TaskConfig(name="teacher-regression")
    with pytest.raises(InputError, match=r"depth 0 is a linear model, which has no width: with widths \[1, 8\]"):
        SweepConfig(task=task, widths=(1, 8), depths=(0, 1), sizes=(64,)).validate()
    SweepConfig(task=task, widths=(8,), depths=(0, 1), sizes=(64,)).validate()
    SweepConfig(task=task, widths=(1, 8), depths=(1,), sizes=(64,)).validate()


def test_a_device_the_engine_cannot_use_is_named_before_training(tmp_path):
    """helper-68 (session 24): device='cpuu' was torch's 'Expected one of cpu, cuda, ... device type at start of
    device string', naming no argument; run_sweep, run_prune and build_outcomes now share one check."""
    from workbench.costtune.build import build_outcomes
    from workbench.costtune.outcomes import OutcomeConfig
    from workbench.prune import PruneConfig, run_prune
    from workbench.sweep_train import resolve_device

    cfg = SweepConfig(widths=(4,), sizes=(64,), steps=5)
    bad = ["cpuu", "mps", 3, ""] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"])
    for device in bad:
        for call in (lambda: run_sweep(cfg, cache_dir=tmp_path, device=device, progress=False),
                     lambda: run_prune(PruneConfig(cfg, rounds=1, rewind_step=1), device=device, progress=False),
                     lambda: build_outcomes(OutcomeConfig(task="mnist1d", widths=(4, 8)), device=device)):
            with pytest.raises(InputError, match=f"device.*{re.escape(repr(device))}"):
                call()
    assert not list(tmp_path.rglob("*.json"))  # nothing trained
    assert resolve_device(None) in ("cpu", "cuda") and resolve_device(torch.device("cpu")) == "cpu"
    assert len(run_sweep(cfg, cache_dir=tmp_path, device=torch.device("cpu"), progress=False)) == 1


def test_cache_dir_false_trains_and_stores_nothing(tmp_path, monkeypatch, isolated_cache):
    """cache_dir=False reads no cached row (its student trains again) and writes none, in the default cache
    or anywhere else."""
    cfg = SweepConfig(widths=(4,), sizes=(64,), steps=5, seeds=(11,))
    cached = run_sweep(cfg, cache_dir=tmp_path / "c", progress=False)
    before = sorted(isolated_cache.rglob("*.json"))
    trained = []
    real = sweep_mod.train_group
    monkeypatch.setattr(sweep_mod, "train_group", lambda group, device: trained.append(group) or real(group, device))
    monkeypatch.chdir(tmp_path / "c")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "c"))  # even where the default cache holds the row
    fresh = run_sweep(cfg, cache_dir=False, progress=False)
    assert len(trained) == 1  # trained, not read
    pd.testing.assert_frame_equal(fresh.drop(columns="seconds"), cached.drop(columns="seconds"))
    assert len(list((tmp_path / "c").rglob("*.json"))) == 1  # the first run's row only
    assert sorted(isolated_cache.rglob("*.json")) == before


def test_arguments_outside_the_grid_are_checked_before_training(tmp_path):
    """helper-69: max_group=-1 returned an empty table and max_new_groups=-1 dropped the last stack, unsaid;
    max_group=0 was range()'s ValueError; a list of RunConfig skipped every check (steps=-5 trained and was
    cached, n beyond the pool was an IndexError mid-training); early_stopping='False' turned early stopping on;
    widths as a numpy array made a config that could not be compared."""
    import numpy as np

    from workbench.prune import PruneConfig, run_prune

    cfg = SweepConfig(widths=(4,), sizes=(64,), steps=5)
    run = cfg.runs()[0]
    for kwargs, message in (({"max_group": -1}, "max_group must be a positive integer"),
                            ({"max_group": 0}, "max_group must be"), ({"max_group": 2.5}, "max_group must be"),
                            ({"max_new_groups": -1}, "max_new_groups must be None or an integer >= 0")):
        with pytest.raises(InputError, match=message):
            run_sweep(cfg, cache_dir=tmp_path, progress=False, **kwargs)
        with pytest.raises(InputError, match=message):
            run_prune(PruneConfig(cfg, rounds=1, rewind_step=1), cache_dir=tmp_path, progress=False, **kwargs)
    for bad, message in ((replace(run, steps=-5), "steps must be a positive integer"),
                         (replace(run, lr=-1.0), "lr must be finite"),
                         (replace(run, n=run.task.pool_size + 1), "sizes must be <= the task.s pool_size")):
        with pytest.raises(InputError, match=message):
            run_sweep([run, bad], cache_dir=tmp_path, progress=False)
    for grid in (None, PruneConfig(cfg)):
        with pytest.raises(InputError, match="a grid must be a SweepConfig or a list of RunConfig"):
            run_sweep(grid, cache_dir=tmp_path, progress=False)
    with pytest.raises(InputError, match="cfg must be a PruneConfig"):
        run_prune(cfg, cache_dir=tmp_path, progress=False)
    for flag in ("False", "no", 1, None):
        with pytest.raises(InputError, match=f"early_stopping must be True or False; got {flag!r}"):
            replace(cfg, early_stopping=flag).validate()
    assert replace(cfg, early_stopping=np.bool_(False)) == cfg
    assert not list(tmp_path.rglob("*.json"))  # nothing trained
    assert SweepConfig(widths=np.array([4, 8]), sizes=range(64, 129, 64)) == SweepConfig(widths=(4, 8), sizes=(64, 128))
    assert len(run_sweep(cfg, cache_dir=tmp_path, progress=False, max_group=1.0, max_new_groups=np.int64(1))) == 1


def test_a_float64_default_dtype_in_the_caller_trains_the_same_students_and_is_kept(monkeypatch):
    """helper-69: after torch.set_default_dtype(torch.float64) a sweep failed with "expected scalar type Double but
    found Float" inside the stacked backward pass."""
    from workbench import tasks
    from workbench.prune import PruneConfig, run_prune
    from workbench.tasks import task_config

    cfg = SweepConfig(task=task_config("teacher-classification", pool_size=256, val_size=64, test_size=128, seed=4242),
                      widths=(4,), sizes=(64,), steps=10)
    monkeypatch.setattr(tasks, "_CACHE", {})
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        wide = run_sweep(cfg, cache_dir=False, progress=False)
        pruned = run_prune(PruneConfig(cfg, rounds=1, rewind_step=1), cache_dir=False, progress=False)
        assert torch.get_default_dtype() == torch.float64  # the caller's, put back
    finally:
        torch.set_default_dtype(old)
    tasks._CACHE.clear()  # the task made again at float32
    assert run_sweep(cfg, cache_dir=False, progress=False)["test_loss"].tolist() == wide["test_loss"].tolist()
    assert len(pruned) == 2


def _one_output_operands(s, batch, fan_in, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(s, batch, fan_in, generator=gen).relu(), torch.randn(s, fan_in, 1, generator=gen)


def _skip_unless_the_turned_product_is_equal(s, batch, fan_in):
    h, w = _one_output_operands(s, batch, fan_in)
    if not torch.equal(torch.bmm(w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2), torch.bmm(h, w)):
        pytest.skip("this CPU sums the turned product in another order: _dense keeps the plain one")
    return h, w


def _regression_stack(gen, depth, width, s, batch):
    """A random stack of s one-output MLPs (spec, params) and a minibatch (x, y) for mlp_grads."""
    from workbench import students as st

    spec = st.StudentSpec("mlp", 20, 1, width, depth)
    dims = [20] + [width] * depth + [1]
    params = {}
    for i in range(depth + 1):
        params[f"w{i}"] = torch.randn(s, dims[i], dims[i + 1], generator=gen) / dims[i] ** 0.5
        params[f"b{i}"] = 0.1 * torch.randn(s, dims[i + 1], generator=gen)
    return spec, params, torch.randn(s, batch, 20, generator=gen), torch.randn(s, batch, 1, generator=gen)


def test_the_turned_one_output_product_is_chosen_only_when_equal_and_faster():
    """students._turned_is_faster, which lets _dense turn a one-output layer's product into (wᵀ hᵀ)ᵀ: never where the
    two products differ (NaN operands compare unequal, as another summation order would), and by measured time."""
    from workbench import students as st

    h, w = _skip_unless_the_turned_product_is_equal(6, 256, 64)
    assert st._turned_is_faster(h, w, margin=1e9)  # equal, and "faster" with any time
    assert not st._turned_is_faster(h, w, margin=0.0)  # equal, never fast enough
    h[0, 0, 0] = float("nan")
    assert not st._turned_is_faster(h, w, margin=1e9)


def _column_major_pair_that_differs():
    """Operands on which the two forms of a one-output product give different numbers on this CPU: a column-major h
    (on an AMD EPYC, 70 of 672 such shapes tried differed, all at batch 7 with fan_in >= 64), or a skip."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        h = torch.randn(2, 64, 7, generator=gen).transpose(1, 2)  # (2, 7, 64), column-major
        w = torch.randn(2, 64, 1, generator=gen)
        if not torch.equal(torch.bmm(w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2), torch.bmm(h, w)):
            return h, w
    pytest.skip("no column-major operands found on which this CPU's two products differ")


def test_the_turned_product_is_refused_where_the_two_forms_differ():
    from workbench import students as st

    h, w = _column_major_pair_that_differs()
    assert not st._turned_is_faster(h, w, margin=1e9)  # unequal on these operands: never turned, however fast
    zero = torch.zeros_like(h)  # exact either way: only the random draws of its shape and strides can tell
    assert st._turned_is_faster(zero, w, margin=1e9, draws=0)
    assert not st._turned_is_faster(zero, w, margin=1e9)


def test_dense_keeps_the_plain_product_where_it_does_not_turn(monkeypatch):
    """_dense gives bmm(h, w) itself, strides included, when the tuner says no, for a non-contiguous h even when the
    tuner would say yes (its choice is per shape, and another layout can sum in another order), for one student and for
    layers with more than one output; and it decides once per (shape, dtype, torch threads)."""
    from workbench import students as st

    def same(a, b):
        return torch.equal(a, b) and a.stride() == b.stride()

    monkeypatch.setattr(st, "_TURNED", {})
    monkeypatch.setattr(st, "_turned_is_faster", lambda h, w: False)
    h, w = _one_output_operands(3, 16, 24)
    assert same(st._dense(h, w), torch.bmm(h, w))
    monkeypatch.setattr(st, "_TURNED", {})
    monkeypatch.setattr(st, "_turned_is_faster", lambda h, w: True)
    assert st._dense(h, w).stride() != torch.bmm(h, w).stride()  # turned: the (S, 1, B) result viewed as (S, B, 1)
    cm = torch.randn(3, 24, 16).transpose(1, 2)  # the same shape as h, column-major
    assert same(st._dense(cm, w), torch.bmm(cm, w))
    one = _one_output_operands(1, 16, 24)
    assert same(st._dense(*one), torch.bmm(*one))
    wide = torch.randn(3, 24, 2)
    assert same(st._dense(h, wide), torch.bmm(h, wide))
    threads = torch.get_num_threads()
    try:
        st._dense(*_one_output_operands(3, 8, 24))
        torch.set_num_threads(1 if threads > 1 else 2)
        st._dense(h, w)
    finally:
        torch.set_num_threads(threads)
    assert set(st._TURNED) == {((3, 16, 24), torch.float32, threads), ((3, 8, 24), torch.float32, threads),
                               ((3, 16, 24), torch.float32, 1 if threads > 1 else 2)}


@pytest.mark.parametrize("batch", [1, 3, 64, 256])
def test_the_turned_one_output_product_gives_mlp_grads_the_plain_numbers(batch, monkeypatch):
    """_dense's turned product is an (S, 1, B) result viewed as (S, B, 1): every gradient computed from it, the layers
    below included, must be the plain bmm's bit for bit (the strides of a result can change the next GEMM's sums)."""
    from workbench import students as st

    _skip_unless_the_turned_product_is_equal(3, batch, 40)
    gen = torch.Generator().manual_seed(batch)
    # depth 0: the input x is turned; widths under 32 take the head gradient's plain GEMM on the turned (S, B, 1) g
    for depth, width, s in ((0, 1, 4), (1, 16, 4), (1, 128, 6), (2, 33, 3), (3, 40, 2), (2, 8, 2)):
        spec, params, x, y = _regression_stack(gen, depth, width, s, batch)
        got = {}
        for turned in (True, False):
            monkeypatch.setattr(st, "_TURNED", {})
            monkeypatch.setattr(st, "_turned_is_faster", lambda h, w, turned=turned: turned)
            got[turned] = st.mlp_grads(spec, params, x, y, "regression")
        for k in got[False]:
            assert torch.equal(got[True][k].contiguous().view(torch.int32), got[False][k].contiguous().view(torch.int32)), (
                depth, k)


def test_a_trained_regression_stack_is_the_same_with_the_turned_product_or_without(monkeypatch):
    from workbench import students as st

    _skip_unless_the_turned_product_is_equal(4, 64, 32)
    cfg = SweepConfig(task=TaskConfig(name="teacher-regression", pool_size=1024, test_size=256), widths=(32,),
                      depths=(1, 2), sizes=(128, 512), seeds=(0, 1), steps=60, batch_size=64, lr=3e-3)
    grids = (replace(cfg, widths=(16, 32)), replace(cfg, widths=(1,), depths=(0,)))  # depth 0: a linear student
    tables = {}
    for turned in (True, False):
        monkeypatch.setattr(st, "_TURNED", {})
        monkeypatch.setattr(st, "_turned_is_faster", lambda h, w, turned=turned: turned)
        tables[turned] = pd.concat([run_sweep(g, cache_dir=False, progress=False) for g in grids],
                                   ignore_index=True).drop(columns="seconds")
    pd.testing.assert_frame_equal(tables[True], tables[False], check_exact=True)
    assert tables[True]["test_loss"].nunique() == len(tables[True])  # students that trained apart


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_one_output_backprop_equals_the_gemm_bit_for_bit(batch, monkeypatch):
    """students._backprop's broadcast product for a one-output layer must give mlp_grads the numbers of the plain
    bmm, every layer below included: at batch 1 a broadcast result with other strides sent the next layer's bmm down
    another summation order (helper-79: w0 off by 4e-7)."""
    from workbench import students as st

    gen = torch.Generator().manual_seed(batch)
    for depth, width, s in ((1, 128, 6), (2, 33, 3), (3, 8, 2)):
        spec, params, x, y = _regression_stack(gen, depth, width, s, batch)
        fast = st.mlp_grads(spec, params, x, y, "regression")
        monkeypatch.setattr(st, "_backprop", lambda g, w: torch.bmm(g, w.transpose(1, 2)))
        plain = st.mlp_grads(spec, params, x, y, "regression")
        monkeypatch.undo()
        for k in plain:
            assert torch.equal(fast[k].view(torch.int32), plain[k].contiguous().view(torch.int32)), (depth, k)
