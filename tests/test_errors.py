"""workbench/errors.py: the shared tests behind the checks' messages (repeated values, numbers)."""

import numpy as np
import pytest

from workbench.errors import (InputError, Interrupted, Terminated, check_bootstrap, check_flag, exit_code_of, is_real_number,
                             is_whole_number, repeats, stopped_by)


def test_repeats_lists_each_repeated_value_once_in_the_order_it_repeats():
    assert repeats([3, 1, 3, 2, 1, 3]) == [3, 1]
    assert repeats(("b", "a", "a", "b")) == ["a", "b"]
    assert repeats([1, 2, 3]) == [] and repeats([]) == []
    assert repeats([[1], [2], [1]]) == [[1]]  # unhashable values: compared with ==


def test_real_and_whole_numbers_exclude_bools_strings_and_non_finite_values():
    for v in (3, 3.0, -2, np.int64(3), np.float32(2.0)):
        assert is_real_number(v) and is_whole_number(v), v
    for v in (2.5, float("nan"), float("inf"), np.float64(0.1)):
        assert not is_whole_number(v), v
    assert is_real_number(2.5) and is_real_number(float("nan"))
    for v in (True, "3", None, [3]):
        assert not is_real_number(v) and not is_whole_number(v), v


def test_column_not_found_points_at_spaces_around_a_name():
    from workbench.errors import column_not_found

    plain = column_not_found("Q", ["N", "D"])
    assert isinstance(plain, InputError) and str(plain) == "column 'Q' not found; available columns: N, D"
    header = str(column_not_found("D", ["N", " D", " loss"]))
    assert header.endswith("(the header has ' D', with spaces around the name: written with ', ' between names? "
                           "remove the spaces from the header)")
    given = str(column_not_found("Training ", ["Loss", "Training"], "holdout column"))
    assert given.startswith("holdout column 'Training ' not found")
    assert given.endswith("(the name given has spaces around it; the column is 'Training')")


def test_check_bootstrap_takes_0_or_two_and_more_whole_resamples_and_refuses_the_rest():
    assert check_bootstrap(0) == 0 and check_bootstrap(2) == 2 and type(check_bootstrap(np.int64(200))) is int
    for bad in (1, -2, 2.5, 2.0, True, "100", None):
        with pytest.raises(InputError, match=r"^vl_bootstrap must be 0 \(no intervals\) or an integer >= 2 \(seed "
                                             r"resamples\); got "):
            check_bootstrap(bad, "vl_bootstrap", "seed resamples")


def test_a_run_stopped_by_sigterm_exits_143_and_by_ctrl_c_130_as_a_shell_reports_them():
    for exc, code, by in ((Terminated(), 143, "SIGTERM"), (KeyboardInterrupt(), 130, "Ctrl-C"), (None, 130, "Ctrl-C")):
        assert exit_code_of(exc) == code and Interrupted("kept", exc).exit_code == code
        assert stopped_by(exc) == by


def test_check_flag_takes_python_and_numpy_booleans_and_refuses_counts_strings_and_none():
    assert check_flag(True, "interval") is True and check_flag(np.bool_(False), "interval") is False
    for bad in (1, 0, 100, "True", None):  # 100: a count of resamples, as the bootstrap parameters took
        with pytest.raises(InputError, match=rf"^vl_interval must be True or False; got {bad!r}$"):
            check_flag(bad, "vl_interval")
