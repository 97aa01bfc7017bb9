"""Known-answer tests for what no other test pinned down in the training engine's plumbing (session 29's mutation
review of sweep_adam, cache, workers, sweep, sweep_train and the students' chunked forward: 92 hand-made changes,
29 of them let through by the rest of the suite). StackAdam's eps against torch.optim.Adam, the cache's reads and
deferred signals, the workers' thread and core counts, which students share a stack, the grid's limits, the resume
bookkeeping, and chunked forward passes. Every expected value is worked out by hand (in the comment beside it) or
taken from another library, never from a run of the code under test."""

import dataclasses
import inspect
import json
import os
import signal
import warnings

import pytest
import torch

from workbench import students as students_mod
from workbench import sweep as sweep_mod
from workbench import sweep_train as st
from workbench import workers as workers_mod
from workbench.cache import atomic_write, config_mismatch, deferred_interrupts, read_cached, remove_stale_temps
from workbench.errors import CacheWarning, InputError
from workbench.students import StudentSpec, init_params, shared_chunk, stack_params
from workbench.sweep import SweepConfig, groups, read_row, run_grids, run_sweep
from workbench.sweep_adam import StackAdam
from workbench.sweep_train import RunConfig, _Batches, data_seed, split_means, train_stack
from workbench.tasks import TaskConfig, make_task
from workbench.workers import check_workers, cpu_cores, each_result

SMALL = TaskConfig(name="teacher-regression", pool_size=1024, val_size=64, test_size=64)


# ---------------------------------------------------------------------------------------------- sweep_adam.py

@pytest.mark.parametrize("fused", [True, False])
def test_stack_adam_first_step_with_a_gradient_the_size_of_eps_moves_half_the_lr(fused):
    # Adam's first step (Kingma & Ba, alg. 1, as torch.optim.Adam writes it): m_hat = g, v_hat = g^2, so the
    # update is -lr * g / (|g| + eps). With |g| = eps = 1e-8 it is -lr/2 * sign(g). Without eps it would be
    # -lr * sign(g); with eps added before the bias correction, -lr / (1 + 1/sqrt(1 - 0.999)) = -0.0307 lr.
    p = torch.zeros(3, 2)
    opt = StackAdam([p], lr=0.1)
    opt._fused = opt._fused and fused
    g = torch.tensor([[1e-8, -1e-8], [1e-8, 1e-8], [-1e-8, -1e-8]])
    opt.step([g])
    torch.testing.assert_close(p, -0.05 * torch.sign(g), rtol=1e-5, atol=0)


@pytest.mark.parametrize("fused", [True, False])
def test_stack_adam_equals_torch_adam_on_a_stack_of_tiny_gradients(fused):
    # the reference is another library call: torch.optim.Adam (single-tensor path), one per stacked tensor,
    # with gradients from 1e-9 to 1e-6 (where eps's placement decides the step) over 5 steps
    gen = torch.Generator().manual_seed(1)
    p0 = [torch.randn(3, 4, 2, generator=gen), torch.randn(3, 5, generator=gen)]  # a stack of S = 3 students
    grads = [[torch.randn(p.shape, generator=gen) * 10.0 ** -(6 + (t + i) % 4) for i, p in enumerate(p0)]
             for t in range(5)]
    ref = [p.clone().requires_grad_() for p in p0]
    opt = torch.optim.Adam(ref, lr=0.01, foreach=False)
    mine = StackAdam([p.clone() for p in p0], lr=0.01)
    mine._fused = mine._fused and fused
    for gs in grads:
        for r, g in zip(ref, gs):
            r.grad = g.clone()
        opt.step()
        mine.step(gs)
    for a, b in zip(mine.params, ref):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------- cache.py

def test_a_missing_cache_file_is_none_without_a_warning(tmp_path):
    # a cold cache is the normal case: read_cached says None and warns of nothing (a missing file is no damage)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_cached(tmp_path / "absent.json", lambda value: None) is None
        assert read_row(tmp_path, RunConfig(SMALL, width=4, n=64)) is None


def _read_for_the_caller(path):
    return read_cached(path, lambda value: "not the entry asked for")  # default stacklevel 3


def test_a_cache_warning_names_the_line_that_called_the_reader(tmp_path):
    # stacklevel 3 (documented): the frame above the function that called read_cached, i.e. this test's line
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.warns(CacheWarning, match="not the entry asked for") as record:
        line = inspect.currentframe().f_lineno + 1
        assert _read_for_the_caller(path) is None
    assert record[0].filename == __file__ and record[0].lineno == line


def test_a_temp_left_by_a_killed_writer_is_one_remove_stale_temps_clears(tmp_path):
    # the temp file atomic_write makes is what remove_stale_temps looks for: aged two hours, it is removed (and
    # the write it belonged to can then not finish)
    with pytest.raises(FileNotFoundError):
        with atomic_write(tmp_path / "row.json") as tmp:
            tmp.write_text("half")
            os.utime(tmp, (tmp.stat().st_mtime - 7200,) * 2)
            assert remove_stale_temps(tmp_path) == 1 and not tmp.exists()
    assert list(tmp_path.iterdir()) == []


def test_config_mismatch_compares_tuples_as_json_stores_them():
    # a row read from JSON holds lists where the config had tuples: the docstring says they are the same value
    assert config_mismatch({"a": [1, 2], "x": 1.5}, {"a": (1, 2)}, ("x",)) is None
    assert config_mismatch({"a": [1, 3], "x": 1.5}, {"a": (1, 2)}, ("x",)) == "a is [1, 3], not [1, 2]"


def test_deferred_interrupts_delivers_the_first_signal_held_after_the_block():
    class Stop(Exception):
        pass

    got = []

    def on_int(signum, frame):
        got.append("INT")
        raise Stop("int")

    def on_term(signum, frame):
        got.append("TERM")
        raise Stop("term")

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, on_term)
    try:
        with pytest.raises(Stop, match="term"):
            with deferred_interrupts():
                signal.raise_signal(signal.SIGTERM)  # first: the one delivered
                signal.raise_signal(signal.SIGINT)
                got.append("block ended")
        assert got == ["block ended", "TERM"]
        assert signal.getsignal(signal.SIGINT) is on_int and signal.getsignal(signal.SIGTERM) is on_term
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# ---------------------------------------------------------------------------------------------- workers.py

def test_the_largest_worker_count_is_allowed_and_one_more_is_refused():
    assert check_workers(1024) == 1024 and check_workers(0) == 0
    with pytest.raises(InputError, match="got 1025"):
        check_workers(1025)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this OS")
def test_cpu_cores_counts_the_affinity_mask_not_the_machine(monkeypatch):
    monkeypatch.setattr(workers_mod.os, "sched_getaffinity", lambda pid: {3})  # as `taskset -c 3` would leave it
    assert cpu_cores() == 1


def _torch_threads(_):
    import torch as t

    return t.get_num_threads()


def test_each_worker_runs_torch_on_the_callers_thread_count(monkeypatch):
    # 2 threads in the caller, 4 cores pretended: 2 workers of 2 threads each fit; each job must see 2 threads
    # (a loky worker's own default is 1 here: OMP_NUM_THREADS=1 and loky's per-worker limit)
    monkeypatch.setattr(workers_mod, "cpu_cores", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = dict(each_result(_torch_threads, [(0,), (1,)], workers=2))
    finally:
        torch.set_num_threads(before)
    assert got == {0: 2, 1: 2}


# ---------------------------------------------------------------------------------------------- sweep_train.py

def test_students_differing_only_in_n_start_from_the_same_init():
    # the documented recipe: init seeded by (shape, seed) only; steps=0 returns the starting parameters
    task = make_task(SMALL)
    a = RunConfig(SMALL, width=4, depth=1, n=64, seed=3, steps=5, batch_size=8)
    same = train_stack(task, [a, dataclasses.replace(a, n=1024)], steps=0).params
    assert all(torch.equal(v[0], v[1]) for v in same.values())
    other = train_stack(task, [a, dataclasses.replace(a, seed=4)], steps=0).params
    assert not torch.equal(other["w0"][0], other["w0"][1])


def test_minibatch_indices_follow_one_seeded_randint_stream():
    # the documented recipe: a generator seeded with data_seed, drawing (steps, batch_size) indices in [0, n) with
    # torch.randint, step-major (pins the stream of cached rows; INDEX_CHUNK itself is not observable on a CPU
    # generator, which draws the same values in one call of 64 steps as in two of 32)
    run = RunConfig(SMALL, width=4, n=50, seed=2, batch_size=5)
    gen = torch.Generator().manual_seed(data_seed(run))
    first, second = (torch.randint(50, (64, 5), generator=gen) for _ in range(2))
    batches = _Batches([run], "cpu")
    got = [batches.at(step)[0] for step in range(66)]
    assert all(torch.equal(got[k], first[k]) for k in range(64))
    assert torch.equal(got[64], second[0]) and torch.equal(got[65], second[1])


def test_minibatch_seed_holds_n_batch_size_and_seed():
    a = RunConfig(SMALL, width=4, n=64, seed=0, batch_size=8)
    seeds = {data_seed(a)} | {data_seed(dataclasses.replace(a, **c)) for c in ({"n": 65}, {"batch_size": 9}, {"seed": 1})}
    assert len(seeds) == 4


# ---------------------------------------------------------------------------------------------- sweep.py

def test_students_with_another_lr_or_step_budget_are_never_stacked_together(tmp_path):
    base = RunConfig(SMALL, width=4, depth=1, n=64, seed=0, steps=4, batch_size=8, lr=1e-3)
    apart = [base, dataclasses.replace(base, lr=1e-2), dataclasses.replace(base, steps=6)]
    assert groups(apart) == [[r] for r in apart]
    together = [base, dataclasses.replace(base, n=128), dataclasses.replace(base, seed=1)]  # n, seed: one stack
    assert groups(together) == [together]
    table = run_sweep(apart, cache_dir=tmp_path, progress=False, device="cpu")
    assert list(table["group_size"]) == [1, 1, 1] and list(table["lr"]) == [1e-3, 1e-2, 1e-3]


def test_a_key_with_more_students_than_max_group_is_cut_into_full_stacks_in_order():
    runs = [RunConfig(SMALL, width=4, n=64, seed=s) for s in range(5)]
    assert groups(runs, max_group=2) == [runs[0:2], runs[2:4], runs[4:5]]
    assert groups(runs, max_group=5) == [runs]


def test_grid_limits_are_inclusive_and_one_past_them_is_refused():
    ok = dict(task=SMALL, sizes=(64,))
    SweepConfig(**ok, widths=(65536,)).validate()  # an MLP 20-65536-1 has 1.4e6 parameters, under 2**30
    SweepConfig(**ok, steps=10 ** 9, batch_size=2 ** 20).validate()
    for change, message in [({"widths": (65537,)}, "widths must be <= 65536; got 65537"),
                            ({"steps": 10 ** 9 + 1}, "steps must be <= 1000000000; got 1000000001"),
                            ({"batch_size": 2 ** 20 + 1}, "batch_size must be <= 1048576; got 1048577")]:
        with pytest.raises(InputError, match=message):
            SweepConfig(**ok, **change).validate()


def test_an_unknown_lr_schedule_is_refused_before_training():
    with pytest.raises(InputError, match="lr_schedule must be one of constant, cosine, wsd; got 'linear'"):
        SweepConfig(task=SMALL, sizes=(64,), lr_schedule="linear").validate()


def test_a_row_whose_lr_schedule_was_changed_is_not_used(tmp_path):
    cfg = SweepConfig(task=SMALL, widths=(4,), sizes=(64,), steps=3, batch_size=8)
    run_sweep(cfg, cache_dir=tmp_path, progress=False, device="cpu")
    (run,) = cfg.runs()
    path = tmp_path / "sweep" / f"{run.key()}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "lr_schedule": "cosine"}))  # key left as it was
    with pytest.warns(CacheWarning, match="lr_schedule is 'cosine', not 'constant'"):
        assert read_row(tmp_path, run) is None


def test_a_rows_seconds_is_its_stacks_time_over_the_stack_size(monkeypatch):
    real = sweep_mod.train_stack

    def six_seconds(task, group, device):
        res = real(task, group, device)
        res.seconds = 6.0
        return res

    monkeypatch.setattr(sweep_mod, "train_stack", six_seconds)
    cfg = SweepConfig(task=SMALL, widths=(4,), sizes=(64, 128), steps=3, batch_size=8)  # one stack of two
    table = run_sweep(cfg, cache_dir=False, progress=False, device="cpu")
    assert list(table["group_size"]) == [2, 2] and list(table["seconds"]) == [3.0, 3.0]
    # and each row counts its own training FLOPs, not its stack's: MLP 20-4-1 has 20*4 + 4 = 84 MACs,
    # 6 * 84 * (3 steps x 8 examples) = 12096
    assert list(table["flops_train"]) == [12096, 12096]


def test_a_stack_is_retrained_whole_only_when_every_cached_member_names_its_size(tmp_path):
    kw = dict(task=SMALL, widths=(4,), steps=3, batch_size=8)
    run_sweep(SweepConfig(**kw, sizes=(64, 128, 256)), cache_dir=tmp_path, progress=False, device="cpu")  # size 3
    run_sweep(SweepConfig(**kw, sizes=(512,)), cache_dir=tmp_path, progress=False, device="cpu")  # size 1
    # stack (64, 512, 1024): 64 was cached by a stack of 3, 512 by a stack of 1 -- not every cached member says 3,
    # so this is no killed stack of this grid: only 1024 trains, alone
    table = run_sweep(SweepConfig(**kw, sizes=(64, 512, 1024)), cache_dir=tmp_path, progress=False, device="cpu")
    assert list(table["n"]) == [64, 512, 1024] and list(table["group_size"]) == [3, 1, 1]


def test_a_stack_retrained_whole_counts_its_full_size_for_the_next_grid_of_the_same_call(tmp_path):
    kw = dict(task=SMALL, widths=(4,), steps=3, batch_size=8)
    first = SweepConfig(**kw, sizes=(64, 128))
    run_sweep(first, cache_dir=tmp_path, progress=False, device="cpu")
    (tmp_path / "sweep" / f"{first.runs()[1].key()}.json").unlink()  # killed between the stack's two writes
    second = SweepConfig(**kw, sizes=(128, 256))
    # as one grid after the other: `first` retrains its stack of 2 whole, so 128's row says 2; `second`'s stack of 2
    # then holds a member cached by a stack of 2 (the rule for a killed stack) and is trained whole: 256 says 2 too
    _, table = run_grids([first, second], tmp_path, device="cpu", progress=False)
    assert list(table["n"]) == [128, 256] and list(table["group_size"]) == [2, 2]


def test_worker_processes_take_the_costliest_stack_first(monkeypatch):
    seen = {}

    def in_order(fn, args, workers, order):
        seen["order"] = order
        for i in order:
            yield i, fn(*args[i])

    monkeypatch.setattr(sweep_mod, "each_result", in_order)
    monkeypatch.setattr(sweep_mod, "worker_count", lambda workers, jobs: 2)
    cfg = SweepConfig(task=SMALL, widths=(4, 64), sizes=(64,), steps=2, batch_size=8)  # stacks: width 4, width 64
    run_sweep(cfg, cache_dir=False, progress=False, device="cpu", workers=2)
    assert seen["order"] == [1, 0]  # width 64 (20*64 + 64 MACs) before width 4 (20*4 + 4)


# ---------------------------------------------------------------------------------------------- students.py

def test_shared_chunk_by_hand():
    # rows per pass = 2**24 // (S * max(width * per_unit, in_dim)), clamped to [64, 8192]; per_unit: mlp 1,
    # cnn in_dim, gru 8 * in_dim
    assert shared_chunk(StudentSpec("gru", 40, 10, 6, 1), 64) == 2 ** 24 // (64 * 6 * 8 * 40) == 136
    assert shared_chunk(StudentSpec("gru", 40, 10, 64, 1), 64) == 64  # 2**24 // (64 * 64 * 320) = 12 -> 64
    assert shared_chunk(StudentSpec("cnn", 40, 10, 25, 3), 16) == 2 ** 24 // (16 * 25 * 40) == 1048
    assert shared_chunk(StudentSpec("mlp", 20, 1, 8, 1), 1) == 8192  # 2**24 // 20 -> 8192


def test_forward_shared_passes_chunk_rows_at_a_time_and_concatenates_in_order(monkeypatch):
    spec = StudentSpec("mlp", 3, 2, 4, 1)
    params = stack_params([init_params(spec, torch.Generator().manual_seed(i)) for i in range(2)])
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(5))
    sizes = []
    real = students_mod.forward
    monkeypatch.setattr(students_mod, "forward", lambda sp, p, xb: sizes.append(xb.shape[1]) or real(sp, p, xb))
    out = students_mod.forward_shared(spec, params, x, chunk=3)
    assert sizes == [3, 3, 3, 1]
    # by hand: student s is relu(x W0_s + b0_s) W1_s + b1_s, on every row
    expected = torch.stack([torch.relu(x @ params["w0"][s] + params["b0"][s]) @ params["w1"][s] + params["b1"][s]
                            for s in range(2)])
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_a_chunked_split_averages_a_prefix_longer_than_the_split_over_every_row(monkeypatch):
    spec = StudentSpec("mlp", 3, 1, 4, 1)
    params = stack_params([init_params(spec, torch.Generator().manual_seed(0))])
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randn(40, 1, generator=torch.Generator().manual_seed(2))
    out = torch.relu(x @ params["w0"][0] + params["b0"][0]) @ params["w1"][0] + params["b1"][0]
    expected = float(((out - y) ** 2).mean())  # 40 rows, all of them in a prefix of 50
    monkeypatch.setattr(st, "EXACT_ROWS", 16)  # the chunked path
    loss, _ = split_means("regression", spec, params, x, y, [50])
    assert float(loss[0]) == pytest.approx(expected, rel=1e-5)


def test_a_list_of_runs_holding_one_run_twice_is_refused(tmp_path):
    # a repeated run trained twice in one stack and gave two rows of one student to every mean over seeds
    run = RunConfig(SMALL, width=4, n=64, steps=2, batch_size=8)
    with pytest.raises(InputError, match="holds the same run twice"):
        run_sweep([run, dataclasses.replace(run, n=128), run], cache_dir=tmp_path, progress=False, device="cpu")
    assert not (tmp_path / "sweep").exists()
