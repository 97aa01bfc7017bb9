"""workbench/errors.py: repeats, the shared test behind the 'more than once' / 'twice' messages."""

from workbench.errors import repeats


def test_repeats_lists_each_repeated_value_once_in_the_order_it_repeats():
    assert repeats([3, 1, 3, 2, 1, 3]) == [3, 1]
    assert repeats(("b", "a", "a", "b")) == ["a", "b"]
    assert repeats([1, 2, 3]) == [] and repeats([]) == []
    assert repeats([[1], [2], [1]]) == [[1]]  # unhashable values: compared with ==
