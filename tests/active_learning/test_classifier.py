"""MoLLIAClassifier: the loop as a scikit-learn classifier."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as ec

from skmollal.active_learning import MoLLIAClassifier

from skmollal.testing.pool import LABELS, make_texts, seed_y
from skmollal.testing.pool import small_mollia_classifier as make_clf

def test_fit_predict_score_and_attributes():
    texts, y = make_texts()
    ys = seed_y(y, n_seed=12)
    clf = make_clf().fit(texts, ys)
    assert clf.target_names_ == LABELS and clf.classes_.tolist() == [0, 1, 2]
    assert [h["n_labeled"] for h in clf.history_] == [12, 22, 32]
    assert clf.n_llm_calls_ == 32 * 3
    assert clf.predict_proba(texts).shape == (150, 3)
    assert clf.score(texts, y) > 0.8
    # rows marked -1 are ignored by score
    assert clf.score(texts, np.where(np.arange(150) < 75, y, -1)) == pytest.approx(
        clf.score(texts[:75], y[:75]))


def test_clone_gives_unfitted_copy_and_pipeline_works():
    texts, y = make_texts()
    clf = make_clf().fit(texts, seed_y(y))
    fresh = clone(clf)
    assert not hasattr(fresh, "estimator_")
    assert fresh.get_params()["batch_size"] == 10
    lower = FunctionTransformer(lambda X: [t.lower() for t in X])
    pipe = make_pipeline(lower, make_clf())
    pipe.fit([t.upper() for t in texts], seed_y(y))
    assert pipe.score(texts, y) > 0.8


def test_gridsearch_scored_on_gold_dev_set():
    texts, y = make_texts(180)
    ys = seed_y(y, n_seed=12)
    dev = np.flatnonzero(ys == -1)[-40:]  # gold dev rows, never part of the pool
    y_search = ys.copy()
    y_search[dev] = y[dev]
    fold = np.full(len(y), -1)
    fold[dev] = 0
    search = GridSearchCV(make_clf(), {"discrepancy": ["reference", None]},
                          cv=PredefinedSplit(fold), refit=False)
    search.fit(texts, y_search)
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert np.all(search.cv_results_["mean_test_score"] > 0.6)


def test_bad_input():
    texts, y = make_texts(40)
    with pytest.raises(ValueError, match="needs a panel"):
        MoLLIAClassifier().fit(texts, seed_y(y))
    with pytest.raises(TypeError, match=r"MoLLIAClassifier: text 2 is a int"):
        make_clf().fit(texts[:2] + [5] + texts[3:], seed_y(y))
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        make_clf(batch_size=0).fit(texts, seed_y(y))
    with pytest.raises(ValueError, match="one entry per text"):
        make_clf().fit(texts, seed_y(y)[:-1])


@pytest.mark.parametrize("check", [
    ec.check_parameters_default_constructible, ec.check_no_attributes_set_in_init,
    ec.check_get_params_invariance, ec.check_set_params, ec.check_estimators_unfitted,
    ec.check_estimator_cloneable, ec.check_estimator_repr,
    ec.check_do_not_raise_errors_in_init_or_set_params,
])
def test_sklearn_checks_that_apply_to_a_text_classifier(check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check("MoLLIAClassifier", MoLLIAClassifier())


def test_check_estimator_skips_fit_checks_for_text_input():
    """Documented: sklearn's fit-based checks feed numeric matrices; this takes texts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = ec.check_estimator(MoLLIAClassifier(), on_fail=None, on_skip=None)
    assert all(r["status"] != "failed" for r in results)
