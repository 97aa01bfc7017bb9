"""workbench.compress: quantized accuracy, the bit-operation cost model, pruning, unstacking."""

import re

import pytest
import torch

from workbench.compress import CompressedStudent, inference_cost, magnitude_prune, unstack
from workbench.errors import InputError
from workbench.prune import prunable
from workbench.students import StudentSpec, pad_params
from workbench.sweep_train import RunConfig, spec_of, train_stack
from workbench.tasks import make_task, task_config


@pytest.fixture(scope="module")
def trained():
    cfg = task_config("teacher-classification", pool_size=2048, val_size=64, test_size=1000)
    task = make_task(cfg)
    out = {}
    for family, depth in (("mlp", 2), ("cnn", 2)):
        run = RunConfig(cfg, family, 16, depth, 2048, 0, 300, 128, 3e-3)
        res = train_stack(task, [run])
        spec = spec_of(run, task)
        out[family] = (task, spec, unstack(res.params, 0, spec))
    return out


def _error(model, task):
    return float((model.logits(task.x_test).argmax(1) != task.y_test).float().mean())


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_int8_and_bf16_accuracy_close_to_fp32(trained, family):
    task, spec, params = trained[family]
    fp32 = _error(CompressedStudent(spec, params, 1.0, "fp32"), task)
    assert fp32 < 0.5  # the student learned something, so the comparison means something
    for precision in ("bf16", "int8"):
        err = _error(CompressedStudent(spec, params, 1.0, precision), task)
        assert abs(err - fp32) <= 0.02, (precision, err, fp32)


def test_int8_model_really_is_quantized(trained):
    _, spec, params = trained["mlp"]
    model = CompressedStudent(spec, params, 1.0, "int8").module
    assert any("quantized" in type(m).__module__ for m in model.modules())


@pytest.mark.parametrize("family,in_dim", [("mlp", 20), ("cnn", 40)])
def test_bitop_cost_ratios_are_exact(family, in_dim):
    spec = StudentSpec(family, in_dim, 10, 8, 2)
    fp32, bf16, int8 = (inference_cost(spec, p) for p in ("fp32", "bf16", "int8"))
    assert bf16["flops"] * 2 == fp32["flops"] and int8["flops"] * 4 == fp32["flops"]
    assert fp32["flops"] == 2 * fp32["macs"] == 2 * fp32["bitops"]
    assert int8["macs"] == fp32["macs"]


def test_pruning_keeps_exactly_the_density_and_costs_in_proportion(trained):
    _, spec, params = trained["mlp"]
    total = sum(params[k].numel() for k in prunable(spec))
    for d in (0.5, 0.25):
        pruned, masks = magnitude_prune(spec, params, d)
        kept = sum(int(m.sum()) for m in masks.values())
        assert kept == round(d * total)
        assert all(int((pruned[k] != 0).sum()) <= int(masks[k].sum()) for k in masks)
        # MLP: every weight costs one MAC, so sparse cost = density x dense cost
        assert inference_cost(spec, "fp32", masks)["macs"] == kept
        # the kept weights are the largest in magnitude
        dropped = torch.cat([params[k][masks[k] == 0].abs() for k in masks])
        survived = torch.cat([params[k][masks[k] == 1].abs() for k in masks])
        assert dropped.max() <= survived.min()


@pytest.mark.parametrize("family,in_dim", [("mlp", 20), ("cnn", 40)])
def test_unstack_inverts_pad_params(family, in_dim):
    small, big = StudentSpec(family, in_dim, 10, 4, 2), StudentSpec(family, in_dim, 10, 16, 2)
    from workbench.students import init_params
    p = init_params(small, torch.Generator().manual_seed(0))
    padded = {k: v.unsqueeze(0) for k, v in pad_params(p, small, big).items()}
    back = unstack(padded, 0, small)
    assert all(torch.equal(back[k], p[k]) for k in p)


def test_bad_precision_and_density_name_the_parameter(trained):
    _, spec, params = trained["mlp"]
    with pytest.raises(InputError, match="precision"):
        CompressedStudent(spec, params, 1.0, "fp8")
    with pytest.raises(InputError, match="density"):
        magnitude_prune(spec, params, 0.0)


def test_a_stack_or_another_students_shapes_are_refused(trained):
    # before: stacked params were pruned jointly (one global top-k over all students), stacked masks
    # counted every student's MACs as one student's (3x), and a spec wider than the params gave a
    # CompressedStudent whose module ran the params but whose cost came from the wider spec, all unsaid
    _, spec, params = trained["mlp"]
    stacked = {k: torch.stack([v, v]) for k, v in params.items()}
    with pytest.raises(InputError, match=r"params\['w0'\] must have shape .* got \(2, 20, 16\) \(a stack\? unstack it first\)"):
        magnitude_prune(spec, stacked, 0.5)
    _, masks = magnitude_prune(spec, params, 0.5)
    with pytest.raises(InputError, match=r"masks\['w0'\] must have shape"):
        inference_cost(spec, "fp32", {k: torch.stack([m] * 3) for k, m in masks.items()})
    with pytest.raises(InputError, match="masks has 'b0'"):
        inference_cost(spec, "fp32", {**masks, "b0": torch.ones(16)})
    wider = StudentSpec(spec.family, spec.in_dim, spec.out_dim, 2 * spec.width, spec.depth)
    with pytest.raises(InputError, match=r"params\['w0'\] must have shape \(20, 32\)"):
        CompressedStudent(wider, params)
    with pytest.raises(InputError, match="params must hold"):
        magnitude_prune(spec, {"w0": params["w0"]}, 0.5)


def test_a_density_below_one_without_masks_is_refused(trained):
    # before: CompressedStudent(spec, params, density=0.5) kept every weight and priced the dense model
    _, spec, params = trained["mlp"]
    with pytest.raises(InputError, match="density=0.5 needs the masks of the pruned params"):
        CompressedStudent(spec, params, 0.5, "fp32")
    pruned, masks = magnitude_prune(spec, params, 0.5)
    assert CompressedStudent(spec, pruned, 0.5, "fp32", masks).cost["macs"] == sum(int(m.sum()) for m in masks.values())


@pytest.mark.parametrize("family,in_dim", [("mlp", 20), ("cnn", 40)])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_quantize_returns_a_copy_and_leaves_the_module_as_it_was(family, in_dim, precision):
    # before: quantize(mod, "fp32") returned mod itself, and every precision switched mod to eval mode
    from workbench.compress import quantize
    from workbench.students import init_params, to_module
    spec = StudentSpec(family, in_dim, 10, 8, 2)
    mod = to_module(spec, init_params(spec, torch.Generator().manual_seed(0)))
    before = {k: v.clone() for k, v in mod.state_dict().items()}
    q = quantize(mod, precision)
    assert q is not mod and not q.training
    assert mod.training and all(m.training for m in mod.modules())
    assert all(torch.equal(v, before[k]) and v.dtype == torch.float32 for k, v in mod.state_dict().items())


def test_logits_refuses_a_bad_chunk_or_input_shape_and_takes_numpy(trained):
    # before: chunk=0 gave torch's "split_size can only be 0", a wrong width "rows in the packB should be
    # equal to K", a 1-D x a shape error from inside the module and a numpy array "no attribute 'split'"
    _, spec, params = trained["mlp"]
    model = CompressedStudent(spec, params, 1.0, "int8")
    x = torch.randn(7, spec.in_dim, generator=torch.Generator().manual_seed(0))
    for chunk in (0, -1, 2.5, True):
        with pytest.raises(InputError, match=f"chunk must be a positive integer .*; got {chunk!r}"):
            model.logits(x, chunk=chunk)
    for bad in (x[:, :5], x[0], x[:0], x[None]):
        with pytest.raises(InputError, match=r"x must have shape \(N, 20\) .*got " + re.escape(str(tuple(bad.shape)))):
            model.logits(bad)
    with pytest.raises(InputError, match="x must be a tensor or numpy array .*got a list"):
        model.logits(x.tolist())
    assert torch.equal(model.logits(x.numpy(), chunk=3), model.logits(x, chunk=3))  # int8 ranges are per chunk


@pytest.mark.parametrize("i", [5, 2, -1, 1.0, True])
def test_unstack_refuses_an_index_outside_the_stack(i):
    # before: unstack(stack, 5, spec) raised a raw IndexError and unstack(stack, -1, spec) returned the last student
    spec = StudentSpec("mlp", 20, 10, 4, 1)
    from workbench.students import init_params
    stack = {k: torch.stack([v, v]) for k, v in init_params(spec, torch.Generator().manual_seed(0)).items()}
    with pytest.raises(InputError, match=r"i \(the student's index in the stack\) must be an integer in \[0, 1\] "
                                         rf"\(2 students\); got {i!r}"):
        unstack(stack, i, spec)
    assert torch.equal(unstack(stack, 1, spec)["w0"], stack["w0"][1])


@pytest.mark.parametrize("density", ["0.5", True, None, float("nan")])
def test_check_density_refuses_what_is_not_a_number_in_range(density):
    # before: check_density("0.5") raised a TypeError from the comparison and check_density(True) returned 1.0
    from workbench.compress import check_density
    with pytest.raises(InputError, match=re.escape(f"density must be a number in (0, 1]; got {density!r}")):
        check_density(density)
    assert check_density(1) == 1.0 and check_density(0.25) == 0.25


def test_masks_must_be_zero_or_one_and_bitops_nonnegative():
    # before: a mask of 0.5 halved the MACs inference_cost counted, and bitops(-5, 8) returned -1.25
    from workbench.compress import bitops
    spec = StudentSpec("mlp", 20, 10, 8, 1)
    ones = {"w0": torch.ones(20, 8), "w1": torch.ones(8, 10)}
    with pytest.raises(InputError, match=r"masks\['w0'\] must hold only 0 and 1 \(weight dropped or kept\); got 0.5"):
        inference_cost(spec, "fp32", {**ones, "w0": torch.full((20, 8), 0.5)})
    with pytest.raises(InputError, match=r"masks\['w1'\] must hold only 0 and 1 .*got 2.0"):
        inference_cost(spec, "fp32", {**ones, "w1": 2 * torch.ones(8, 10)})
    assert inference_cost(spec, "fp32", ones)["macs"] == 240.0
    assert inference_cost(spec, "fp32", {k: v.bool() for k, v in ones.items()})["macs"] == 240.0
    for macs, bits in ((-5, 8), (float("nan"), 8), ("5", 8), (5, -8), (5, True)):
        bad = ("macs", macs) if not isinstance(macs, int) or macs < 0 else ("bits", bits)
        with pytest.raises(InputError, match=re.escape(f"{bad[0]} must be a finite number >= 0; got {bad[1]!r}")):
            bitops(macs, bits)
    assert bitops(5, 8) == 1.25


def test_check_precision_names_a_value_that_is_not_a_name():
    # a list was a TypeError ('unhashable type: list') from the dict lookup
    from workbench.compress import check_precision
    for bad in (["fp32"], None, 8):
        with pytest.raises(InputError, match=r"precision must be one of fp32, bf16, int8; got"):
            check_precision(bad)
    assert check_precision("int8") == "int8"


def _random_student(family="mlp", in_dim=20):
    from workbench.students import param_shapes
    spec = StudentSpec(family, in_dim, 10, 8, 2)
    gen = torch.Generator().manual_seed(0)
    return spec, {k: torch.randn(s, generator=gen) for k, s in param_shapes(spec).items()}


def test_magnitude_prune_refuses_non_finite_weights():
    # before: a NaN weight compared as the largest magnitude, so it was kept (and the pruned model gave NaN)
    spec, params = _random_student()
    bad = {k: v.clone() for k, v in params.items()}
    bad["w1"][0, 0] = float("nan")
    bad["w1"][1, 0] = float("inf")
    with pytest.raises(InputError, match=r"params\['w1'\] must hold finite numbers .*got 2 NaN/inf value\(s\), the first nan"):
        magnitude_prune(spec, bad, 0.1)
    pruned, masks = magnitude_prune(spec, params, 0.1)
    assert all(bool(torch.isfinite(v).all()) for v in pruned.values())


@pytest.mark.parametrize("family,in_dim", [("mlp", 20), ("cnn", 40)])
def test_a_stated_density_that_the_masks_do_not_keep_is_refused(family, in_dim):
    # before: CompressedStudent(density=0.9) with masks keeping half the weights was built, labelled 0.9
    spec, params = _random_student(family, in_dim)
    total = sum(params[k].numel() for k in prunable(spec))
    pruned, masks = magnitude_prune(spec, params, 0.5)
    with pytest.raises(InputError, match=rf"density=0.9 does not match the masks: they keep {round(0.5 * total)} "
                                         rf"of the {total} prunable weights"):
        CompressedStudent(spec, pruned, 0.9, "fp32", masks)
    with pytest.raises(InputError, match=r"density=1.0 does not match the masks"):
        CompressedStudent(spec, pruned, 1.0, "fp32", masks)
    for d in (0.5, 0.3, 0.01, 1.0):  # magnitude_prune's own masks always match (round(d × weights) kept)
        p, m = magnitude_prune(spec, params, d)
        assert CompressedStudent(spec, p, d, "fp32", m).cost["macs"] > 0


def test_numpy_params_and_masks_are_converted_as_the_inputs_are():
    # before: numpy params were an AttributeError ('numpy.ndarray' object has no attribute 'numel') in
    # magnitude_prune and a TypeError from torch's copy_ in CompressedStudent
    spec, params = _random_student()
    as_numpy = {k: v.numpy() for k, v in params.items()}
    pruned, masks = magnitude_prune(spec, as_numpy, 0.5)
    expected_pruned, expected_masks = magnitude_prune(spec, params, 0.5)
    assert all(torch.equal(masks[k], expected_masks[k]) for k in masks)
    x = torch.randn(5, spec.in_dim, generator=torch.Generator().manual_seed(1))
    model = CompressedStudent(spec, {k: v.numpy() for k, v in expected_pruned.items()}, 0.5, "fp32",
                              {k: m.numpy() for k, m in expected_masks.items()})
    expected = CompressedStudent(spec, expected_pruned, 0.5, "fp32", expected_masks)
    assert torch.equal(model.logits(x), expected.logits(x)) and model.cost == expected.cost
    with pytest.raises(InputError, match=r"params\['w0'\] must be a torch tensor or a numpy array; got a list"):
        CompressedStudent(spec, {**params, "w0": params["w0"].tolist()})
    with pytest.raises(InputError, match=r"params must be a dict of tensor name -> tensor"):
        magnitude_prune(spec, list(params.values()), 0.5)


def test_pruning_keeps_the_rounded_share_of_weights():
    from workbench.students import param_shapes

    spec = StudentSpec("mlp", 20, 10, 8, 2)  # 20·8 + 8·8 + 8·10 = 304 prunable weights
    gen = torch.Generator().manual_seed(0)
    params = {k: torch.randn(shape, generator=gen) for k, shape in param_shapes(spec).items()}
    _, masks = magnitude_prune(spec, params, 0.2)
    assert sum(int(m.sum()) for m in masks.values()) == 61  # round(0.2 · 304 = 60.8)


def test_int8_conv_weights_lie_within_half_an_int8_step_of_the_originals():
    from workbench.compress import Int8Conv1d

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(2, 4, 3)
    step = conv.weight.detach().abs().amax(dim=(1, 2)) / 127.0  # per output channel, symmetric int8
    err = (Int8Conv1d(conv).weight - conv.weight.detach()).abs().amax(dim=(1, 2))
    assert (err <= step / 2 + 1e-7).all()
