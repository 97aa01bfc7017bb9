"""workbench.report_params: which notebooks a report runs, and parameter values read from the command line."""

import pytest

from workbench import report_params
from workbench.errors import InputError


def test_parameter_coercion_follows_the_declared_type():
    assert report_params.coerce("n", "3", "int") == 3
    assert report_params.coerce("x", "1e22", "float") == 1e22
    assert report_params.coerce("flag", "false", "bool") is False
    assert report_params.coerce("xs", "[1, 2.5]", "list") == [1, 2.5]
    assert report_params.coerce("xs", "[1e18,1e19]", "list") == [1e18, 1e19]  # JSON spelling
    for bad in ("5", "(1, 2)", "{}", "'a'"):
        with pytest.raises(InputError, match="'xs' must be of type list"):
            report_params.coerce("xs", bad, "list")
    assert report_params.coerce("xs", "[-1e18, 1e19]", "list") == [-1e18, 1e19]
    assert report_params.coerce("xs", "[1+2j]", "list") == [1 + 2j]
    assert report_params.coerce("d", '{"a": 1}', "dict") == {"a": 1}
    with pytest.raises(InputError, match="'d' must be of type dict"):
        report_params.coerce("d", "[1]", "dict")
    assert report_params.coerce("name", "m4", "str") == "m4"
    assert report_params.coerce("free", "hello", None) == "hello"
    with pytest.raises(InputError, match="'n' must be of type int"):
        report_params.coerce("n", "3.5", "int")


@pytest.mark.parametrize("text, part", [("[nan]", "nan"), ("[1e9, inf]", "inf"), ("[0.1, x]", "x"), ("[true]", "true"),
                                        ('[float("nan")]', "float('nan')"), ('{"a": nan}', "nan")])
def test_a_container_parameter_with_a_name_says_which_part_is_no_literal(text, part):
    # each was "parameter 'xs' must be of type list (e.g. -p xs '[1e18, 1e19]')", of a value that is a list
    kind = "dict" if text.startswith("{") else "list"
    with pytest.raises(InputError) as err:
        report_params.coerce("xs", text, kind)
    assert str(err.value) == (f"parameter 'xs' could not be read as a {kind}: {part} is not a Python literal (a "
                              f"number, quoted string, True, False or None); got {text!r}")


def test_select_accepts_number_stem_or_title():
    paths = report_params.discover()
    first = paths[0]
    assert report_params.select([first.stem[:2]]) == [first]
    assert report_params.select([first.stem]) == [first]
    assert report_params.select([first.stem[3:]]) == [first]
    assert report_params.select(None) == paths
    assert report_params.select(first.stem) == [first]  # one name as a string, not its letters
