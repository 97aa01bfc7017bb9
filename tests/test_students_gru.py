"""The ``gru`` student family: shapes and counts against ``torch.nn.GRU``, the stacked forward against
per-student modules, FLOPs by hand, exact zero-padding, training against the per-model loop, and the
sweep CLI (a tiny sweep; refused on a non-sequence task, and by prune)."""

import pandas as pd
import pytest
import torch

from workbench.cli import main
from workbench.compress import CompressedStudent
from workbench.errors import InputError
from workbench.prune import macs_per_weight
from workbench.students import (StudentSpec, count_params, flops_infer, flops_train, forward, init_params,
                                macs_per_example, pad_params, param_shapes, stack_params, to_module)
from workbench.sweep import SweepConfig
from workbench.sweep_train import RunConfig, train_stack
from workbench.tasks import TaskConfig, make_task, task_config

M1D = TaskConfig(name="mnist1d", pool_size=400, val_size=100, test_size=200)
SPECS = [StudentSpec("gru", 40, 10, 6, 1), StudentSpec("gru", 7, 3, 4, 2), StudentSpec("gru", 5, 2, 3, 3)]


def students(spec: StudentSpec, k: int) -> list[dict[str, torch.Tensor]]:
    return [init_params(spec, torch.Generator().manual_seed(i)) for i in range(k)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"w{s.width}d{s.depth}")
def test_param_count_equals_the_torch_module(spec):
    module = to_module(spec, students(spec, 1)[0])
    assert isinstance(module.gru, torch.nn.GRU) and module.gru.bidirectional and module.gru.num_layers == spec.depth
    assert count_params(spec) == sum(p.numel() for p in module.parameters())


def test_greydanus_reference_gru_has_5134_parameters():
    # models.GRUBase(input_size=1, hidden_size=6, bidirectional=True) + Linear(2 * 6 * 40, 10)
    assert count_params(SPECS[0]) == 2 * 3 * (6 * 1 + 6 * 6 + 6 + 6) + (2 * 6 * 40 * 10 + 10) == 5134


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"w{s.width}d{s.depth}")
def test_stacked_forward_equals_each_students_torch_gru(spec):
    per_student = students(spec, 3)
    x = torch.randn(3, 5, spec.in_dim, generator=torch.Generator().manual_seed(7))
    out = forward(spec, stack_params(per_student), x)  # student s sees x[s]
    assert out.shape == (3, 5, spec.out_dim)
    for s, params in enumerate(per_student):
        with torch.no_grad():
            ref = to_module(spec, params)(x[s])
        torch.testing.assert_close(out[s], ref, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[0], out[1])  # the students differ


def test_init_is_uniform_within_the_torch_bounds():
    spec = StudentSpec("gru", 40, 10, 16, 2)
    params = init_params(spec, torch.Generator().manual_seed(0))
    for name, p in params.items():
        bound = (40 * 2 * 16) ** -0.5 if name in ("w2", "b2") else 16 ** -0.5  # head: nn.Linear's fan_in
        assert p.abs().max() <= bound, name
        if p.numel() >= 100:  # drawn over the whole interval, not a narrower one
            assert p.abs().max() > 0.9 * bound, name


def test_macs_and_flops_by_hand():
    spec = StudentSpec("gru", 3, 4, 2, 1)  # 3 time steps, 4 outputs, hidden 2, one bidirectional layer
    # per step and direction: input 3 gates x 2 units x 1 input, recurrent 3 x 2 x 2; head (3 * 2 * 2) x 4
    per_step = 2 * (3 * 2 * 1 + 3 * 2 * 2)  # 36
    assert macs_per_example(spec) == 3 * per_step + 12 * 4 == 156
    assert flops_infer(spec) == 312 and flops_train(spec, 10) == 6 * 156 * 10
    deep = StudentSpec("gru", 3, 4, 2, 2)  # the second layer reads both directions: 2 * 2 inputs
    assert macs_per_example(deep) == 156 + 3 * 2 * (3 * 2 * 4 + 3 * 2 * 2)
    # pruning's per-weight MACs add up to the same total
    per_weight = macs_per_weight(deep)
    assert sum(per_weight[k] * torch.Size(s).numel() for k, s in param_shapes(deep).items()
               if k in per_weight) == macs_per_example(deep)


def test_zero_padding_to_a_wider_gru_is_exact():
    narrow, wide = StudentSpec("gru", 7, 3, 3, 2), StudentSpec("gru", 7, 3, 5, 2)
    params = students(narrow, 1)[0]
    x = torch.randn(1, 4, 7)
    out = forward(narrow, stack_params([params]), x)
    padded = forward(wide, stack_params([pad_params(params, narrow, wide)]), x)
    torch.testing.assert_close(padded, out, rtol=1e-5, atol=1e-6)


def test_compression_refuses_a_gru_student():
    spec = SPECS[1]
    with pytest.raises(InputError, match="compression supports the mlp and cnn families only; got a gru"):
        CompressedStudent(spec, students(spec, 1)[0], precision="int8")


def test_depth_zero_is_refused():
    with pytest.raises(InputError, match="depth must be >= 1 for gru; got 0"):
        StudentSpec("gru", 40, 10, 6, 0)


def test_a_packed_stack_of_two_widths_trains_each_student_as_alone():
    task = make_task(M1D)
    runs = [RunConfig(M1D, "gru", width=w, depth=2, n=64, seed=0, steps=10, batch_size=16, lr=1e-2) for w in (2, 4)]
    alone = [train_stack(task, [r]).metrics[0]["test_loss"] for r in runs]
    packed = [m["test_loss"] for m in train_stack(task, runs).metrics]  # width 2 zero-padded to 4
    assert packed == pytest.approx(alone, rel=1e-5)
    assert alone[0] != pytest.approx(alone[1], rel=1e-3)


@pytest.mark.parametrize("task", ["teacher-classification", "teacher-regression", "digits"])
def test_gru_on_a_task_that_is_no_sequence_is_refused(task):
    with pytest.raises(InputError, match=f"family gru .* got task '{task}'"):
        SweepConfig(task=task_config(task), family="gru", widths=(4,), sizes=(64,)).validate()


TINY = ["--task", "mnist1d", "--family", "gru", "--widths", "3", "--depths", "1,2", "--sizes", "32",
        "--pool-size", "64", "--val-size", "16", "--test-size", "32", "--steps", "3", "--batch-size", "8",
        "--no-progress"]


def test_cli_sweep_family_gru_writes_rows_with_the_right_params(tmp_path, capsys):
    out = tmp_path / "g.csv"
    assert main(["sweep", *TINY, "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--json"]) == 0
    capsys.readouterr()
    table = pd.read_csv(out).sort_values("depth")
    assert list(table["family"]) == ["gru", "gru"] and list(table["depth"]) == [1, 2]
    expected = [count_params(StudentSpec("gru", 40, 10, 3, d)) for d in (1, 2)]
    assert list(table["params"]) == expected == [2 * 3 * (3 + 9 + 6) + 240 * 10 + 10, 2518 + 2 * 3 * (6 * 3 + 9 + 6)]
    assert list(table["flops_infer"]) == [2 * macs_per_example(StudentSpec("gru", 40, 10, 3, d)) for d in (1, 2)]
    assert table["test_error"].between(0, 1).all()


def test_cli_sweep_family_gru_on_a_teacher_task_exits_2(tmp_path, capsys):
    args = ["sweep", *TINY, "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]
    args[args.index("mnist1d")] = "teacher-classification"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "family gru" in err and "'teacher-classification'" in err
    assert not (tmp_path / "x.csv").exists()


def test_cli_prune_refuses_family_gru(tmp_path, capsys):
    args = ["prune", "--task", "mnist1d", "--family", "gru", "--width", "3", "--size", "32", "--pool-size", "64",
            "--val-size", "16", "--test-size", "32", "--steps", "4", "--no-progress", "--out", str(tmp_path / "p.csv"),
            "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 2
    assert "pruning supports the mlp and cnn families only; got family 'gru'" in capsys.readouterr().err
    assert main(["prune", "--help"]) == 0  # and its help offers only those (it offered sweep's gru)
    assert "student family: mlp or cnn (default mlp)" in " ".join(capsys.readouterr().out.split())


def test_cli_costtune_refuses_family_gru(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "c"))
    assert main(["costtune", "--task", "mnist1d", "--family", "gru", "--no-progress"]) == 2
    err = capsys.readouterr().err  # the wording is costtune's own; it must name the flag and the value
    assert err.startswith("error:") and "--family" in err and "'gru'" in err
