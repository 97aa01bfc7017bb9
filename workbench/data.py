"""Data the workbench ships or generates: the public NMT learning curves and planted-law data sets.

``load_nmt`` reads ``data/revisiting_scaling_laws_nmt.csv`` (Alabdulmohsin, Neyshabur & Zhai,
"Revisiting Neural Scaling Laws in Language and Vision", NeurIPS 2022; CC BY 4.0; see data/README.md).
``planted`` draws points from a registered law with known parameters and multiplicative noise, on the
designs in ``PLANTED`` (one per law), so fitters can be checked against the truth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from workbench.errors import InputError, is_real_number
from workbench.laws import get_law

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
NMT_CSV = DATA_DIR / "revisiting_scaling_laws_nmt.csv"
NMT_CITATION = ("Alabdulmohsin, Neyshabur & Zhai, 'Revisiting Neural Scaling Laws in Language and Vision', "
                "NeurIPS 2022 (data: CC BY 4.0)")


def cache_dir() -> Path:
    """Where runs are cached: ``$WORKBENCH_CACHE``, else the repository's ``data/cache``, else (a package
    installed from a wheel, which ships no ``data/``) ``$XDG_CACHE_HOME/scaling-workbench`` or
    ``~/.cache/scaling-workbench``.

    The default is resolved against the package, not the working directory, so notebooks (run from
    ``notebooks/``) and the CLI share one cache. A relative ``$WORKBENCH_CACHE`` is relative to the working
    directory; ``report`` hands its kernels the absolute path, so they share the CLI's cache too.
    """
    env = os.environ.get("WORKBENCH_CACHE")
    if env:
        return Path(env)
    if DATA_DIR.exists():  # a source checkout (the Makefile installs it editable)
        return DATA_DIR / "cache"
    # installed: DATA_DIR would be a new top-level 'data' folder inside site-packages
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scaling-workbench"


def load_nmt(path: str | Path = NMT_CSV) -> pd.DataFrame:
    """The five NMT learning curves: Domain, Task, Model, Seen Examples, Loss, Training (1 fit / 0 held out)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "learning-curve file missing", str(path))
    return pd.read_csv(path)


@dataclass(frozen=True)
class PlantedCase:
    """A design (input points) and true parameters for one law; ``fix`` lists parameters held fixed."""

    params: Mapping[str, float]
    design: Callable[[np.random.Generator], tuple[np.ndarray, ...]]
    fix: tuple[str, ...] = ()


def _grid2(a_lo, a_hi, b_lo, b_hi, k):
    a, b = np.meshgrid(np.logspace(a_lo, a_hi, k), np.logspace(b_lo, b_hi, k), indexing="ij")
    return a.ravel(), b.ravel()


def _chinchilla_design(rng, n=240):
    # log-uniform model sizes 1e7..1e11 parameters and data sizes 1e8..1e12 tokens
    return 10 ** rng.uniform(7, 11, n), 10 ** rng.uniform(8, 12, n)


def _pruning_joint_design(rng):
    depth, width, dens = np.meshgrid([2.0, 4.0, 8.0], [16.0, 32.0, 64.0, 128.0], 0.8 ** np.arange(0, 31, 2),
                                     indexing="ij")
    depth, width, dens = depth.ravel(), width.ravel(), dens.ravel()
    eps_np = 0.02 + 1.0 / width + 0.02 / depth  # dense error of each (depth, width) network
    return depth, width, dens, eps_np


PLANTED: dict[str, PlantedCase] = {
    "power": PlantedCase({"a": 5.0, "b": 0.5, "c": 0.3}, lambda rng: (np.logspace(1, 6, 40),)),
    "kaplan": PlantedCase({"Nc": 6.4e13, "Dc": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
                          lambda rng: _chinchilla_design(rng, 200)),
    "chinchilla": PlantedCase({"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366},
                              _chinchilla_design),
    "rosenfeld": PlantedCase({"alpha": 0.66, "b": 1.0, "beta": 0.53, "c_inf": 5e-4, "eta": 0.03, "eps0": 0.9},
                             lambda rng: _grid2(4, 7, 3, 5, 7), fix=("eps0",)),
    "pruning": PlantedCase({"eps_np": 0.05, "eps_up": 0.9, "p": 0.02, "gamma": 2.0},
                           lambda rng: (0.8 ** np.arange(0, 31),)),
    "pruning-joint": PlantedCase({"eps_up": 0.9, "p": 0.5, "gamma": 2.0, "phi": 0.5, "psi": 1.0},
                                 _pruning_joint_design),
    "m4": PlantedCase({"eps_inf": 0.3, "eps0": 1.0, "alpha": 0.5, "beta": 300.0, "c": -0.4},
                      lambda rng: (np.logspace(5, 9, 20),), fix=("eps0",)),
    "m1": PlantedCase({"beta": 40.0, "c": -0.3}, lambda rng: (np.logspace(5, 9, 20),)),
    "m3": PlantedCase({"beta": 40.0, "c": 0.3, "gamma": 3e-8}, lambda rng: (np.logspace(5, 9, 20),)),
    "bnsl": PlantedCase({"a": 0.1, "b": 5.0, "c0": 0.1, "c1": 0.4, "d1": 1e5, "f1": 0.3},
                        lambda rng: (np.logspace(2, 8, 40),)),
    "bnsl2": PlantedCase({"a": 0.1, "b": 5.0, "c0": 0.1, "c1": 0.4, "d1": 1e4, "f1": 0.3, "c2": 0.5, "d2": 1e7,
                          "f2": 0.3}, lambda rng: (np.logspace(2, 10, 60),)),
    "coverage": PlantedCase({"a": -2.0, "b": -0.4}, lambda rng: (np.unique(np.logspace(0, 3, 25).round()),)),
}


def planted(law: str, noise: float = 0.01, seed: int = 0, params: Mapping[str, float] | None = None,
            x: tuple[np.ndarray, ...] | None = None) -> pd.DataFrame:
    """Points from ``law`` with multiplicative log-normal noise of relative size ``noise``.

    Returns a tidy table with one column per law input plus ``y`` (noisy) and ``y_true``.
    Defaults: the law's case in ``PLANTED``.
    """
    lw = get_law(law)
    if not is_real_number(noise) or not 0 <= noise < float("inf"):  # nan passed (only noise < 0 was refused): every y NaN
        raise InputError(f"noise must be a finite number >= 0 (relative noise); got {noise!r}")
    case = PLANTED.get(lw.name)
    rng = np.random.default_rng(seed)
    params = dict(params if params is not None else case.params)
    xs = lw.as_inputs(x) if x is not None else case.design(rng)
    y_true = lw.predict(xs, params)
    y = y_true * np.exp(noise * rng.standard_normal(y_true.shape))
    out = pd.DataFrame({name: v for name, v in zip(lw.inputs, xs)})
    out["y"], out["y_true"] = y, y_true
    return out
