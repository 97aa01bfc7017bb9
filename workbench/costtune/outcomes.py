"""The outcome table: every input × every inference setting -> correct, loss, confidence, cost.

Computed once per :class:`OutcomeConfig` (train a student family with ``train_stack``, prune and
fine-tune it, quantize it, sample it, train a verifier and a refiner) and cached on disk under
``<cache>/costtune/outcomes-<task>-<family>-<key>.npz`` (``<cache>``: ``$WORKBENCH_CACHE`` or ``data/cache``),
so policies are evaluated on held-out inputs by table look-up.
A cached file that cannot be the table of its config (unreadable, truncated, another config's
table, arrays of the wrong shape) is named in a :class:`~workbench.errors.CacheWarning` and built
again, never used.

Inputs are the task's test set, split at random (seeded) into ``train`` inputs (policies, laws
and bins are fitted on them) and ``heldout`` inputs (every reported number).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.cache import atomic_write, read_cached, remove_stale_temps
from workbench.data import cache_dir as default_cache_dir
from workbench.errors import CacheWriteError, InputError, canonical_numbers, is_real_number, is_whole_number
from workbench.limits import TASK_SIZE_DEFAULTS
from workbench.limits import MIN_INPUTS  # noqa: F401 (also imported from here: the fewest test inputs of a table)
from workbench.testtime import TestTimeConfig

FAMILY_DEFAULTS = {"mlp": {"widths": (4, 8, 16, 32, 64, 128), "depth": 2},
                   "cnn": {"widths": (4, 8, 16, 32), "depth": 3}}
COSTTUNE_TASKS = ("teacher-classification", "mnist1d")


@dataclass(frozen=True)
class OutcomeConfig:
    """Everything the outcome table depends on (its cache key)."""

    task: str = "teacher-classification"
    """``teacher-classification`` or ``mnist1d``."""
    family: str = "mlp"
    """Student family: ``mlp`` or ``cnn``."""
    widths: tuple[int, ...] = ()
    """Widths of the family (empty: ``FAMILY_DEFAULTS``)."""
    depth: int = -1
    """Hidden (MLP) or conv (CNN) layers (-1: ``FAMILY_DEFAULTS``)."""
    steps: int = 2000
    """Adam steps of each dense student."""
    finetune_steps: int = 300
    """Adam steps of masked fine-tuning after one-shot magnitude pruning."""
    densities: tuple[float, ...] = (1.0, 0.5, 0.25)
    """Pruning densities offered (1.0 = dense)."""
    precisions: tuple[str, ...] = ("fp32", "bf16", "int8")
    """Numeric precisions offered."""
    n_inputs: int = 20000
    """Test inputs in the table (half train, half held-out). 10,000 held-out inputs put the standard
    error of an error rate near 5% at 0.2 points; 2,000 put it at 0.5, more than most gaps between
    the policies compared."""
    batch_size: int = 256
    """Examples per Adam step."""
    lr: float = 3e-3
    """Adam learning rate."""
    task_seed: int = 0
    """Seed of the task (teacher, data)."""
    seed: int = 0
    """Seed of the students, the split and the test-time sampling."""
    probe_width_index: int = 1
    """Probe pass: the dense student ``widths[probe_width_index]`` ..."""
    probe_precision: str = "int8"
    """... at this precision; its confidence features feed the per-input policies."""
    testtime: TestTimeConfig = field(default_factory=TestTimeConfig)
    """Sampling, verifier and refiner settings."""

    def __post_init__(self):
        canonical_numbers(self)  # 1 -> 1.0 in a float field: same value, same cache key

    def resolved(self) -> "OutcomeConfig":
        """Defaults filled in and every field checked (InputError names the bad one)."""
        if self.task not in COSTTUNE_TASKS:
            raise InputError(f"task must be one of {', '.join(COSTTUNE_TASKS)}; got {self.task!r}")
        if self.family not in FAMILY_DEFAULTS:
            raise InputError(f"family must be one of {', '.join(FAMILY_DEFAULTS)}; got {self.family!r}")
        from workbench.compress import PRECISION_BITS  # torch; this module's callers have it loaded already

        d = FAMILY_DEFAULTS[self.family]
        if not is_whole_number(self.depth):  # 2.5 passed here; 'x' was a TypeError from the comparison
            raise InputError(f"depth must be a whole number >= 1 (-1: the family's default); got {self.depth!r}")
        if isinstance(self.widths, (str, bytes)) or not all(is_whole_number(w) for w in self.widths):
            raise InputError(f"widths must be >= 2 increasing positive integers; got {self.widths!r}")
        cfg = dataclasses.replace(self, widths=tuple(self.widths) or d["widths"],
                                  depth=d["depth"] if self.depth < 0 else self.depth)
        if len(cfg.widths) < 2 or any(w < 1 for w in cfg.widths) or list(cfg.widths) != sorted(set(cfg.widths)):
            raise InputError(f"widths must be >= 2 increasing positive integers; got {cfg.widths!r}")
        if cfg.depth < 1:  # depth 0 made every width the same linear model
            raise InputError(f"depth must be >= 1 (a family of widths needs hidden layers); got {cfg.depth!r}")
        if not all(is_real_number(x) for x in cfg.densities) or 1.0 not in cfg.densities or \
                any(not 0 < x <= 1 for x in cfg.densities) or len(set(cfg.densities)) != len(cfg.densities):
            raise InputError(f"densities must be distinct numbers in (0, 1] including 1.0; got {cfg.densities!r}")
        if not is_whole_number(cfg.probe_width_index) or not -len(cfg.widths) <= cfg.probe_width_index < len(cfg.widths):
            raise InputError(f"probe_width_index must index widths {cfg.widths!r}; got {cfg.probe_width_index!r}")
        # -1 and len - 1 name one probe: one table, one key (they keyed apart: a rebuild of the same table)
        cfg = dataclasses.replace(cfg, probe_width_index=int(cfg.probe_width_index) % len(cfg.widths))
        unknown = [p for p in cfg.precisions if not isinstance(p, str) or p not in PRECISION_BITS]
        if unknown or len(set(cfg.precisions)) != len(cfg.precisions):  # 'fp16' failed after training
            raise InputError(f"precisions must be distinct names among {', '.join(PRECISION_BITS)}; got "
                             f"{cfg.precisions!r}")
        if cfg.probe_precision not in cfg.precisions:
            raise InputError(f"probe_precision must be one of precisions {cfg.precisions!r}; "
                             f"got {cfg.probe_precision!r}")
        if "fp32" not in cfg.precisions:
            raise InputError(f"precisions must include fp32; got {cfg.precisions!r}")
        if not (is_real_number(cfg.lr) and 0 < cfg.lr < float("inf")):  # -1.0 trained by gradient ascent, cached
            raise InputError(f"lr must be finite and > 0; got {cfg.lr!r}")
        # n_inputs: half fit the policies, laws and bins, half score them; below MIN_INPUTS the held-out
        # half is too small to score anything (2 inputs once reported an RL error of 1.0 from one input)
        for name, least in (("steps", 1), ("n_inputs", MIN_INPUTS), ("batch_size", 1), ("finetune_steps", 0),
                            ("seed", 0), ("task_seed", 0)):
            value = getattr(cfg, name)  # 2.5 passed and "200" was a TypeError from the comparison
            if not is_whole_number(value) or value < least:
                raise InputError(f"{name} must be an integer >= {least}; got {value!r}")
        if not isinstance(cfg.testtime, TestTimeConfig):  # None was an AttributeError
            raise InputError(f"testtime must be a TestTimeConfig; got {cfg.testtime!r}")
        cfg.testtime.validate()
        pool = TASK_SIZE_DEFAULTS[cfg.task]["pool_size"]
        if cfg.testtime.train_inputs > pool:  # the build takes the pool's first train_inputs rows: fewer, silently
            raise InputError(f"testtime.train_inputs must be <= the {cfg.task} pool's {pool} inputs (the verifier and "
                             f"refiner train on them); got {cfg.testtime.train_inputs!r}")
        # one table, one key, in whatever order the grids came: densities and precisions (by bits) descending, ks and
        # refine steps ascending, as the defaults are (reordered tuples keyed apart: a rebuild of the same table)
        tt = cfg.testtime
        return dataclasses.replace(
            cfg, densities=tuple(sorted(cfg.densities, reverse=True)),
            precisions=tuple(sorted(cfg.precisions, key=lambda p: -PRECISION_BITS[p])),
            testtime=dataclasses.replace(tt, ks=tuple(sorted(tt.ks)), refine_steps=tuple(sorted(tt.refine_steps))))

    def key(self) -> str:
        # v2, then v3 (session 33) for MLP families: their students' training changed by float rounding twice
        # (``RunConfig.key``)
        blob = json.dumps({"v": 3 if self.family == "mlp" else 1, **dataclasses.asdict(self.resolved())},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class OutcomeTable:
    """Per-input outcomes of every setting. N inputs, A settings."""

    config: OutcomeConfig
    settings: pd.DataFrame
    """One row per setting: name, width, density, precision, strategy, k, macs, bitops, flops
    (per input, including samples, verifier and refinement steps), latency_s (measured, per input)."""
    correct: np.ndarray
    """(N, A) bool: the setting's answer is right."""
    loss: np.ndarray
    """(N, A) float32: cross-entropy of the setting's answer distribution."""
    conf: np.ndarray
    """(N, A) float32: the setting's confidence in its answer (max probability or vote share)."""
    split: np.ndarray
    """(N,) int8: 0 = train input, 1 = held-out input."""
    probe: np.ndarray
    """(N, 3) float32: max probability, top-2 margin, entropy of the probe pass."""
    pass_counts: np.ndarray
    """(N, W) int: correct answers among ``max_k`` samples of each width (fp32, dense)."""
    probe_setting: int = 0
    """Index of the probe setting (``probe_width_index``, dense, ``probe_precision``, argmax)."""
    seconds: float = 0.0
    """Wall time of the build (0 when read from the cache)."""
    device: str = "unknown"
    """Device the students trained on: ``cpu`` or ``cuda`` (``unknown`` for a table cached before
    session 8, which did not record it). Not part of the cache key: float summation order differs
    between devices, so a table built on CUDA holds slightly different numbers from one built on the
    CPU, and a cached table is reused whichever device asks for it."""

    @property
    def cost(self) -> np.ndarray:
        """(A,) FLOPs-equivalent per input (2 × bit-operations)."""
        return self.settings["flops"].to_numpy(float)

    @property
    def cost_ref(self) -> float:
        """Cost normaliser of rewards: the largest dense fp32 student's FLOPs (one argmax pass)."""
        s = self.settings
        return float(s["flops"][(s["strategy"] == "argmax") & (s["precision"] == "fp32")
                                & (s["density"] == 1.0)].max())

    @property
    def probe_cost(self) -> float:
        return float(self.cost[self.probe_setting])

    def route_cost(self) -> np.ndarray:
        """(A,) cost of a policy that probes first and then runs the chosen setting (the probe's own
        answer is reused when the probe setting itself is chosen)."""
        c = self.cost + self.probe_cost
        c[self.probe_setting] = self.probe_cost
        return c

    def inputs(self, split: str) -> np.ndarray:
        if split not in ("train", "heldout"):
            raise InputError(f"split must be 'train' or 'heldout'; got {split!r}")
        return np.flatnonzero(self.split == (1 if split == "heldout" else 0))

    def frame(self) -> pd.DataFrame:
        """Tidy long table: one row per (input, setting)."""
        n, a = self.correct.shape
        s = self.settings.loc[np.tile(np.arange(a), n)].reset_index(drop=True)
        return pd.concat([pd.DataFrame({"input": np.repeat(np.arange(n), a),
                                        "split": np.repeat(np.where(self.split == 1, "heldout", "train"), a),
                                        "correct": self.correct.ravel(), "loss": self.loss.ravel(),
                                        "conf": self.conf.ravel()}), s], axis=1)


def _cache_path(cfg: OutcomeConfig, cache_dir: Path) -> Path:
    return Path(cache_dir) / "costtune" / f"outcomes-{cfg.task}-{cfg.family}-{cfg.key()}.npz"


def table_path(cfg: OutcomeConfig, cache_dir: str | Path | None = None) -> Path:
    """Where ``outcome_table`` keeps the table of ``cfg`` (it may not exist yet)."""
    return _cache_path(cfg.resolved(), Path(cache_dir) if cache_dir is not None else default_cache_dir())


def save(table: OutcomeTable, path: Path) -> None:
    meta = {"config": dataclasses.asdict(table.config), "settings": table.settings.to_dict("list"),
            "probe_setting": table.probe_setting, "device": table.device}
    try:
        with atomic_write(path) as tmp:  # the temp name ends in .npz, so numpy does not append another
            np.savez_compressed(tmp, correct=table.correct, loss=table.loss, conf=table.conf, split=table.split,
                                probe=table.probe, pass_counts=table.pass_counts, meta=np.array(json.dumps(meta)))
    except OSError as exc:  # disk full, read-only folder: one line from the CLI, not a traceback
        raise CacheWriteError(f"cannot write the outcome table {path} ({exc.strerror or exc})") from None


def load(path: Path, cfg: OutcomeConfig) -> OutcomeTable:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        return OutcomeTable(cfg, pd.DataFrame(meta["settings"]), z["correct"], z["loss"], z["conf"],
                            z["split"], z["probe"], z["pass_counts"], int(meta["probe_setting"]),
                            device=str(meta.get("device", "unknown")))


def _table_problem(table: OutcomeTable, stored_config) -> str | None:
    """Why a loaded table is not the table of ``table.config``; None when it is."""
    expected = json.loads(json.dumps(dataclasses.asdict(table.config)))
    if stored_config != expected:
        changed = sorted(k for k in expected if not isinstance(stored_config, dict) or stored_config.get(k) != expected[k])
        return f"the table of another configuration ({', '.join(changed) or 'its fields'} differ)"
    n, a = len(table.split), len(table.settings)
    shapes = {"correct": (n, a), "loss": (n, a), "conf": (n, a), "probe": (n, 3),
              "pass_counts": (n, len(table.config.widths))}
    for name, shape in shapes.items():
        if getattr(table, name).shape != shape:
            return f"{name} has shape {getattr(table, name).shape}, not {shape}"
    if n != table.config.n_inputs or not 0 <= table.probe_setting < a:
        return f"{n} inputs and probe setting {table.probe_setting} for {table.config.n_inputs} inputs, {a} settings"
    return None


def _load_with_meta(path: Path, cfg: OutcomeConfig):
    """(table, its stored meta) from ``path``; the meta alone when it is not a JSON object."""
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
    return (load(path, cfg), meta) if isinstance(meta, dict) else (None, meta)


def _loaded_problem(loaded) -> str | None:
    table, meta = loaded
    if table is None:
        return f"its meta is a JSON {type(meta).__name__}, not an object"
    return _table_problem(table, meta.get("config"))


def load_checked(path: Path, cfg: OutcomeConfig) -> OutcomeTable | None:
    """The table cached at ``path`` for ``cfg``; None when there is none, or (with a
    :class:`~workbench.errors.CacheWarning`) when the file cannot be it: the caller builds it again."""
    # bad zip, JSON, array or key; zlib.error: a member's compressed bytes damaged (not truncated)
    # stacklevel 4: the warning names the call of outcome_table (the user's line), as before read_cached
    loaded = read_cached(path, _loaded_problem, load=lambda f: _load_with_meta(f, cfg),
                         unreadable=(KeyError, EOFError, zipfile.BadZipFile, zlib.error), stacklevel=4)
    return None if loaded is None else loaded[0]


def outcome_table(cfg: OutcomeConfig, cache_dir: str | Path | None = None, refresh: bool = False,
                  device: str | None = None, progress=None) -> OutcomeTable:
    """The cached table for ``cfg`` (built, and written atomically, on the first call; its students
    train on ``device``, default CUDA when present, and ``OutcomeTable.device`` records which). ``progress``
    wraps the build's stages (``build.build_outcomes``); a table read from the cache shows none."""
    cfg = cfg.resolved()
    path = table_path(cfg, cache_dir)
    remove_stale_temps(path.parent)  # a killed save's half-written table (an .npz of megabytes takes seconds)
    if not refresh and (cached := load_checked(path, cfg)) is not None:
        return cached
    from workbench.costtune.build import build_outcomes  # torch lives there

    t0 = time.perf_counter()
    table = build_outcomes(cfg, device, progress)
    table = dataclasses.replace(table, seconds=time.perf_counter() - t0)
    save(table, path)
    return table
