"""Tests of the shared input checks: partial labels (``-1`` = unlabeled)."""
import numpy as np
import pytest

from skmollal._validation import check_partial_labels


def test_valid_labels_come_back_as_int():
    y = check_partial_labels([0, -1, 2, 1], 4, 3)
    assert y.dtype.kind == "i"
    np.testing.assert_array_equal(y, [0, -1, 2, 1])


def test_whole_number_floats_are_accepted():
    y = check_partial_labels(np.array([1.0, -1.0, 0.0]), 3, 2)
    assert y.dtype.kind == "i"
    np.testing.assert_array_equal(y, [1, -1, 0])


def test_numbers_in_an_object_array_are_accepted():
    y = check_partial_labels(np.array([1, -1, 0.0], dtype=object), 3, 2)
    np.testing.assert_array_equal(y, [1, -1, 0])


def test_none_means_unlabeled_unless_labels_are_required():
    np.testing.assert_array_equal(
        check_partial_labels(None, 3, 2, require_labels=False), [-1, -1, -1]
    )
    with pytest.raises(ValueError, match="y is required"):
        check_partial_labels(None, 3, 2)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.zeros((4, 1), int), r"y must be 1-d .* got shape \(4, 1\)"),
        (np.int64(1), r"y must be 1-d .* got shape \(\)"),
        ([0, 1, -1], "y has 3 entries but there are 4 rows"),
    ],
)
def test_wrong_shape_or_length(y, match):
    with pytest.raises(ValueError, match=match):
        check_partial_labels(y, 4, 2)


def test_booleans_are_rejected():
    with pytest.raises(ValueError, match="y holds booleans; give class indices, -1 for unlabeled"):
        check_partial_labels(np.array([True, False, True]), 3, 2)
    with pytest.raises(ValueError, match=r"y\[1\] is a boolean"):
        check_partial_labels(np.array([0, True, 1], dtype=object), 3, 2)


def test_fractional_floats_are_not_truncated():
    with pytest.raises(ValueError, match=r"y\[2\] = 1.7 is not a whole number"):
        check_partial_labels(np.array([0.0, 1.0, 1.7, 0.5]), 4, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_name_the_row(bad):
    y = np.array([0.0, -1.0, 1.0, bad])
    with pytest.raises(ValueError, match=r"y\[3\] is -?(nan|inf) \(not a finite number\)") as err:
        check_partial_labels(y, 4, 3)
    assert "-9223372036854775808" not in str(err.value)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array(["a", "b", "a"]),
         r"y holds <U1 values \(e.g. y\[0\] = 'a'\) where class indices"),
        (np.array([0, "b", 1], dtype=object), r"y\[1\] is 'b' \(str\); class indices are expected"),
        (np.array([0, None, 1], dtype=object), r"y\[1\] is None \(NoneType\); class indices"),
        (np.array([1 + 0j, 0j, 1 + 0j]), "where class indices are expected, -1 for unlabeled"),
    ],
)
def test_strings_and_objects_are_rejected(y, match):
    with pytest.raises(ValueError, match=match):
        check_partial_labels(y, 3, 2)


@pytest.mark.parametrize(
    "y, n_classes, match",
    [
        ([0, 1, 3, 5], 3, r"y\[2\] = 3 is outside the valid range -1..2 .* 2 such value"),
        ([0, -2, 1, 0], 3, r"y\[1\] = -2 is outside the valid range -1..2"),
        ([0.0, 1.0, -5.0, 0.0], None, r"y\[2\] = -5 is outside the valid range -1\.\.9"),
        ([0.0, 1.0, 1e20, 0.0], None, r"y\[2\] = 100000000000000000000 is outside"),
        (np.array([0, 1, 2, 7], dtype=np.uint8), 3, r"y\[3\] = 7 is outside"),
    ],
)
def test_out_of_range_names_row_value_and_range(y, n_classes, match):
    with pytest.raises(ValueError, match=match):
        check_partial_labels(y, 4, n_classes)


def test_without_n_classes_any_index_is_fine():
    np.testing.assert_array_equal(check_partial_labels([0, 40, -1], 3), [0, 40, -1])


def test_no_labeled_rows():
    with pytest.raises(ValueError, match=r"y has no labeled rows \(all -1\)"):
        check_partial_labels([-1, -1, -1], 3, 2)
    np.testing.assert_array_equal(
        check_partial_labels([-1, -1, -1], 3, 2, require_labels=False, min_classes=2),
        [-1, -1, -1],
    )


def test_min_classes():
    with pytest.raises(ValueError, match=r"at least 2 different classes .* got 1: \[1\]"):
        check_partial_labels([1, -1, 1], 3, 3, min_classes=2)
    check_partial_labels([1, -1, 0], 3, 3, min_classes=2)


def test_where_names_the_labels():
    with pytest.raises(ValueError, match=r"^seed_y\[1\] = 9 is outside"):
        check_partial_labels([0, 9], 2, 3, where="seed_y")
