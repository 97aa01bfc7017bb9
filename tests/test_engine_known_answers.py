"""Known answers for the teacher–student engine of issue 3: the teacher and its data, label noise, splits, student
init and hand-written gradients, minibatches, early stopping, FLOP and parameter counts, IMP's rewinding and its cache
key (session 28: a mutation review, helper-83, found 27 changes to these lines that no test caught; each test below
fails on at least one of them). Each expected value is computed by hand or from the documented recipe, not by calling
the code under test."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from workbench import prune as prune_mod
from workbench import tasks
from workbench.prune import PruneConfig, macs_per_weight, run_prune, student_key
from workbench.students import StudentSpec, forward, init_params, mlp_grads, pad_params
from workbench.sweep import SweepConfig, run_sweep
from workbench.sweep_adam import StackAdam
from workbench.sweep_train import RunConfig, _Batches, data_seed, per_example_loss, train_stack
from workbench.tasks import TaskConfig, make_task, task_config, teacher_forward, teacher_weights


def fresh(cfg):
    tasks._CACHE.clear()
    return make_task(cfg)


# ---------------------------------------------------------------------------------------------- tasks.py

def test_teacher_has_depth_hidden_layers_with_weights_of_std_one_over_sqrt_fan_in():
    # Sharma & Kaplan: [20, 600, 600, out], weights and biases N(0, 1/fan_in)
    cfg = TaskConfig(input_dim=20, teacher_width=600, teacher_depth=2, n_outputs=1)
    layers = teacher_weights(cfg)
    assert [w.shape for w, _ in layers] == [(20, 600), (600, 600), (600, 1)]
    for (w, b), fan_in in zip(layers[:2], (20, 600)):
        assert w.std() == pytest.approx(1 / math.sqrt(fan_in), rel=0.03)
        assert b.std() == pytest.approx(1 / math.sqrt(fan_in), rel=0.12)  # 600 biases: SE of the std ~3%


def test_teacher_forward_has_relu_on_hidden_layers_only():
    # by hand: hidden = relu(x @ I + 0); out = hidden @ [1, -1] - 5 (no ReLU on the output)
    layers = [(np.eye(2), np.zeros(2)), (np.array([[1.0], [-1.0]]), np.array([-5.0]))]
    out = teacher_forward(layers, np.array([[1.0, 2.0], [-1.0, 0.0], [3.0, -4.0]]))
    assert out[:, 0].tolist() == [1 - 2 - 5, 0 - 0 - 5, 3 - 0 - 5]


def test_inputs_fill_the_whole_cube_minus_half_to_half():
    t = fresh(TaskConfig(pool_size=20000, val_size=10, test_size=10, input_dim=20, intrinsic_dim=3))
    x = t.x_pool[:, :3].double()
    assert float(x.min()) < -0.499 and float(x.max()) > 0.499  # 60000 draws of U[-0.5, 0.5]
    assert float(x.std()) == pytest.approx(1 / math.sqrt(12), abs=0.003)  # U[-0.5, 0.5] std 0.2887


def test_classification_labels_are_the_argmax_of_the_standardised_teacher_outputs():
    cfg = TaskConfig(name="teacher-classification", pool_size=10, val_size=10, test_size=4000, seed=2)
    t = fresh(cfg)
    layers = teacher_weights(cfg)
    rng = np.random.default_rng(123)  # our own reference sample: mu/sd differ from the task's by sampling only
    ref = np.zeros((20000, cfg.input_dim))
    ref[:, :cfg.intrinsic_dim] = rng.random((20000, cfg.intrinsic_dim)) - 0.5
    raw_ref = teacher_forward(layers, ref)
    raw = teacher_forward(layers, t.x_test.double().numpy())
    expected = ((raw - raw_ref.mean(0)) / raw_ref.std(0)).argmax(1)
    # the task standardises on its own 4,096-row sample, this test on another 20,000: near-ties flip. Over 100 task
    # seeds the agreement was 0.962-0.995 (mean 0.981, sd 0.006; 0.97 failed 6); without the standardisation (raw,
    # centred only, scaled only) at most 0.42, 0.85, 0.42 (helper-97)
    assert (expected == t.y_test.numpy()).mean() > 0.93


def test_teacher_targets_are_standardised_on_a_large_reference_sample():
    # 4096 reference rows: the clean test targets' mean is within ~0.02 of 0 and their std within ~0.02 of 1
    for seed in range(4):
        t = fresh(TaskConfig(name="teacher-regression", pool_size=10, val_size=10, test_size=20000, seed=seed))
        assert abs(float(t.y_test.mean())) < 0.06 and abs(float(t.y_test.std()) - 1) < 0.06, seed


@pytest.mark.parametrize("name", ["teacher-classification", "teacher-regression"])
def test_teacher_validation_labels_get_their_own_label_noise(name):
    base = dict(name=name, pool_size=6000, val_size=6000, test_size=500, seed=5)
    clean, noisy = fresh(TaskConfig(**base)), fresh(TaskConfig(**base, label_noise=0.3))
    if name == "teacher-classification":
        pool_flip, val_flip = clean.y_pool != noisy.y_pool, clean.y_val != noisy.y_val
        assert abs(float(val_flip.float().mean()) - 0.3) < 4 * (0.3 * 0.7 / 6000) ** 0.5
        assert float((pool_flip == val_flip).float().mean()) < 0.7  # independent: 0.58, the pool's own: 1
    else:
        pool_noise, val_noise = noisy.y_pool - clean.y_pool, noisy.y_val - clean.y_val
        assert float(val_noise.std()) == pytest.approx(0.3, rel=0.05)
        assert abs(float(np.corrcoef(pool_noise[:, 0], val_noise[:, 0])[0, 1])) < 0.1
        assert torch.equal(clean.y_test, noisy.y_test)  # the test set stays clean


def test_flipped_labels_move_to_every_other_class_equally_often():
    base = dict(name="teacher-classification", pool_size=30000, val_size=10, test_size=10, seed=4)
    clean, noisy = fresh(TaskConfig(**base)), fresh(TaskConfig(**base, label_noise=0.5))
    shift = ((noisy.y_pool - clean.y_pool) % 10)[noisy.y_pool != clean.y_pool]
    counts = torch.bincount(shift, minlength=10).tolist()
    assert counts[0] == 0
    for c in counts[1:]:  # ~15000 flips over 9 shifts: 1667 each, SE ~39
        assert abs(c - len(shift) / 9) < 0.1 * len(shift) / 9, counts


def test_digits_splits_are_disjoint_and_cover_the_data_set_and_the_seed_shuffles():
    from sklearn.datasets import load_digits

    d = load_digits()
    t = fresh(task_config("digits"))
    rows = torch.cat([t.x_pool, t.x_val, t.x_test]).double().numpy()
    labels = torch.cat([t.y_pool, t.y_val, t.y_test]).numpy()
    got = np.column_stack([rows * 16, labels])
    want = np.column_stack([d.data, d.target])
    assert len(got) == len(want) == 1797
    assert np.array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])  # a permutation of the rows
    other = fresh(task_config("digits", seed=1))
    assert not torch.equal(t.y_pool, other.y_pool)  # the task seed shuffles


def test_mnist1d_task_seed_changes_the_data():
    a = fresh(TaskConfig(name="mnist1d", pool_size=200, val_size=100, test_size=100, seed=0))
    b = fresh(TaskConfig(name="mnist1d", pool_size=200, val_size=100, test_size=100, seed=1))
    assert not torch.equal(a.x_pool, b.x_pool)


# ---------------------------------------------------------------------------------------------- students.py

def test_init_bounds_are_torchs_one_over_sqrt_fan_in():
    gen = torch.Generator().manual_seed(0)
    p = init_params(StudentSpec("mlp", 20, 1, 400, 1), gen)
    for k, bound in (("w0", 1 / math.sqrt(20)), ("b0", 1 / math.sqrt(20)), ("w1", 1 / math.sqrt(400))):
        assert 0.95 * bound < float(p[k].abs().max()) <= bound, k
    c = init_params(StudentSpec("cnn", 40, 10, 200, 2), gen)
    for k, bound in (("w0", 1 / math.sqrt(1 * 5)), ("b0", 1 / math.sqrt(1 * 5)), ("w1", 1 / math.sqrt(200 * 3)),
                     ("b1", 1 / math.sqrt(200 * 3))):
        assert 0.95 * bound < float(c[k].abs().max()) <= bound, k


@pytest.mark.parametrize("kind, out_dim", [("regression", 3), ("classification", 5)])
def test_mlp_grads_equal_autograd_of_the_documented_loss(kind, out_dim):
    spec = StudentSpec("mlp", 6, out_dim, 7, 2)
    gen = torch.Generator().manual_seed(1)
    params = {k: v.unsqueeze(0).repeat(2, *[1] * v.dim()) + 0.01 * torch.randn(2, *v.shape, generator=gen)
              for k, v in init_params(spec, gen).items()}
    x = torch.randn(2, 9, 6, generator=gen)
    if kind == "regression":
        y = torch.randn(2, 9, out_dim, generator=gen)
    else:
        y = torch.randint(out_dim, (2, 9), generator=gen)
    leaf = {k: v.clone().requires_grad_() for k, v in params.items()}
    out = forward(spec, leaf, x)
    if kind == "regression":  # sum over students of mean over batch of mean over outputs of squared error
        loss = ((out - y) ** 2).mean(-1).mean(1).sum()
    else:
        loss = sum(torch.nn.functional.cross_entropy(out[s], y[s]) for s in range(2))
    ref = dict(zip(leaf, torch.autograd.grad(loss, list(leaf.values()))))
    got = mlp_grads(spec, params, x, y, kind)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("depth, width", [(0, 40), (1, 64), (2, 256)])
def test_a_classification_heads_weight_gradient_is_the_form_its_cache_key_version_names(depth, width):
    """MLP classification rows of cache key version 5 (6 with label noise) were trained with the head's weight
    gradient computed as (gᵀ acts)ᵀ; the other order of the same product, actsᵀ g, sums differently (1.5e-7 apart on
    an AMD EPYC), so a change of form must come with a new key version (``RunConfig.key``). This pins the form bit
    for bit: the gradient equals that product of the activations and the softmax's gradient, both rebuilt here."""
    spec = StudentSpec("mlp", 40, 10, width, depth)
    gen = torch.Generator().manual_seed(2)
    params = {k: v.unsqueeze(0).repeat(3, *[1] * v.dim()) + 0.05 * torch.randn(3, *v.shape, generator=gen)
              for k, v in init_params(spec, gen).items()}
    x = torch.randn(3, 256, 40, generator=gen)
    y = torch.randint(10, (3, 256), generator=gen)
    h = x
    for i in range(depth):
        h = torch.bmm(h, params[f"w{i}"]).add_(params[f"b{i}"].unsqueeze(1)).relu_()
    logits = torch.bmm(h, params[f"w{depth}"]).add_(params[f"b{depth}"].unsqueeze(1))
    g = torch.softmax(logits.transpose(1, 2), dim=1).transpose(1, 2)  # as mlp_grads takes it (key version 2 on)
    g.scatter_add_(-1, y.unsqueeze(-1), torch.full((3, 256, 1), -1.0))
    g.mul_(1.0 / 256)
    got = mlp_grads(spec, params, x, y, "classification")[f"w{depth}"]
    assert torch.equal(got, torch.bmm(g.transpose(1, 2), h).transpose(1, 2))
    assert got.is_contiguous()  # the parameter's layout: the fused Adam step reads it as such


def test_a_cnn_padded_to_a_wider_one_computes_the_same_outputs():
    narrow, wide = StudentSpec("cnn", 40, 10, 3, 2), StudentSpec("cnn", 40, 10, 8, 2)
    p = init_params(narrow, torch.Generator().manual_seed(0))
    x = torch.randn(1, 5, 40, generator=torch.Generator().manual_seed(1))
    a = forward(narrow, {k: v[None] for k, v in p.items()}, x)
    b = forward(wide, {k: v[None] for k, v in pad_params(p, narrow, wide).items()}, x)
    torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------------------------- sweep_train.py

REG = TaskConfig(name="teacher-regression", pool_size=2048, val_size=256, test_size=1024)


def test_every_config_field_is_in_the_cache_key():
    base = RunConfig(REG, width=8, n=64, steps=60, batch_size=32, early_stopping=True)
    changes = dict(family="cnn", width=9, depth=2, n=65, seed=1, steps=61, batch_size=33, lr=2e-3,
                   early_stopping=False, eval_every=7, lr_schedule="cosine")
    assert set(changes) == {f.name for f in dataclasses.fields(RunConfig)} - {"task"}
    keys = {base.key()} | {dataclasses.replace(base, **{k: v}).key() for k, v in changes.items()}
    task_changes = dict(name="teacher-classification", seed=1, pool_size=2049, val_size=257, test_size=1025,
                        input_dim=21, intrinsic_dim=5, teacher_width=65, teacher_depth=3, n_outputs=2, n_classes=9,
                        label_noise=0.1)
    assert set(task_changes) == {f.name for f in dataclasses.fields(TaskConfig)}
    keys |= {dataclasses.replace(base, task=dataclasses.replace(REG, **{k: v})).key() for k, v in task_changes.items()}
    assert len(keys) == 1 + len(changes) + len(task_changes)


def test_students_of_two_teachers_draw_different_minibatches():
    a = RunConfig(REG, n=1024, seed=0)
    b = RunConfig(dataclasses.replace(REG, seed=1), n=1024, seed=0)
    assert data_seed(a) != data_seed(b)
    assert not torch.equal(_Batches([a], "cpu").at(0), _Batches([b], "cpu").at(0))


def test_minibatches_draw_every_row_of_the_training_prefix_and_no_other():
    run = RunConfig(REG, n=5, batch_size=256)
    idx = _Batches([run], "cpu").at(0)
    assert sorted(set(idx.flatten().tolist())) == [0, 1, 2, 3, 4]


def test_early_stopping_also_scores_the_final_step():
    # a clean, easy regression at a small lr: validation loss falls at every check, so the best is the last step,
    # 25, which is no multiple of eval_every
    run = RunConfig(REG, width=32, depth=1, n=2048, steps=25, batch_size=256, lr=1e-3, early_stopping=True,
                    eval_every=10)
    assert train_stack(make_task(REG), [run]).metrics[0]["best_step"] == 25


def test_regression_loss_is_the_mean_over_outputs():
    out = torch.tensor([[[1.0, 2.0, 3.0]]])
    loss, err = per_example_loss("regression", out, torch.zeros(1, 1, 3))
    assert loss.item() == pytest.approx((1 + 4 + 9) / 3) and err.item() == pytest.approx(14 / 3)


# ---------------------------------------------------------------------------------------------- sweep_adam.py

@pytest.mark.parametrize("fused", [True, False])
def test_stack_adam_equals_torch_adam_on_changing_gradients(fused):
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(4, 5, generator=gen)
    grads = [torch.randn(4, 5, generator=gen) * (i + 1) for i in range(6)]
    ref = p0.clone().requires_grad_()
    opt = torch.optim.Adam([ref], lr=0.05)  # betas (0.9, 0.999), eps 1e-8, bias-corrected
    mine = StackAdam([p0.clone()], lr=0.05)
    mine._fused = mine._fused and fused
    for g in grads:
        ref.grad = g.clone()
        opt.step()
        mine.step([g])
    torch.testing.assert_close(mine.params[0], ref.detach(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------- sweep.py

def test_sweep_rows_count_params_and_flops_by_hand(tmp_path):
    cfg = SweepConfig(task=REG, widths=(4,), depths=(1,), sizes=(64,), steps=10, batch_size=16)
    row = run_sweep(cfg, cache_dir=tmp_path, progress=False, device="cpu").iloc[0]
    macs = 20 * 4 + 4 * 1  # MLP 20-4-1, weights only
    assert row["params"] == macs + 4 + 1
    assert row["flops_infer"] == 2 * macs
    assert row["flops_train"] == 6 * macs * 10 * 16  # 6 x MACs x examples seen (steps x batch size)


def test_a_training_size_equal_to_the_pool_is_allowed():
    SweepConfig(task=REG, sizes=(REG.pool_size,)).validate()


# ---------------------------------------------------------------------------------------------- prune.py

TASK = TaskConfig(name="teacher-classification", pool_size=1024, val_size=128, test_size=512)
CFG = PruneConfig(SweepConfig(task=TASK, widths=(16,), depths=(2,), sizes=(128,), seeds=(0,),
                              steps=60, batch_size=32, lr=3e-3), rounds=2, rewind_step=10)


def test_imp_rewinds_to_the_step_k_weights_and_ranks_the_last_rounds_retrained_weights(monkeypatch):
    calls, ranked = [], []
    real_train, real_masks = prune_mod.train_stack, prune_mod.magnitude_masks

    def spy_train(*args, **kwargs):
        res = real_train(*args, **kwargs)
        calls.append((kwargs, res))
        return res

    monkeypatch.setattr(prune_mod, "train_stack", spy_train)
    monkeypatch.setattr(prune_mod, "magnitude_masks", lambda p, m, keep: ranked.append(p) or real_masks(p, m, keep))
    run_prune(CFG, progress=False, cache_dir=False)
    task, runs = make_task(TASK), CFG.sweep.runs()
    early = real_train(task, runs, steps=CFG.rewind_step).params  # the weights after k = 10 steps
    assert len(calls) == 1 + CFG.rounds
    for kwargs, _ in calls[1:]:
        for k in early:
            torch.testing.assert_close(kwargs["init"][k], early[k], atol=1e-6, rtol=0)
        assert kwargs["steps"] == CFG.sweep.steps - CFG.rewind_step
    assert ranked[0] is calls[0][1].params  # round 1 ranks the dense weights
    assert ranked[1] is calls[1][1].params  # round 2 ranks round 1's retrained survivors (IMP)


def test_pruned_rows_count_flops_of_the_retraining_steps_only():
    t = run_prune(CFG, progress=False, cache_dir=False)
    for _, row in t.iterrows():
        steps = CFG.sweep.steps - (CFG.rewind_step if row["round"] > 0 else 0)
        assert row["flops_train"] == 6 * row["weights_kept"] * steps * CFG.sweep.batch_size  # MLP: 1 MAC a weight
        assert row["flops_infer"] == 2 * row["weights_kept"]


def test_cnn_weights_cost_their_layers_output_length():
    # MNIST-1D CNN of Greydanus 2020: lengths 40 -> 19 -> 10 -> 5; the head's weights cost 1 MAC each
    assert macs_per_weight(StudentSpec("cnn", 40, 10, 25, 3)) == {"w0": 19, "w1": 10, "w2": 5, "w3": 1}


def test_another_fraction_sets_the_target_density_and_kept_weights():
    cfg = dataclasses.replace(CFG, fraction=0.5)
    t = run_prune(cfg, progress=False, cache_dir=False)
    total = 20 * 16 + 16 * 16 + 16 * 10
    assert t["target_density"].tolist() == [1.0, 0.5, 0.25]
    assert t["weights_kept"].tolist() == [total, round(total / 2), round(total / 4)]


def test_every_pruning_setting_is_in_the_students_cache_key():
    run = CFG.sweep.runs()[0]
    keys = {student_key(c, run) for c in (CFG, dataclasses.replace(CFG, rounds=3),
                                          dataclasses.replace(CFG, rewind_step=11),
                                          dataclasses.replace(CFG, fraction=0.3),
                                          dataclasses.replace(CFG, method="oneshot"))}
    assert len(keys) == 5
