"""MoLLIAClassifier takes the labels a scikit-learn user has and gives them back."""
import numpy as np
import pandas as pd
import pytest

from skmollal.testing.pool import LABELS, make_texts, seed_y
from skmollal.testing.pool import small_mollia_classifier as make_clf


def named(y_index):
    """Class indices as the panel's label names, -1 kept for the pool."""
    return np.array([LABELS[k] if k >= 0 else -1 for k in y_index], dtype=object)


def test_class_names_in_class_names_out():
    texts, y = make_texts()
    ys = seed_y(y, n_seed=12)
    by_name = make_clf().fit(texts, named(ys))
    by_index = make_clf().fit(texts, ys)
    assert by_name.classes_.tolist() == LABELS
    assert by_index.classes_.tolist() == [0, 1, 2]
    pred = by_name.predict(texts)
    assert set(pred.tolist()) <= set(LABELS)
    # the same run: the names are the indices decoded
    np.testing.assert_array_equal(pred, np.asarray(LABELS)[by_index.predict(texts)])
    proba = by_name.predict_proba(texts)  # columns in the order of classes_
    np.testing.assert_array_equal(pred, by_name.classes_[proba.argmax(axis=1)])
    gold = np.asarray(LABELS)[y]
    assert by_name.score(texts, gold) == pytest.approx(by_index.score(texts, y))
    assert by_name.score(texts, gold) > 0.8
    # rows marked -1 (a number or the string "-1") are ignored when scoring
    half = np.where(np.arange(len(y)) < 75, gold, "-1")
    assert by_name.score(texts, half) == pytest.approx(by_name.score(texts[:75], gold[:75]))


def test_names_from_a_pandas_series_with_minus_one_for_the_pool():
    texts, y = make_texts(90)
    ys = pd.Series(list(named(seed_y(y, n_seed=12))))
    clf = make_clf(n_rounds=1).fit(texts, ys)
    assert clf.classes_.tolist() == LABELS
    assert clf.predict(texts[:5]).dtype.kind == "U"


def test_names_that_are_not_the_panels_labels_are_refused():
    texts, y = make_texts(60)
    ys = named(seed_y(y, n_seed=12))
    first = int(np.flatnonzero(ys != -1)[0])
    wrong = ys.copy()
    wrong[first] = "Alpha"
    with pytest.raises(ValueError, match=rf"row {first} is labelled 'Alpha'.*'alpha'"):
        make_clf().fit(texts, wrong)
    mixed = ys.copy()
    mixed[first] = 2
    with pytest.raises(ValueError, match=rf"mixes class names with other values \(row {first}"):
        make_clf().fit(texts, mixed)
