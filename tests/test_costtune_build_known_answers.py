"""Known-answer tests for what no other test pinned down in compress.py, costtune/build.py, costtune/outcomes.py and
costtune/ladder.py: session 29's mutation review (74 hand-made changes, 38 let through by the rest of the suite).
One small build runs with a clock that ticks 1 s per reading, so every latency is known; int8 activations are
compared with torch's own MinMaxObserver; the ladder's predictions with power laws planted exactly. Each docstring
names the change its test fails on."""

import dataclasses
import types
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.compress import CompressedStudent, Int8Conv1d, bitops, inference_cost, layer_macs, magnitude_prune
from workbench.costtune.ladder import _state_predictions, build_ladder, frontier_rungs
from workbench.costtune.outcomes import OutcomeConfig, OutcomeTable, load, load_checked, outcome_table, save, table_path
from workbench.errors import CacheWarning, InputError
from workbench.prune import prunable
from workbench.students import StudentSpec, init_params, param_shapes
from workbench.testtime import TestTimeConfig

# -- compress.py: the cost model -------------------------------------------------------------------------------------


def test_masks_of_some_layers_only_count_the_others_dense():
    """Mutant: layer_macs read masks[k] for every prunable k once any mask was given (KeyError for a layer with no
    mask). MLP 20 -> 8 -> 10 (depth 1): w0 has 160 weights, w1 80, one MAC each. A mask keeping half of w0 (80) and no
    mask for w1 (dense: 80) gives 160 MACs."""
    spec = StudentSpec("mlp", 20, 10, 8, 1)
    half = torch.zeros(20, 8)
    half[:10] = 1.0
    assert layer_macs(spec, {"w0": half}) == {"w0": 80, "w1": 80}
    assert inference_cost(spec, "int8", {"w0": half})["macs"] == 160.0


def test_zero_macs_or_zero_bits_cost_nothing():
    """Mutant: bitops refused 0 (``0 < value``): the docstring and the message say >= 0. 0 x 8 / 32 = 0 and 5 x 0 / 32
    = 0; masks that drop every weight cost 0 MACs, 0 bit-operations and 0 FLOPs."""
    assert bitops(0, 8) == 0.0 and bitops(5, 0) == 0.0
    spec = StudentSpec("mlp", 20, 10, 8, 1)
    none_kept = {k: torch.zeros(s) for k, s in param_shapes(spec).items() if k in prunable(spec)}
    assert inference_cost(spec, "fp32", none_kept) == {"macs": 0.0, "bitops": 0.0, "flops": 0.0}


# -- compress.py: pruning ----------------------------------------------------------------------------------------------


def test_a_tiny_density_still_keeps_the_largest_weight():
    """Mutant: keep = max(0, round(d x total)). MLP 20 -> 8 -> 8 -> 10 has 160 + 64 + 80 = 304 prunable weights;
    density 1e-3 rounds to 0.304 -> 0, and the documented floor keeps one weight: the largest |w| of all layers (set
    here to 100 at w1[3, 5], every other weight drawn in [-1, 1))."""
    spec = StudentSpec("mlp", 20, 10, 8, 2)
    params = init_params(spec, torch.Generator().manual_seed(0))
    params["w1"][3, 5] = 100.0
    pruned, masks = magnitude_prune(spec, params, 1e-3)
    assert sum(int(m.sum()) for m in masks.values()) == 1
    assert masks["w1"][3, 5] == 1 and pruned["w1"][3, 5] == 100.0


def test_a_density_label_within_one_weight_of_the_masks_is_accepted():
    """Mutant: the density/mask check refused a gap of exactly one weight (``>= 1`` for ``> 1``); the comment says the
    two agree to within one weight. MLP depth 1, 20 -> 8 -> 10: 240 prunable weights; density 0.5 labels 120, masks
    keeping 121 (gap 1) are accepted and priced at 121 MACs, masks keeping 122 (gap 2) are refused."""
    spec = StudentSpec("mlp", 20, 10, 8, 1)
    params = init_params(spec, torch.Generator().manual_seed(0))

    def keeping(n):
        flat = torch.zeros(240)
        flat[:n] = 1.0
        return {"w0": flat[:160].reshape(20, 8), "w1": flat[160:].reshape(8, 10)}

    ok = CompressedStudent(spec, {k: v * keeping(121).get(k, 1) for k, v in params.items()}, 0.5, "fp32", keeping(121))
    assert ok.cost["macs"] == 121.0
    with pytest.raises(InputError, match="density=0.5 does not match the masks: they keep 122 of the 240"):
        CompressedStudent(spec, params, 0.5, "fp32", keeping(122))


# -- compress.py: precision ---------------------------------------------------------------------------------------------


def _identity_int8_conv():
    conv = torch.nn.Conv1d(1, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    return Int8Conv1d(conv)


@pytest.mark.parametrize("values", [[-0.3, 1.0, 0.45, 0.8], [0.3, 1.7, 2.9, 3.3], [-2.2, -0.7, -1.3, -0.1]])
def test_int8_conv_quantizes_activations_as_torchs_min_max_observer(values):
    """Mutants: the activation range not widened to include 0 (positive-only batch: a negative zero point, refused by
    torch), scale (hi - lo) / 256, zero point truncated instead of rounded (-0.3 .. 1.0: -lo/scale = 58.85 -> 59, not
    58). Expected from a different code path: torch's MinMaxObserver (quint8, per-tensor affine: its range always
    includes 0) gives scale and zero point, and fake_quantize_per_tensor_affine the int8 round trip; a 1x1 conv of
    weight 1 (int8: 127 x 1/127) and bias 0 passes the quantized activations through."""
    m = _identity_int8_conv()
    x = torch.tensor(values).reshape(1, 1, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obs = torch.ao.quantization.MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
        obs(x)
        scale, zero = obs.calculate_qparams()
    expected = torch.fake_quantize_per_tensor_affine(x, float(scale), int(zero), 0, 255) * m.weight.reshape(())
    torch.testing.assert_close(m(x), expected, rtol=1e-5, atol=1e-6)


def test_an_int8_cnn_quantizes_its_conv_layers():
    """Mutant: quantize left the CNN's Conv1d layers as float convs (only the Linear head int8), priced as all int8.
    A depth-2 CNN has two conv layers: both must be Int8Conv1d, and no float Conv1d is left."""
    spec = StudentSpec("cnn", 40, 10, 8, 2)
    model = CompressedStudent(spec, init_params(spec, torch.Generator().manual_seed(0)), 1.0, "int8").module
    assert sum(isinstance(m, Int8Conv1d) for m in model.modules()) == 2
    assert not any(isinstance(m, torch.nn.Conv1d) for m in model.modules())


def test_bf16_logits_come_back_as_float32():
    """Mutant: logits returned the bf16 module's output uncast. The docstring promises float32 logits."""
    spec = StudentSpec("mlp", 20, 10, 8, 1)
    model = CompressedStudent(spec, init_params(spec, torch.Generator().manual_seed(0)), 1.0, "bf16")
    assert model.logits(torch.randn(3, 20, generator=torch.Generator().manual_seed(1))).dtype == torch.float32


# -- build.py: one small build, its clock replaced and its stages watched ----------------------------------------------

CFG = OutcomeConfig(widths=(4, 8), steps=300, finetune_steps=10, densities=(1.0, 0.5), precisions=("fp32", "int8"),
                    n_inputs=200, probe_width_index=1, probe_precision="int8", seed=1,
                    testtime=TestTimeConfig(max_k=4, ks=(2, 4), refine_steps=(1, 2), train_steps=50,
                                            train_inputs=256))


@pytest.fixture(scope="module")
def built():
    """build_outcomes(CFG) with a clock that advances 1 s per reading (every timed stage takes exactly 1 s), the
    family train_family returned, every train_stack call's steps and the feature_std the sampler was given."""
    from workbench.costtune import build

    seen = {"steps": [], "feature_std": []}
    clock = iter(range(10**6))
    real_train_family, real_train_stack, real_sample = build.train_family, build.train_stack, build.sample_answers

    def train_family(cfg, device=None):
        seen["family"] = real_train_family(cfg, device)
        return seen["family"]

    def train_stack(*args, **kw):
        seen["steps"].append(kw.get("steps"))
        return real_train_stack(*args, **kw)

    def sample_answers(student, x, k, feature_std, *args):
        seen["feature_std"].append(feature_std)
        return real_sample(student, x, k, feature_std, *args)

    mp = pytest.MonkeyPatch()
    mp.setattr(build, "time", types.SimpleNamespace(perf_counter=lambda: float(next(clock))))
    mp.setattr(build, "train_family", train_family)
    mp.setattr(build, "train_stack", train_stack)
    mp.setattr(build, "sample_answers", sample_answers)
    try:
        table = build.build_outcomes(CFG, "cpu")
    finally:
        mp.undo()
    return table, seen


def test_latency_is_each_stages_seconds_per_input_shared_by_samples(built):
    """Mutants: latency not divided by the inputs; vote charged all max_k samples' time; refine-t not charged the
    student's own pass. Every timed call takes 1 s here, n = 200 inputs, max_k = 4, deepest refinement 2:
    argmax 1/n; vote-k k/4 of the sampling second; bon-k k/4 of sampling + verifier (2 s); refine-t the student's
    pass (1 s) + t/2 of the refiner's second."""
    table, _ = built
    n, s = 200, table.settings
    want = {"argmax": lambda k: 1.0, "vote": lambda k: k / 4, "bon": lambda k: 2 * k / 4, "refine": lambda t: 1 + t / 2}
    for _, row in s.iterrows():
        assert row["latency_s"] == pytest.approx(want[row["strategy"]](row["k"]) / n, rel=1e-9), row["name"]


def test_test_time_rows_count_half_their_flops_as_macs_and_bitops(built):
    """Mutants: macs (or bitops) of a sampled or refined setting left at flops or 0. The cost model: FLOPs = 2 x
    bit-operations, and test-time compute runs dense fp32, where bit-operations = MACs."""
    s = built[0].settings
    tt = s[s.strategy != "argmax"]
    assert len(tt) == 2 * (2 * 2 + 2)
    np.testing.assert_array_equal(tt["macs"] * 2, tt["flops"])
    np.testing.assert_array_equal(tt["bitops"] * 2, tt["flops"])


def test_the_probe_is_the_configured_width_and_precision_and_its_features_are_its_own(built):
    """Mutants: the probe setting (or the probe's logits) taken from widths[0] instead of widths[probe_width_index];
    the probe's logits taken from a pruned student; the margin feature = second probability. Expected: the probe
    setting is the dense int8 w8 (probe_width_index 1); its max probability is the setting's argmax confidence;
    with p1 >= p2 and p1 + p2 <= 1, the margin p1 - p2 lies in [max(0, 2 p1 - 1), p1]; the entropy of a 10-class
    distribution lies in [-ln p1, ln 10]."""
    table, _ = built
    assert table.settings["name"][table.probe_setting] == "w8-int8"
    p1, margin, entropy = table.probe.T.astype(float)
    np.testing.assert_allclose(p1, table.conf[:, table.probe_setting], rtol=1e-6)
    assert np.all(margin >= np.maximum(0, 2 * p1 - 1) - 1e-6) and np.all(margin <= p1 + 1e-6)
    assert np.all(entropy >= -np.log(p1) - 1e-5) and np.all(entropy <= np.log(10) + 1e-5)


def test_pass_counts_count_all_max_k_samples(built):
    """Mutant: pass counts over the first max_k - 1 samples. Every count lies in [0, max_k]; an input all four samples
    answer rightly exists (the w8 student, 300 steps, is right on most inputs), so the largest count is 4; a right best-of-4 or
    vote-of-4 answer is one of the samples, so its input's count is >= 1."""
    table, _ = built
    s = table.settings.reset_index(drop=True)
    assert table.pass_counts.min() >= 0 and table.pass_counts.max() == 4
    for j, w in enumerate(CFG.widths):
        for strategy in ("bon", "vote"):
            col = int(np.flatnonzero((s.width == w) & (s.strategy == strategy) & (s.k == 4))[0])
            assert np.all(table.pass_counts[table.correct[:, col], j] >= 1)


def test_finetuning_runs_finetune_steps_with_the_masks_held(built):
    """Mutants: fine-tuning ran cfg.steps Adam steps; fine-tuning without the masks (pruned weights grew back). The
    second train_stack call (the fine-tuning) is given steps=finetune_steps; every pruned student's weights are 0
    where its mask is 0, its masks keep round(0.5 x prunable weights), and fine-tuning moved the kept weights of the
    family (not of each width: on 2 of 40 seeds the dense width-4 student's second-layer ReLUs were all dead, so only
    its output bias could move; helper-98)."""
    table, seen = built
    assert seen["steps"] == [None, CFG.finetune_steps]
    _, family = seen["family"]
    moved = []
    for w in CFG.widths:
        spec, params, masks = family[(w, 0.5)]
        dense = family[(w, 1.0)][1]
        total = sum(params[k].numel() for k in prunable(spec))
        assert sum(int(m.sum()) for m in masks.values()) == round(0.5 * total)
        for k, m in masks.items():
            assert torch.all(params[k][m == 0] == 0), (w, k)
        moved.append(any(not torch.equal(params[k][m == 1], dense[k][m == 1]) for k, m in masks.items()))
    assert any(moved)


def test_the_samplers_noise_is_scaled_by_the_pool_not_the_scored_inputs(built):
    """Mutant: feature_std taken from the test inputs (the inputs every setting is scored on). Expected: the per-feature
    standard deviation of the task's pool, the inputs the students, verifier and refiner train on."""
    from workbench.tasks import make_task, task_config

    task = make_task(task_config(CFG.task, seed=CFG.task_seed, test_size=CFG.n_inputs))
    for std in built[1]["feature_std"]:
        torch.testing.assert_close(torch.as_tensor(std), torch.as_tensor(task.x_pool.std(0)), rtol=1e-6, atol=0)


def test_the_split_is_seeded_by_the_config(built, monkeypatch):
    """Mutant: the split drawn from a fixed seed. The same family rebuilt under seed 2 (training skipped: the family
    is handed back) splits the inputs differently, half held out each time."""
    from workbench.costtune import build

    monkeypatch.setattr(build, "train_family", lambda cfg, device=None: built[1]["family"])
    other = build.build_outcomes(dataclasses.replace(CFG, seed=2), "cpu")
    assert (other.split == 1).sum() == (built[0].split == 1).sum() == 100
    assert not np.array_equal(other.split, built[0].split)


# -- outcomes.py: save, load and what a loaded table must be ------------------------------------------------------------


def test_a_saved_table_loads_back_field_for_field(built, tmp_path):
    """Mutants: probe columns or split saved altered; probe_setting loaded as 0. Every array, its dtype, the
    probe setting and the device come back as saved."""
    table = built[0]
    save(table, tmp_path / "t.npz")
    back = load(tmp_path / "t.npz", table.config)
    for name in ("correct", "loss", "conf", "split", "probe", "pass_counts"):
        a, b = getattr(table, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert back.probe_setting == table.probe_setting != 0 and back.device == table.device
    pd.testing.assert_frame_equal(back.settings, table.settings, check_dtype=False)


@pytest.mark.parametrize("damage", ["fewer-inputs", "probe-setting-outside", "pass-counts-of-fewer-widths"])
def test_a_cached_table_of_the_wrong_size_is_not_used(built, tmp_path, damage):
    """Mutants: load_checked dropped the inputs-count check, the probe-setting range check, or the pass_counts shape.
    Each file below is self-consistent except for the one thing its name says; each must be refused with a
    CacheWarning (None: the caller builds it again)."""
    table = built[0]
    n = len(table.split)
    if damage == "fewer-inputs":  # all per-input arrays cut alike: only n != n_inputs tells
        bad = dataclasses.replace(table, **{k: getattr(table, k)[: n - 1] for k in
                                            ("correct", "loss", "conf", "split", "probe", "pass_counts")})
    elif damage == "probe-setting-outside":
        bad = dataclasses.replace(table, probe_setting=len(table.settings))
    else:
        bad = dataclasses.replace(table, pass_counts=table.pass_counts[:, :-1])
    path = tmp_path / "t.npz"
    save(bad, path)
    with pytest.warns(CacheWarning, match="ignoring the cache file"):
        assert load_checked(path, table.config) is None
    save(table, path)
    assert load_checked(path, table.config) is not None  # the intact table is used


def test_refresh_builds_the_table_again_over_a_cached_one(built, tmp_path, monkeypatch):
    """Mutant: refresh ignored (the cached table returned). With the table cached, refresh=True calls the build."""
    from workbench.costtune import build

    table = built[0]
    save(table, table_path(CFG, tmp_path))
    calls = []
    monkeypatch.setattr(build, "build_outcomes", lambda cfg, device=None, progress=None: calls.append(cfg) or table)
    outcome_table(CFG, tmp_path)
    assert calls == []
    outcome_table(CFG, tmp_path, refresh=True)
    assert len(calls) == 1


def test_frame_rows_are_input_major_and_name_their_split(built):
    """Mutants: frame() tiled the settings input-major wrongly (repeat for tile); split labels swapped. Row i x A + j
    is input i at setting j: its correct is correct[i, j], its name settings.name[j], its split 'heldout' iff
    split[i] == 1."""
    table = built[0]
    n, a = table.correct.shape
    f = table.frame()
    for i, j in ((0, 0), (0, a - 1), (1, 0), (n - 1, 3), (n // 2, a // 2)):
        row = f.iloc[i * a + j]
        assert row["input"] == i and row["name"] == table.settings["name"][j]
        assert row["correct"] == table.correct[i, j] and row["conf"] == table.conf[i, j]
        assert row["split"] == ("heldout" if table.split[i] == 1 else "train")


# -- ladder.py ---------------------------------------------------------------------------------------------------------


def test_ladder_arguments_out_of_range_are_refused(built):
    """Mutants: frontier_rungs took max_stages 1; build_ladder took n_bins 0; a NaN top_se passed the check (``top_se
    < 0`` is False for NaN) and failed later as an IndexError."""
    table = built[0]
    with pytest.raises(InputError, match="max_stages must be >= 2; got 1"):
        frontier_rungs(table, max_stages=1)
    with pytest.raises(InputError, match="n_bins must be >= 1; got 0"):
        build_ladder(table, n_bins=0)
    with pytest.raises(InputError, match="top_se must be >= 0; got nan"):
        frontier_rungs(table, top_se=float("nan"))


def test_the_state_before_any_rung_is_predicted_from_every_train_input(built):
    """Mutant: state 0 (nothing run) fitted on one confidence bin's rows. Expected, by the ladder's recipe: the power law
    fitted, per strategy group of the rungs, to the error on all train inputs of every setting of that group against
    its FLOPs, evaluated at the rungs' FLOPs (clipped to [0, 1])."""
    from workbench.costtune.guidance import ERROR_FLOOR
    from workbench.fit import fit_law

    table = built[0]
    ladder = build_ladder(table, 2.0, n_bins=3)
    tr, rungs = table.inputs("train"), ladder.settings
    err = 1.0 - table.correct[tr].mean(0)
    groups = table.settings["strategy"].to_numpy()
    want = err[rungs].astype(float)
    for g in set(groups[rungs]):
        cols, at = np.flatnonzero(groups == g), np.flatnonzero(groups[rungs] == g)
        fit = fit_law("power", table.cost[cols], np.maximum(err[cols], ERROR_FLOOR), polish_top=1, screen_iter=3,
                      max_iter=20)
        want[at] = np.clip(fit.predict(table.cost[rungs[at]]), 0, 1)
    np.testing.assert_allclose(ladder.pred_error[0], want, rtol=1e-9, atol=1e-12)


def _two_group_table():
    """2,000 inputs, 8 settings: argmax at FLOPs 1, 4, 16, 64 with errors 0.5 C^-0.5 + 0.05 (0.55, 0.3, 0.175,
    0.1125) and vote at FLOPs 1, 2, 4, 8 with errors 0.4 C^-1 + 0.1 (0.5, 0.3, 0.2, 0.15); input i is wrong at a
    setting iff i < error x 2000 (every rate exact)."""
    costs = [1, 4, 16, 64, 1, 2, 4, 8]
    errors = [0.55, 0.3, 0.175, 0.1125, 0.5, 0.3, 0.2, 0.15]
    n = 2000
    settings = pd.DataFrame({"name": [f"s{i}" for i in range(8)], "strategy": ["argmax"] * 4 + ["vote"] * 4,
                             "flops": np.array(costs, float)})
    correct = np.arange(n)[:, None] >= np.round(np.array(errors) * n)[None, :]
    z = np.zeros((n, 8), np.float32)
    return OutcomeTable(OutcomeConfig(), settings, correct, z, z, np.zeros(n, np.int8), np.zeros((n, 3), np.float32),
                        np.zeros((n, 2), np.int16))


def test_each_rung_is_predicted_by_its_own_strategy_groups_law():
    """Mutant: every rung given the last group's law (``at`` = all rungs). Rungs: argmax at FLOPs 4 and vote at FLOPs 8.
    The argmax law at 4 is 0.5/2 + 0.05 = 0.3 and the vote law at 8 is 0.4/8 + 0.1 = 0.15; the vote law at 4 would say
    0.2. (A 3-parameter fit through 4 exact points; tolerance 0.02, well inside the 0.1 the mutant moves it.)"""
    table = _two_group_table()
    pred = _state_predictions(table, np.arange(2000), np.array([1, 7]))
    np.testing.assert_allclose(pred, [0.3, 0.15], atol=0.02)


def test_a_state_no_train_input_reaches_predicts_error_one():
    """Mutant: an empty state's errors taken as 0. With no rows every setting's error is 1 (nothing is known to be
    answered), so every rung's prediction is 1 (a fit to constant errors, or the empirical 1 where the fit fails)."""
    table = _two_group_table()
    pred = _state_predictions(table, np.array([], int), np.array([1, 7]))
    np.testing.assert_allclose(pred, [1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("change, message", [
    ({"widths": (8,)}, "widths must be >= 2 increasing positive integers; got (8,)"),
    ({"densities": (0.5, 0.25)}, "densities must be distinct numbers in (0, 1] including 1.0"),
    ({"precisions": ("bf16", "int8"), "probe_precision": "int8"}, "precisions must include fp32"),
    ({"precisions": ("fp32", "int8"), "probe_precision": "bf16"}, "probe_precision must be one of precisions"),
])
def test_outcome_config_refuses_a_grid_the_build_cannot_use(change, message):
    """Mutants: each check dropped from OutcomeConfig.resolved. One width is no family; without density 1.0 there is no
    dense student to prune from; without fp32 there are no dense fp32 students for test-time compute (nor cost_ref); a
    probe precision outside the grid has no setting to be."""
    import re

    with pytest.raises(InputError, match=re.escape(message)):
        OutcomeConfig(**change).resolved()
