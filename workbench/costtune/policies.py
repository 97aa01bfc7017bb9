"""Baseline policies on an outcome table and the metrics that compare cost–error curves.

Every curve is a list of (cost, error) points on held-out inputs, cost in FLOPs per input.
A Pareto curve keeps the points no other point beats on both. A policy family can also mix any two of
its points (randomising per input), which reaches every point of the segment between them, linear in
cost; so the curve the metrics read (:func:`frontier`) is the lower convex hull of the Pareto points,
interpolated linearly in cost. (Interpolating between adjacent Pareto points instead would let a point
that is Pareto-efficient but above its neighbours' mixture raise the curve: a family offering more
options would score worse, most of all the heuristic cascades with their many scattered points, while
the two oracles, whose every point is the best at its λ and so lies on their hull, would be unaffected.)

Baselines (all evaluated on held-out inputs):
- ``static``: one setting for every input (a smaller model, uniform pruning, uniform quantization,
  or uniform test-time compute). ``static_best`` at a budget is chosen on the train inputs.
- ``cascade`` (FrugalGPT): run settings in increasing cost; stop when the answer's confidence is
  at least τ; pay for every stage run. Chains and τ are chosen on the train inputs.
- ``ladder_cascade``: the same idea on the RL agent's own ladder and confidence bins: chains of 1–3
  rungs with a cut per rung, searched exhaustively on the train inputs. The agent's policy can express
  every such chain, so this is the search the agent's policy gradient is measured against.
- ``oracle_bins``: 5 difficulty bins from the probe's confidence; per bin the setting maximising
  accuracy − λ·cost/cost_ref, chosen on the held-out inputs themselves (an oracle choice); its routed points
  pay the probe (Snell et al. 2024's per-bin compute-optimal strategy); its curve also holds every static
  setting, unrouted and without the probe, so it is never above the static frontier.
- ``oracle_input``: per input the cheapest correct setting (or the cheapest one) at each λ; free.
"""

from __future__ import annotations

import itertools

import numpy as np

from workbench.costtune.outcomes import OutcomeTable
from workbench.errors import InputError
from workbench.testtime import bin_edges, difficulty_bins

LAMBDAS = np.concatenate([[0.0], np.logspace(-4, 3, 71)])
"""λ grid (in units of cost_ref) for views of one λ (notebook 06) and for ``snell``'s train-chosen allocations;
the oracle curves are exact (:func:`merged_frontier`)."""


# ----------------------------------------------------------------------------------------------
# curve metrics (pure)


def pareto(points) -> np.ndarray:
    """Pareto frontier (M, 2) of (cost, error) points, sorted by cost, error strictly decreasing."""
    pts = np.asarray(points, float).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    out, best = [], np.inf
    for c, e in pts:
        if e < best - 1e-12:
            out.append((c, e))
            best = e
    return np.array(out).reshape(-1, 2)


def frontier(points) -> np.ndarray:
    """The cost–error curve a policy family reaches by mixing its points: the lower convex hull (M, 2) of
    their Pareto frontier (linear in cost and error), sorted by cost, error strictly decreasing. Every
    row is one of ``points``; between rows, mixing the two neighbours gives the linear interpolation."""
    hull: list[np.ndarray] = []
    for p in pareto(points):
        # drop the last vertex while it lies on or above the segment from the one before it to p
        while len(hull) >= 2 and ((hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1])
                                  - (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0])) <= 0:
            hull.pop()
        hull.append(p)
    return np.array(hull).reshape(-1, 2)


def merged_frontier(parts) -> np.ndarray:
    """The exact lower convex hull (M, 2) of the sums of one point from each part ((M_i, 2) arrays of additive
    (cost, error) contributions), which choosing per part with one shared λ traces as λ goes from ∞ to 0: every
    part starts at its own hull's cheapest point and its hull segments are taken in order of slope, steepest
    error drop per FLOP first. A grid of λ (72 values until session 22) skipped some vertices, leaving chords
    above the curve (up to 0.007 in error along RL's curve, found by a review)."""
    hulls = [frontier(p) for p in parts]
    start = np.sum([h[0] for h in hulls], axis=0)
    steps = [np.diff(h, axis=0) for h in hulls if len(h) > 1]
    if not steps:
        return start[None, :]
    seg = np.concatenate(steps)
    seg = seg[np.argsort(seg[:, 1] / seg[:, 0], kind="stable")]
    return frontier(np.vstack([start, start + np.cumsum(seg, axis=0)]))


def drawn(front: np.ndarray, per_segment: int = 24) -> np.ndarray:
    """(K, 2) points that draw ``front`` faithfully on a log-cost axis: each segment (linear in cost, as
    mixing gives) sampled at ``per_segment`` log-spaced costs, so a plot does not show the straight
    log-axis chord, which lies below what mixing reaches."""
    front = np.asarray(front, float).reshape(-1, 2)
    if len(front) < 2:
        return front
    cost = np.unique(np.concatenate([(np.geomspace if a > 0 else np.linspace)(a, b, per_segment)  # log(0): linear
                                     for a, b in zip(front[:-1, 0], front[1:, 0])]))
    return np.stack([cost, np.interp(cost, front[:, 0], front[:, 1])], 1)


def error_at_cost(front: np.ndarray, cost: float) -> float:
    """Error of the (interpolated) curve at ``cost``; NaN below its cheapest point."""
    c, e = front[:, 0], front[:, 1]
    if cost < c[0] - 1e-9:
        return float("nan")
    return float(np.interp(cost, c, e))


ERROR_TOL = 1e-12
"""Errors closer than this are equal. Errors are means over at most 2^24 inputs, so two different ones
differ by at least 6e-8; the same error summed in another order (a matrix product against one column or
against several, another BLAS) differs by about 1e-16, which must not decide whether a curve reaches it."""


def cost_at_error(front: np.ndarray, error: float) -> float:
    """Least cost at which the (interpolated) curve reaches ``error`` or lower (to :data:`ERROR_TOL`); NaN
    if never."""
    c, e = front[:, 0], front[:, 1]
    reaches = e <= error + ERROR_TOL
    if reaches[0]:
        return float(c[0])
    for i in range(1, len(c)):
        if reaches[i]:  # cross inside segment i-1 -> i
            t = min(1.0, (e[i - 1] - error) / (e[i - 1] - e[i]))
            return float(c[i - 1] + t * (c[i] - c[i - 1]))
    return float("nan")


def area(front: np.ndarray, lo: float, hi: float, n: int = 512) -> float:
    """Mean error of the curve over log10(cost) in [lo, hi] (area under the cost–error curve divided
    by the width of the range); below the curve's cheapest point the error counts as 1."""
    grid, errs = _errors_on_grid(front, lo, hi, n, "area")
    return float(np.trapezoid(errs, np.log10(grid)) / np.log10(hi / lo))


def _errors_on_grid(front: np.ndarray, lo: float, hi: float, n: int, who: str) -> tuple[np.ndarray, np.ndarray]:
    """(grid, error): ``n`` log-spaced costs in [lo, hi] and the curve's error at each, 1 below its cheapest
    point (a policy that cannot run there answers nothing right)."""
    if not 0 < lo < hi:
        raise InputError(f"{who} needs 0 < lo < hi; got lo={lo!r}, hi={hi!r}")
    grid = np.logspace(np.log10(lo), np.log10(hi), n)
    errs = np.array([error_at_cost(front, g) for g in grid])
    return grid, np.where(np.isnan(errs), 1.0, errs)


ABOVE_TOL = 1e-6
"""An excess in error smaller than this is not counted by :func:`above`: a hundredth of one input of 10,000. RL's
errors are expectations, not counts, and an RL point on a static segment came out 1.2e-8 above it (mnist1d/CNN)."""


def above(front: np.ndarray, other: np.ndarray, lo: float, hi: float, n: int = 512, tol: float = ABOVE_TOL) -> dict:
    """Where ``front`` lies above ``other`` by more than ``tol`` over log10(cost) in [lo, hi] (the grid of
    :func:`area`; below a curve's cheapest point its error counts as 1): the share of the range (``share``), the
    largest excess in error (``max_excess``) and the cost where it is (``at_cost``; None when never above).
    "At or below every baseline across the budget range" is ``share`` 0; a smaller area alone does not say it."""
    grid, err = _errors_on_grid(front, lo, hi, n, "above")
    gap = err - _errors_on_grid(other, lo, hi, n, "above")[1]
    i = int(np.argmax(gap))
    if not gap[i] > tol:
        return {"share": 0.0, "max_excess": 0.0, "at_cost": None}
    return {"share": float((gap > tol).mean()), "max_excess": float(gap[i]), "at_cost": float(grid[i])}


def _weak_strong(weak, strong) -> tuple[float, float, float, float]:
    """(c_w, e_w, c_s, e_s) of two (cost, error) points, checked: the strong one costs more and errs less."""
    (c_w, e_w), (c_s, e_s) = (map(float, p) for p in (weak, strong))
    if not (np.isfinite([c_w, e_w, c_s, e_s]).all() and c_s > c_w and e_w > e_s):
        raise InputError(f"the gap metrics need a strong point (cost, error) costlier and more accurate than the weak "
                         f"one; got weak={tuple(weak)!r}, strong={tuple(strong)!r}")
    return c_w, e_w, c_s, e_s


def gap_recovered(front: np.ndarray, weak, strong, cost: float) -> float:
    """RouteLLM's performance gap recovered (Ong et al. 2024) by the curve ``front`` at ``cost``:
    (e_weak − e(cost)) / (e_weak − e_strong), 0 at the weak point's error, 1 at the strong one's (above 1
    beats the strong setting). Below the curve's cheapest point the weak setting answers: 0."""
    c_w, e_w, c_s, e_s = _weak_strong(weak, strong)
    e = error_at_cost(front, cost)
    return 0.0 if np.isnan(e) else (e_w - e) / (e_w - e_s)


def apgr(front: np.ndarray, weak, strong) -> float:
    """RouteLLM's average performance gap recovered: the mean of :func:`gap_recovered` over costs from
    the weak point's to the strong one's, linear in cost (RouteLLM's axis is the share of calls to the
    strong model; a two-model router's cost is linear in it). Randomly mixing weak and strong scores
    0.5. The curve is linear between its vertices and PGR is 0 below its cheapest one, so the trapezoid
    rule from there on, on a grid holding the vertices, is exact."""
    c_w, e_w, c_s, e_s = _weak_strong(weak, strong)
    front = np.asarray(front, float).reshape(-1, 2)
    start = max(c_w, front[0, 0])
    if start >= c_s:
        return 0.0
    grid = np.unique(np.concatenate([[start, c_s], front[(front[:, 0] > start) & (front[:, 0] < c_s), 0]]))
    pgr = (e_w - np.interp(grid, front[:, 0], front[:, 1])) / (e_w - e_s)
    return float(np.trapezoid(pgr, grid) / (c_s - c_w))


def cpt(front: np.ndarray, weak, strong, share: float) -> float:
    """RouteLLM's CPT(x%): the cost at which the curve first recovers ``share`` of the weak → strong gap, as
    a share of the extra cost of the strong setting over the weak one ((c − c_w) / (c_s − c_w), 0 when
    the curve's cheapest reaching point costs no more than the weak one; above 1 when it needs more than
    the strong setting's cost); NaN if the curve never recovers that share."""
    c_w, e_w, c_s, e_s = _weak_strong(weak, strong)
    if not 0 < share <= 1:
        raise InputError(f"share must be in (0, 1]; got {share!r}")
    c = cost_at_error(front, e_s + (1 - share) * (e_w - e_s))  # share 1: exactly the strong error
    return float(max(0.0, (c - c_w) / (c_s - c_w))) if np.isfinite(c) else float("nan")


def gap_table(pareto: dict[str, np.ndarray], shares=(0.5, 0.8, 0.95)) -> dict:
    """RouteLLM's metrics of every curve in ``pareto`` (policy -> :func:`frontier`) between the cheapest
    (weak) and the most accurate (strong) point of ``pareto['static']``: {'weak': {cost, error}, 'strong':
    {...}, 'policies': {policy: {'apgr', 'cpt50', 'cpt80', 'cpt95'}}} (:func:`apgr`, :func:`cpt` for
    each share; None where never reached). RouteLLM reports CPT(50%) and CPT(80%); where the cheapest
    setting is near chance every curve recovers 80% of the gap for a few percent of the strong setting's
    extra cost, so 95% is added. Empty when one static point is both the cheapest and the most accurate."""
    static = np.asarray(pareto["static"], float).reshape(-1, 2)
    if len(static) < 2:
        return {}
    weak, strong = static[0], static[-1]

    def metrics(front):
        reach = {f"cpt{round(100 * x)}": cpt(front, weak, strong, x) for x in shares}
        return {"apgr": apgr(front, weak, strong), **{k: v if np.isfinite(v) else None for k, v in reach.items()}}

    return {"weak": {"cost": float(weak[0]), "error": float(weak[1])},
            "strong": {"cost": float(strong[0]), "error": float(strong[1])},
            "policies": {name: metrics(np.asarray(front, float)) for name, front in pareto.items()}}


def cost_ratio(rl: np.ndarray, cost: float, error: float) -> float:
    """A point's cost over the cost at which the curve ``rl`` (a :func:`frontier`) reaches its error or
    lower (NaN if it never does). ``cost_ratio_at_matched_error`` is this at the static curve's most
    accurate point."""
    return float(cost / cost_at_error(rl, error))


def resample_weights(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n) weights of n inputs resampled with replacement (each row: counts / n, summing to 1)."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n


def bootstrap_cost_ratio(correct: np.ndarray, cost: np.ndarray, rl_correct: np.ndarray, rl_cost: np.ndarray,
                         n_boot: int = 400, seed: int = 0) -> np.ndarray:
    """(n_boot,) :func:`cost_ratio` on inputs resampled with replacement (the static settings and RL's
    runs see the same resample, so their comparison is paired). correct: (N, A) static settings' 0/1
    outcomes, cost: (A,); rl_correct, rl_cost: (N, R) each RL run's expected correctness and FLOPs per
    input. A resample on which RL never reaches the static curve's best error gives 0."""
    w = resample_weights(correct.shape[0], n_boot, seed)  # (B, N)
    static_err = 1.0 - w @ correct.astype(float)  # (B, A)
    rl_err, rl_flops = 1.0 - w @ rl_correct, w @ rl_cost  # (B, R)
    out = np.array([cost_ratio(frontier(np.stack([rl_flops[b], rl_err[b]], 1)),
                               *frontier(np.stack([cost, static_err[b]], 1))[-1]) for b in range(n_boot)])
    return np.nan_to_num(out, nan=0.0)


# ----------------------------------------------------------------------------------------------
# baselines


def static_points(table: OutcomeTable, idx: np.ndarray) -> np.ndarray:
    """(A, 2): every setting's (cost, error) on inputs idx."""
    return np.stack([table.cost, 1.0 - table.correct[idx].mean(0)], 1)


def train_best(table: OutcomeTable, budget: float = np.inf) -> int:
    """Index of the setting with the lowest train error among those costing <= budget (ties: the cheapest);
    with no budget, the most accurate setting on the train inputs (the study's default budget is half its cost)."""
    ok = np.flatnonzero(table.cost <= budget)
    if ok.size == 0:
        raise InputError(f"budget must be >= the cheapest setting's cost {table.cost.min():.4g} FLOPs; got {budget!r}")
    tr = table.inputs("train")
    return int(ok[np.argmin(1.0 - table.correct[tr][:, ok].mean(0) + 1e-12 * table.cost[ok])])


def static_best(table: OutcomeTable, budget: float) -> dict:
    """The setting with the lowest train error among those costing <= budget; held-out numbers."""
    a, ho = train_best(table, budget), table.inputs("heldout")
    return {"setting": str(table.settings["name"][a]), "cost": float(table.cost[a]),
            "error": float(1.0 - table.correct[ho, a].mean())}


def _chain_eval(table: OutcomeTable, idx: np.ndarray, chain, answers) -> tuple[float, float]:
    """(cost, error) on inputs idx of running the settings ``chain`` in order, answering at stage j where
    ``answers[j]`` (a (len(idx),) bool array; the last stage always answers); every stage run is paid."""
    done = np.zeros(len(idx), bool)
    correct = np.zeros(len(idx), bool)
    cost = np.zeros(len(idx))
    for j, s in enumerate(chain):
        run = ~done
        cost[run] += table.cost[s]
        accept = run if j == len(chain) - 1 else run & answers[j]
        correct[accept] = table.correct[idx[accept], s]
        done |= accept
    return float(cost.mean()), float(1.0 - correct.mean())


def _cascade_eval(table: OutcomeTable, idx: np.ndarray, chain: tuple[int, ...], tau: float) -> tuple[float, float]:
    return _chain_eval(table, idx, chain, [table.conf[idx, s] >= tau for s in chain[:-1]])


def _efficient(configs: list, train_pts: list) -> tuple[list, np.ndarray]:
    """The configurations no other beats on both train cost and train error, and their (M, 2) points."""
    pts = np.array(train_pts)
    keep = [i for i, (c, e) in enumerate(pts) if not ((pts[:, 0] <= c) & (pts[:, 1] < e)).any()]
    return [configs[i] for i in keep], pts[keep]


def _deployed(train_pts: np.ndarray, budget: float) -> int:
    """The configuration a user deploys at ``budget``: the lowest train error among those whose train
    cost fits it (ties: the cheaper; none fits: the cheapest)."""
    fits = np.flatnonzero(train_pts[:, 0] <= budget * (1 + 1e-9))
    if not len(fits):
        return int(np.argmin(train_pts[:, 0]))
    return int(fits[np.lexsort((train_pts[fits, 0], train_pts[fits, 1]))[0]])


def cascade_configs(table: OutcomeTable, max_stages: int = 3, n_frontier: int = 8,
                    taus=np.linspace(0.3, 0.99, 24)) -> tuple[list, np.ndarray]:
    """FrugalGPT cascades over the train-frontier settings: the (chain, τ) configurations
    Pareto-efficient on the train inputs, and their (M, 2) train (cost, error)."""
    tr = table.inputs("train")
    pts = static_points(table, tr)
    front = [int(np.flatnonzero((table.cost == c) & (np.isclose(pts[:, 1], e)))[0]) for c, e in pareto(pts)]
    pick = np.unique(np.linspace(0, len(front) - 1, min(n_frontier, len(front))).round().astype(int))
    cand = [front[i] for i in pick]
    configs, train_pts = [], []
    for m in range(2, max_stages + 1):
        for chain in itertools.combinations(cand, m):
            for tau in taus:
                configs.append((chain, tau))
                train_pts.append(_cascade_eval(table, tr, chain, tau))
    return _efficient(configs, train_pts)


def cascade_points(table: OutcomeTable, found: tuple[list, np.ndarray] | None = None) -> np.ndarray:
    """The train-efficient cascades (``found``, default :func:`cascade_configs`) evaluated on the
    held-out inputs: (M, 2) (cost, error)."""
    ho = table.inputs("heldout")
    configs, _ = cascade_configs(table) if found is None else found
    return np.array([_cascade_eval(table, ho, *c) for c in configs])


def cascade_at_budget(table: OutcomeTable, budget: float, found: tuple[list, np.ndarray] | None = None) -> dict:
    """The cascade a user would deploy at ``budget``: among the train-efficient configurations
    (``found``, default :func:`cascade_configs`), the one with the lowest train error whose train cost
    is within the budget (ties: the cheaper; none fits: the cheapest), scored on the held-out inputs.
    ``{"error", "cost"}``."""
    configs, train = cascade_configs(table) if found is None else found
    cost, err = _cascade_eval(table, table.inputs("heldout"), *configs[_deployed(train, budget)])
    return {"error": err, "cost": cost}


def _ladder_chain_eval(table: OutcomeTable, ladder, idx: np.ndarray, chain: tuple[int, ...],
                       cuts: tuple[int, ...], bins: np.ndarray | None = None) -> tuple[float, float]:
    bins = ladder.conf_bins(table, idx) if bins is None else bins
    return _chain_eval(table, idx, ladder.settings[list(chain)], [bins[:, r] < c for r, c in zip(chain, cuts)])


def ladder_cascade_configs(table: OutcomeTable, ladder, max_stages: int = 3) -> tuple[list, np.ndarray]:
    """Threshold cascades of the RL agent's own ladder (``ladder.Ladder``), searched exhaustively on the
    train inputs: every chain of 1 to ``max_stages`` rungs in increasing cost, answering at a rung when
    its confidence bin (the agent's bins, 0 = most confident) is below a per-rung cut. The agent's
    tabular policy can express every one of them. Returns the (chain, cuts) configurations
    Pareto-efficient on the train inputs and their (M, 2) train (cost, error)."""
    tr = table.inputs("train")
    bins = ladder.conf_bins(table, tr)
    configs, train_pts = [], []
    for m in range(1, min(max_stages, ladder.n_stages) + 1):
        for chain in itertools.combinations(range(ladder.n_stages), m):
            for cuts in itertools.product(range(1, ladder.n_bins), repeat=m - 1):
                configs.append((chain, cuts))
                train_pts.append(_ladder_chain_eval(table, ladder, tr, chain, cuts, bins))
    return _efficient(configs, train_pts)


def ladder_cascade_points(table: OutcomeTable, ladder, found: tuple[list, np.ndarray]) -> np.ndarray:
    """The train-efficient ladder cascades (``found``: :func:`ladder_cascade_configs`) on the held-out
    inputs: (M, 2) (cost, error)."""
    ho = table.inputs("heldout")
    bins = ladder.conf_bins(table, ho)
    return np.array([_ladder_chain_eval(table, ladder, ho, *c, bins) for c in found[0]])


def ladder_cascade_at_budget(table: OutcomeTable, ladder, budget: float, found: tuple[list, np.ndarray]) -> dict:
    """The ladder cascade deployed at ``budget`` (lowest train error within it), scored on the held-out
    inputs: ``{"error", "cost", "chain"}`` (the rungs' setting names and the per-rung cuts)."""
    configs, train = found
    chain, cuts = configs[_deployed(train, budget)]
    cost, err = _ladder_chain_eval(table, ladder, table.inputs("heldout"), chain, cuts)
    return {"error": err, "cost": cost,
            "chain": " > ".join(f"{ladder.names[r]}" + (f" (bin < {c})" if c is not None else "")
                                for r, c in itertools.zip_longest(chain, cuts))}


def probe_bins(table: OutcomeTable, n_bins: int = 5) -> np.ndarray:
    """(N,) difficulty bin of every input from the probe's max probability (0 = easiest); the
    quantile edges come from the train inputs."""
    edges = bin_edges(table.probe[table.inputs("train"), 0], n_bins)
    return difficulty_bins(table.probe[:, 0], edges)


def bin_choice(correct: np.ndarray, cost: np.ndarray, bins: np.ndarray, lam: float, cost_ref: float,
               n_bins: int) -> np.ndarray:
    """(n_bins,) per bin, the setting maximising accuracy − lam·cost/cost_ref (ties: cheaper)."""
    choice = np.zeros(n_bins, int)
    for b in range(n_bins):
        rows = bins == b
        acc = correct[rows].mean(0) if rows.any() else np.zeros(correct.shape[1])
        score = acc - lam * cost / cost_ref - 1e-12 * cost
        choice[b] = int(np.argmax(score))
    return choice


def oracle_bins_at_lambdas(correct: np.ndarray, cost: np.ndarray, bins: np.ndarray, n_bins: int, cost_ref: float,
                           weights: np.ndarray, lambdas=LAMBDAS) -> np.ndarray:
    """(B, len(lambdas), 2) the probe-routed oracle-bins (cost, error) points on B weightings of the inputs (rows of
    ``weights``, (B, N), each summing to 1: the plain mean, or bootstrap resamples). Per weighting, bin
    and λ the setting maximising the bin's weighted accuracy − λ·cost/cost_ref (ties: cheaper) is
    chosen on the same weighting, as :func:`bin_choice` does on the plain mean."""
    correct = correct.astype(float)
    share = np.stack([weights[:, bins == b].sum(1) for b in range(n_bins)], 1)  # (B, n_bins)
    acc = np.stack([weights[:, bins == b] @ correct[bins == b] for b in range(n_bins)], 1)  # (B, n_bins, A)
    acc /= np.maximum(share, 1e-300)[:, :, None]
    out = np.empty((len(weights), len(lambdas), 2))
    for k, lam in enumerate(lambdas):
        pick = np.argmax(acc - lam * cost / cost_ref - 1e-12 * cost, axis=2)  # (B, n_bins)
        out[:, k, 0] = (share * cost[pick]).sum(1)
        out[:, k, 1] = 1.0 - (share * np.take_along_axis(acc, pick[:, :, None], 2)[:, :, 0]).sum(1)
    return out


def oracle_bins_curve(correct: np.ndarray, route_cost: np.ndarray, cost: np.ndarray, bins: np.ndarray,
                      n_bins: int, weight: np.ndarray) -> np.ndarray:
    """The oracle bins' exact curve on one weighting of the inputs (``weight``, (N,), summing to 1): per bin, every
    setting chosen on that weighting, paying the probe that routes an input to its bin (``route_cost``), merged
    over the bins (:func:`merged_frontier`); together with every setting run on all inputs without the probe
    (``cost``), which routing does not need. Until session 22 the probe was always paid, so the oracle's curve
    lay above the static settings' on 8–33% of the range (found by a review)."""
    correct = correct.astype(float)
    parts = []
    for b in range(n_bins):
        share = float(weight[bins == b].sum())
        if share > 0:
            acc = weight[bins == b] @ correct[bins == b] / share
            parts.append(np.stack([share * route_cost, share * (1.0 - acc)], 1))
    static = np.stack([cost, 1.0 - weight @ correct], 1)
    return frontier(np.vstack([merged_frontier(parts), static]))


def oracle_bins_points(table: OutcomeTable, n_bins: int = 5, lambdas=None) -> np.ndarray:
    """The per-bin compute-optimal curve (settings chosen on held-out, so an oracle; :func:`oracle_bins_curve`).
    With ``lambdas``: instead the probe-routed point of each λ (a view of one λ)."""
    ho = table.inputs("heldout")
    bins = probe_bins(table, n_bins)[ho]
    if lambdas is not None:
        uniform = np.full((1, len(ho)), 1.0 / len(ho))
        return oracle_bins_at_lambdas(table.correct[ho], table.route_cost(), bins, n_bins, table.cost_ref, uniform,
                                      lambdas)[0]
    return oracle_bins_curve(table.correct[ho], table.route_cost(), table.cost, bins, n_bins,
                             np.full(len(ho), 1.0 / len(ho)))


def bootstrap_oracle_bins_ratio(table: OutcomeTable, rl_correct: np.ndarray, rl_cost: np.ndarray,
                                n_boot: int = 400, seed: int = 0, n_bins: int = 5) -> np.ndarray:
    """(n_boot,) RL's cost over the oracle bins' cost at RL's error, on the held-out inputs resampled
    with replacement (the same resamples as :func:`bootstrap_cost_ratio` for the same seed; the oracle
    re-chooses its bins' settings on each). rl_correct, rl_cost: (N,) one RL policy's expected
    correctness and FLOPs per held-out input. A resample on which the oracle bins never reach RL's
    error gives 0 (RL is below the oracle's curve there)."""
    ho = table.inputs("heldout")
    w = resample_weights(len(ho), n_boot, seed)
    bins, route = probe_bins(table, n_bins)[ho], table.route_cost()
    rl_err, rl_flops = 1.0 - w @ rl_correct, w @ rl_cost
    out = np.array([rl_flops[b] / cost_at_error(oracle_bins_curve(table.correct[ho], route, table.cost, bins,
                                                                  n_bins, w[b]), rl_err[b]) for b in range(n_boot)])
    return np.nan_to_num(out, nan=0.0)


def oracle_input_points(table: OutcomeTable) -> np.ndarray:
    """The per-input oracle's exact curve (no probe cost): every input answered by the cheapest setting, then,
    cheapest first, the inputs it gets wrong moved to their cheapest right setting (where one is), each such
    move a segment of :func:`merged_frontier` with slope −1/(N·extra cost)."""
    ho = table.inputs("heldout")
    correct, cost = table.correct[ho].astype(bool), table.cost
    c0 = float(cost.min())
    wrong = ~correct[:, cost == c0].any(1)
    cheapest_right = np.where(correct, cost[None, :], np.inf).min(1)[wrong]
    extra = np.sort(cheapest_right[np.isfinite(cheapest_right)]) - c0
    n = len(ho)
    start = np.array([c0, wrong.mean()])
    steps = np.stack([np.cumsum(extra) / n, -np.arange(1, len(extra) + 1) / n], 1)
    return frontier(np.vstack([start, start + steps]))
