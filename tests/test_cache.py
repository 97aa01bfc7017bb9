"""workbench/cache.py: cache files written whole, stale temp files of killed writers cleared."""

import os
import time

import pytest

from workbench.cache import STALE_TEMP_SECONDS, TEMP_PREFIX, atomic_write, remove_stale_temps
from workbench.sweep import SweepConfig, run_sweep
from workbench.tasks import task_config


def test_atomic_write_replaces_whole_or_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "deep" / "rows.csv"
    with atomic_write(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".csv" and not path.exists()
        tmp.write_text("a\n1\n")
    assert path.read_text() == "a\n1\n" and (path.stat().st_mode & 0o777) == 0o644
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt  # as Ctrl-C in the middle of a write
    assert path.read_text() == "a\n1\n" and sorted(p.name for p in path.parent.iterdir()) == ["rows.csv"]


def _temp(folder, name, age):
    path = folder / f"{TEMP_PREFIX}{name}"
    path.write_text("half a row")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_remove_stale_temps_deletes_a_killed_writers_old_temps_and_keeps_writes_in_progress(tmp_path):
    old = _temp(tmp_path, "old.json", STALE_TEMP_SECONDS + 60)
    fresh = _temp(tmp_path, "fresh.json", 5)  # another process may be writing it now
    row = tmp_path / "row.json"
    row.write_text("{}")
    os.utime(row, (0, 0))  # an old cache file is not a temp file
    assert remove_stale_temps(tmp_path) == 1
    assert not old.exists() and fresh.exists() and row.exists()
    assert remove_stale_temps(tmp_path / "absent") == 0


def test_a_sweep_clears_the_temp_a_killed_run_left_in_its_cache(tmp_path):
    # before: a run killed with SIGKILL inside a write left .tmp-*.json beside the rows for ever
    (tmp_path / "sweep").mkdir()
    left = _temp(tmp_path / "sweep", "abc.json", 2 * STALE_TEMP_SECONDS)
    cfg = SweepConfig(task=task_config("teacher-regression"), widths=(4,), sizes=(32,), steps=5, batch_size=8)
    table = run_sweep(cfg, cache_dir=tmp_path, progress=False, device="cpu")
    assert len(table) == 1 and not left.exists()
    assert sorted(p.name.startswith(TEMP_PREFIX) for p in (tmp_path / "sweep").iterdir()) == [False]
