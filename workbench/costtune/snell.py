"""Snell et al. 2024 on an outcome table: test-time compute per difficulty bin, compute-optimal
per-bin allocation vs uniform best-of-k, and FLOPs-matched small model + test-time compute vs a
larger model as a function of R = inference tokens / pretraining tokens.

Difficulty is Snell's *oracle* difficulty by default: the pass rate of the model's own ``max_k``
samples on that very input (ties broken by the probe's confidence), in 5 quantile bins of the train
inputs, 0 = easiest. It reads the input's own samples and does not pay for them, so it is an upper
bound on what a deployable allocation gets. ``difficulty="probe"`` uses Snell's *predicted* difficulty
instead: bins of the probe's confidence (a cheap model's pass, ``policies.probe_bins``), whose cost is
added to every strategy. Test-time compute counts FLOPs per input of one width's strategies (argmax = 1
pass).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from workbench.costtune.outcomes import OutcomeTable
from workbench.costtune.policies import LAMBDAS, bin_choice, cost_at_error, frontier, probe_bins
from workbench.errors import InputError
from workbench.testtime import bin_edges, difficulty_bins


def check_width(table: OutcomeTable, width, name: str = "width") -> int:
    """``width`` as one of the table's widths, or an InputError naming them (a width not in the table was
    "16 is not in list", "too many indices" or an empty curve, depending on the function)."""
    widths = [int(w) for w in table.config.widths]
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or int(width) not in widths:
        raise InputError(f"{name} must be one of the table's widths {widths}; got {width!r}")
    return int(width)


STRATEGIES = ("argmax", "vote", "bon", "refine")
"""The test-time strategies of a width's settings (``uniform_curve``'s ``strategy``)."""


def oracle_bins(table: OutcomeTable, width: int, n_bins: int = 5) -> np.ndarray:
    """(N,) oracle difficulty bin from the pass rate of ``width``'s own samples."""
    j = list(table.config.widths).index(check_width(table, width))
    score = table.pass_counts[:, j] / table.config.testtime.max_k + 1e-6 * table.probe[:, 0]
    return difficulty_bins(score, bin_edges(score[table.inputs("train")], n_bins))


def strategies(table: OutcomeTable, width: int) -> pd.DataFrame:
    """Settings of one width's dense fp32 test-time strategies (argmax included), with their index."""
    s = table.settings
    width = check_width(table, width)
    keep = (s["width"] == width) & (s["density"] == 1.0) & (s["precision"] == "fp32")
    return s[keep].assign(setting=np.flatnonzero(keep))


def error_by_bin(table: OutcomeTable, width: int, n_bins: int = 5) -> pd.DataFrame:
    """Tidy: bin, strategy, k, flops, error (held-out) for every strategy of ``width``."""
    ho = table.inputs("heldout")
    bins = oracle_bins(table, width, n_bins)[ho]
    rows = []
    for _, st in strategies(table, width).iterrows():
        for b in range(n_bins):
            rows.append({"bin": b, "strategy": st["strategy"], "k": int(st["k"]), "flops": float(st["flops"]),
                         "error": float(1.0 - table.correct[ho[bins == b], st["setting"]].mean())})
    return pd.DataFrame(rows)


def uniform_curve(table: OutcomeTable, width: int, strategy: str = "bon") -> np.ndarray:
    """(cost, error) on held-out of the same strategy with the same k for every input (k in ks)."""
    if strategy not in STRATEGIES:  # 'bogus' was an empty curve
        raise InputError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    ho = table.inputs("heldout")
    st = strategies(table, width)
    st = st[st["strategy"] == strategy]
    return np.array([(c, 1.0 - table.correct[ho, a].mean()) for c, a in zip(st["flops"], st["setting"])])


DIFFICULTIES = ("oracle", "probe")


def compute_optimal_curve(table: OutcomeTable, width: int, n_bins: int = 5, difficulty: str = "oracle") -> np.ndarray:
    """Per difficulty bin (``oracle`` or ``probe``, see the module docstring), the strategy maximising
    accuracy − λ·cost (chosen on the train inputs), evaluated on held-out: a (cost, error) point per λ.
    With probe bins every strategy also pays the probe."""
    if difficulty not in DIFFICULTIES:
        raise InputError(f"difficulty must be one of {', '.join(DIFFICULTIES)}; got {difficulty!r}")
    tr, ho = table.inputs("train"), table.inputs("heldout")
    bins = oracle_bins(table, width, n_bins) if difficulty == "oracle" else probe_bins(table, n_bins)
    st = strategies(table, width)
    cols, cost = st["setting"].to_numpy(), st["flops"].to_numpy(float)
    if difficulty == "probe":
        cost = cost + table.probe_cost
    out = []
    for lam in LAMBDAS:
        ch = bin_choice(table.correct[tr][:, cols], cost, bins[tr], lam, table.cost_ref, n_bins)
        a = ch[bins[ho]]
        out.append((cost[a].mean(), 1.0 - table.correct[ho, cols[a]].mean()))
    return np.array(out)


def savings(table: OutcomeTable, width: int, difficulty: str = "oracle") -> dict:
    """Test-time compute uniform best-of-k needs for its best accuracy, and what the compute-optimal
    per-bin allocation needs for the same accuracy (held-out); ratio = uniform / optimal. Two checks
    on what the ratio means: ``ratio_from_difficulty`` = the cost of the best single strategy for every
    input (chosen on train, one bin) over the per-bin allocation's, i.e. what allocating *by difficulty*
    adds; and the single argmax pass's error: where it is already at or below best-of-k's, the saving
    says that sampling does not pay for this model, not that allocating by difficulty does."""
    uni = uniform_curve(table, width)
    best = uni[np.argmin(uni[:, 1])]
    opt = cost_at_error(frontier(compute_optimal_curve(table, width, difficulty=difficulty)), best[1])
    single = cost_at_error(frontier(compute_optimal_curve(table, width, n_bins=1)), best[1])  # one bin: no difficulty
    st = strategies(table, width)
    one = st[st["strategy"] == "argmax"].iloc[0]
    ratio = lambda a, b: float(a / b) if np.isfinite(a) and np.isfinite(b) else float("nan")  # noqa: E731
    return {"width": width, "uniform_cost": float(best[0]), "uniform_error": float(best[1]),
            "optimal_cost": opt, "ratio": ratio(best[0], opt),
            "single_strategy_cost": single, "ratio_from_difficulty": ratio(single, opt),
            "argmax_cost": float(one["flops"]),
            "argmax_error": float(1.0 - table.correct[table.inputs("heldout"), int(one["setting"])].mean()),
            "difficulty": difficulty}


def savings_summary(table: OutcomeTable, widths) -> tuple[pd.DataFrame, str]:
    """Notebook 05's key numbers per width (:func:`savings` with oracle and with predicted (probe) bins),
    one row per width, and a sentence (markdown) on how to read them: at which widths one argmax pass is
    already at least as accurate as the best uniform best-of-k (then the saving is one pass against
    many, not allocation by difficulty), and the most that allocating by difficulty adds."""
    saved = pd.DataFrame([savings(table, w) for w in widths])
    pred = pd.DataFrame([savings(table, w, difficulty="probe") for w in widths])
    summary = pd.DataFrame({
        "width": saved["width"],
        "uniform best-of-k: best held-out error": saved["uniform_error"],
        "its test-time FLOPs": saved["uniform_cost"],
        "one argmax pass: error": saved["argmax_error"],
        "per-bin FLOPs at best-of-k's error, oracle bins": saved["optimal_cost"],
        "saved (×), oracle bins": saved["ratio"],
        "saved (×), predicted (probe) bins": pred["ratio"],
        "of which by difficulty (×), oracle": saved["ratio_from_difficulty"],
        "of which by difficulty (×), predicted": pred["ratio_from_difficulty"],
    }).set_index("width")
    beats = saved["width"][saved["argmax_error"] > saved["uniform_error"]].tolist()  # sampling pays there
    if len(beats) == len(saved):
        first = ("One argmax pass is less accurate than the best uniform best-of-k at every width: sampling pays "
                 "on these models, so the saving is the per-bin allocation's own.")
    else:
        first = ("One argmax pass is already at least as accurate as the best uniform best-of-k at "
                 + (f"every width but {', '.join(map(str, beats))}" if beats else "every width")
                 + ": on these classifiers sampling answers from the softmax and picking by the verifier does not "
                 "beat the mode, so most of the saving is one pass against many.")

    def adds(kind: str, r: pd.Series) -> str:
        if not np.isfinite(r).any():
            return f"{kind} bins nothing measurable (they never reach best-of-k's error)"
        note = " (below 1 at every width: the probe costs more than the bins save, so it never helps)" if r.max() < 1 else ""
        return f"{kind} bins {r.max():.3f}×{note}"

    reading = (f"**How to read the savings.** {first} What allocating *by difficulty* adds, at most: "
               + "; ".join(adds(kind, r) for kind, r in (("oracle", saved["ratio_from_difficulty"]),
                                                         ("predicted", pred["ratio_from_difficulty"]))) + ".")
    return summary, reading


TRAIN_BATCH = 256
"""Examples per Adam step of the verifier and the refiner (``testtime._adam_loop``'s batch)."""


def _error(table: OutcomeTable, rows: np.ndarray, setting: int) -> float:
    """Error of one setting on some inputs; NaN, without numpy's empty-mean warning, when there are none (a bin
    the train inputs define can hold no held-out input)."""
    return float(1 - table.correct[rows, setting].mean()) if len(rows) else float("nan")


def helper_training_flops(table: OutcomeTable) -> dict[str, float]:
    """FLOPs it took to make each test-time strategy usable, beyond the student's own pretraining: for best-of-k
    the verifier (its training data, 2 sampled answers of every student of the family on ``train_inputs`` pool
    inputs, then ``train_steps`` Adam steps of ``TRAIN_BATCH`` at 3× its forward FLOPs), for refinement the
    refiner (one pass of every student on those inputs, then the Adam steps, each unrolling ``max(refine_steps)``
    steps); 0 for argmax and majority vote. The verifier's and refiner's FLOPs per use are read off the table's
    costs (best-of-k: k·(f + v); refine-t: f + t·r). Snell et al. fine-tune their verifier and reviser from the
    base model, a cost small next to pretraining; here they are separate networks, larger than the smallest
    students, and until session 22 this cost was left out (a review found that on notebook 05's smoke table the
    refiner's training cost about 7× the larger model's whole pretraining)."""
    tt = table.config.testtime
    f = {int(w): float(strategies(table, int(w)).query("strategy == 'argmax'")["flops"].iloc[0]) for w in table.config.widths}
    one = strategies(table, int(table.config.widths[0]))
    bon, ref = one[one["strategy"] == "bon"].iloc[0], one[one["strategy"] == "refine"].iloc[0]
    f0 = f[int(table.config.widths[0])]
    v, r = bon["flops"] / bon["k"] - f0, (ref["flops"] - f0) / ref["k"]
    passes, fit = tt.train_inputs * sum(f.values()), tt.train_steps * TRAIN_BATCH * 3
    return {"argmax": 0.0, "vote": 0.0, "bon": 2 * passes + fit * v, "refine": passes + fit * max(tt.refine_steps) * r}


def flops_matched(table: OutcomeTable, small: int, large: int, ratio: float, n_bins: int = 5) -> pd.DataFrame:
    """Per oracle bin (of the small model): the larger model's argmax vs the small model's best
    test-time setting whose total FLOPs (pretraining 6·MACs·examples, the training of the verifier or refiner
    it needs (:func:`helper_training_flops`), and R·examples·inference) are at most the larger model's. R =
    inference / pretraining examples. Tidy: bin, model, setting, error, plus one row per model with bin
    ``"all"``: the error over every held-out input (each bin answered by its own choice)."""
    if not (isinstance(ratio, numbers.Real) and math.isfinite(ratio) and ratio >= 0):  # R < 0 paid the test-time FLOPs back
        raise InputError(f"R (inference / pretraining examples) must be a finite number >= 0; got {ratio!r}")
    small, large = check_width(table, small, "small"), check_width(table, large, "large")
    if not small < large:  # the other way round gave rows of NaN
        raise InputError(f"small must be a narrower width than large; got small={small}, large={large}")
    cfg = table.config
    seen = cfg.steps * cfg.batch_size
    s = table.settings
    ho = table.inputs("heldout")
    bins = oracle_bins(table, small, n_bins)
    big = strategies(table, large)
    big = big[big["strategy"] == "argmax"].iloc[0]
    total_big = 3 * big["flops"] * seen + ratio * seen * big["flops"]  # 6·MACs = 3·FLOPs per example
    small_st = strategies(table, small)
    base = float(small_st[small_st["strategy"] == "argmax"]["flops"].iloc[0])
    helper = helper_training_flops(table)
    total = (3 * base * seen + small_st["strategy"].map(helper).to_numpy(float)
             + ratio * seen * small_st["flops"].to_numpy(float))
    ok = small_st[total <= total_big]
    tr = table.inputs("train")
    rows, wrong = [], {"big": 0.0, "small": 0.0}
    for b in range(n_bins):
        rb, hb = tr[bins[tr] == b], ho[bins[ho] == b]
        # a bin no train input falls in (a probe whose confidence is one value) is chosen for from every train
        # input: the mean of an empty slice warned and argmax over NaN took the first affordable setting (helper-92)
        rb = rb if len(rb) else tr
        best = int(ok["setting"].to_numpy()[np.argmax(table.correct[rb][:, ok["setting"]].mean(0))]) if len(ok) else None
        wrong["big"] += float((~table.correct[hb, big["setting"]]).sum())
        wrong["small"] += float("nan") if best is None else float((~table.correct[hb, best]).sum())
        rows.append({"bin": b, "model": f"w{large} argmax", "setting": str(s["name"][big["setting"]]),
                     "error": _error(table, hb, big["setting"])})
        rows.append({"bin": b, "model": f"w{small} + test-time", "setting": None if best is None else str(s["name"][best]),
                     "error": float("nan") if best is None else _error(table, hb, best)})
    rows.append({"bin": "all", "model": f"w{large} argmax", "setting": None, "error": wrong["big"] / len(ho)})
    rows.append({"bin": "all", "model": f"w{small} + test-time", "setting": None, "error": wrong["small"] / len(ho)})
    return pd.DataFrame(rows)
