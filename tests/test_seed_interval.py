"""The leave-one-seed-out jackknife-t interval (workbench.seed_interval), against scipy's t interval, and its units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.errors import InputError
from workbench.seed_interval import jackknife_t, units_table


def test_the_jackknife_interval_of_a_mean_is_students_t_interval():
    # the jackknife's standard error of a mean is the plain one, sd/√s, so the interval is t's, column by column
    wide = np.random.default_rng(3).normal(1.0, 0.2, (6, 2))
    low, high = jackknife_t(lambda w: w.mean(0), wide, level=0.9)
    for j in range(2):
        col = wide[:, j]
        assert (low[j], high[j]) == pytest.approx(stats.t.interval(0.9, 5, loc=col.mean(), scale=stats.sem(col)),
                                                  rel=1e-12)


def test_the_interval_is_centred_on_the_estimate_from_every_seed_and_clipped_to_the_bounds():
    # a median is not the mean of its leave-one-out values: the interval is centred on the full estimate
    wide = np.array([[0.0], [1.0], [2.0], [6.0], [9.0]])
    median = lambda w: float(np.median(w))  # noqa: E731
    loo = np.array([4.0, 4.0, 3.5, 1.5, 1.5])  # medians of the 4 rows left each time (1, 2, 6, 9 / 0, 2, 6, 9 / ...)
    half = stats.t.ppf(0.975, 4) * np.sqrt(4 / 5 * ((loo - loo.mean()) ** 2).sum())
    low, high = jackknife_t(median, wide)
    assert loo.mean() != 2.0 and (low, high) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-12)
    assert jackknife_t(median, wide, lower=0.0, upper=4.0) == (0.0, 4.0)


def test_bad_arguments_are_refused_with_the_value():
    with pytest.raises(InputError, match=r">= 2 seeds \(rows\); got an array of shape \(1, 3\)"):
        jackknife_t(lambda w: w.mean(), np.ones((1, 3)))
    with pytest.raises(InputError, match=r"shape \(4,\)"):
        jackknife_t(lambda w: w.mean(), np.ones(4))
    with pytest.raises(InputError, match=r"level must be in \(0, 1\); got 95"):
        jackknife_t(lambda w: w.mean(), np.ones((3, 2)), level=95)


def test_the_units_are_teachers_with_their_seeds_averaged_else_seeds():
    t = pd.DataFrame({"task_seed": [0, 0, 1, 1] * 2, "seed": [0, 1] * 4, "n": [1] * 4 + [2] * 4,
                      "y": [1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 6.0, 8.0]})
    teachers = units_table(t, "n", "y", "here")
    assert teachers.index.name == "task_seed" and teachers.to_numpy().tolist() == [[2.0, 3.0], [6.0, 7.0]]
    seeds = units_table(t[t.task_seed == 0], "n", "y", "here")  # one teacher: its seeds are the units
    assert seeds.index.name == "seed" and seeds.to_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    only_teacher = units_table(t[t.seed == 0].drop(columns="seed").iloc[:1], "n", "y", "here")
    assert only_teacher.index.name == "task_seed" and len(only_teacher) == 1
    with pytest.raises(InputError, match=r"^an interval over seeds needs a 'seed' or 'task_seed' column; here has "):
        units_table(t.drop(columns=["seed", "task_seed"]), "n", "y", "here")
    # a teacher's mean over other seeds at one n, or over more seeds than another's, moved the interval's centre off
    # the reported fit (the mean over every row): a helper's demo, k 0.865 reported and 0.842 at the centre
    with pytest.raises(InputError, match=r"every \(task_seed, seed\) needs every n; width 8 has no y for task_seed 1, "
                                         r"seed 1 at n=2 \(or pass interval=False\)$"):
        units_table(t.iloc[:-1], "n", "y", "width 8")
    extra = pd.concat([t, t[t.seed == 0].assign(seed=2, task_seed=0).iloc[[0, 2]]])  # teacher 0: 3 seeds
    with pytest.raises(InputError, match=r"every teacher needs as many seeds; width 8 has \{0: 3, 1: 2\} seeds per"):
        units_table(extra, "n", "y", "width 8")
    gap = t[~((t.task_seed == 1) & (t.n == 2))]
    with pytest.raises(InputError, match=r"^the interval leaves out one task_seed at a time, so every task_seed needs "
                                         r"every n; width 8 has no y for task_seed 1 at n=2 \(or pass interval=False\)$"):
        units_table(gap.drop(columns="seed"), "n", "y", "width 8")  # teachers without seeds: the plain gap
