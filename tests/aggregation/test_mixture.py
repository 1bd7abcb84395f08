"""Tests of MixtureAggregator (alias MixtureOfLLMsAnnotator)."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import check_estimator

from skmollal.aggregation import MajorityVote, MixtureAggregator, MixtureOfLLMsAnnotator
from skmollal.signals import signal_features
from skmollal.testing import make_signals


def _semi(y, n_gold=50, seed=0):
    rng = np.random.default_rng(seed)
    out = np.full_like(y, -1)
    idx = rng.choice(len(y), n_gold, replace=False)
    out[idx] = y[idx]
    return out


def test_fit_predict_transform_shapes():
    S, y = make_signals(n=500, seed=3)
    m = MixtureAggregator().fit(S, _semi(y))
    assert m.predict_proba(S).shape == (500, 3)
    np.testing.assert_allclose(m.transform(S), m.predict_proba(S))
    np.testing.assert_allclose(m.predict_proba(S).sum(1), 1.0)
    assert set(m.predict(S)) <= {0, 1, 2}
    assert m.n_features_in_ == signal_features(S).shape[1] == 4 * 4 * 3
    assert m.labeled_iter_.shape == (500,)
    assert (m.labeled_iter_ >= 0).sum() > 50  # pseudo-labels were added


@pytest.mark.parametrize("pseudo_labels", ["soft", "hard"])
def test_beats_majority_vote_on_synthetic_panel(pseudo_labels):
    # one LLM is systematically wrong in a learnable way: class c said as c+1
    S, y = make_signals(n=800, noise=(0.3, 0.45, 0.5, 0.5), seed=4)
    flip = np.roll(np.eye(3), 1, axis=1)
    for j in (2, 3):
        S[:, j] = S[:, j] @ flip
    yl = _semi(y, 50)
    held = yl < 0
    ours = MixtureAggregator(pseudo_labels=pseudo_labels).fit(S, yl)
    mv = MajorityVote().fit(S, yl)
    assert ours.score(S[held], y[held]) > mv.score(S[held], y[held]) + 0.05


def test_custom_estimator_and_flat_input():
    S, y = make_signals(n=300, seed=5)
    X = S.reshape(300, -1)
    m = MixtureAggregator(estimator=DecisionTreeClassifier(max_depth=3, random_state=0))
    m.fit(X, _semi(y, 60))
    assert m.predict(X).shape == (300,)
    assert m.score(X, y) > 0.5


def test_classes_missing_from_gold_still_have_columns():
    S, y = make_signals(n=400, seed=6)
    yl = _semi(y, 60)
    yl[yl == 2] = -1
    m = MixtureAggregator().fit(S, yl)
    assert m.predict_proba(S).shape[1] == 3
    assert (m.predict(S) == 2).any()  # recovered through the Dawid-Skene pseudo-labels


@pytest.mark.parametrize(
    "y_bad, match",
    [
        (np.full(100, -1), "no labeled rows"),
        (np.r_[np.zeros(5, int), np.full(95, -1)], "at least 2 different classes"),
        (np.zeros(99, int), "entries"),
    ],
)
@pytest.mark.parametrize("flat", [False, True])
def test_bad_labels(y_bad, match, flat):
    S, _ = make_signals(n=100)
    with pytest.raises(ValueError, match=match):
        MixtureAggregator().fit(S.reshape(100, -1) if flat else S, y_bad)


@pytest.mark.parametrize(
    "y_bad, match",
    [
        (np.r_[0, 1.7, np.zeros(98)], r"y\[1\] = 1.7 is not a whole number"),
        (np.r_[0, 1, np.nan, np.zeros(97)], r"y\[2\] is nan"),
        (np.r_[0, 1, 2, -3, np.zeros(96, int)], r"y\[3\] = -3 is outside the valid range -1..2"),
        (np.r_[[True, False], np.zeros(98, bool)], "booleans"),
    ],
)
def test_bad_class_indices_with_signals(y_bad, match):
    S, _ = make_signals(n=100)
    with pytest.raises(ValueError, match=match):
        MixtureAggregator().fit(S, y_bad)


def test_bad_signals_and_params():
    S, y = make_signals(n=100)
    bad = S.copy()
    bad[1, 0, 1, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        MixtureAggregator().fit(bad, y)
    with pytest.raises(ValueError, match="dim"):
        MixtureAggregator().fit(S[:, :, :, :, None], y)
    with pytest.raises(ValueError, match="threshold"):
        MixtureAggregator(threshold=1.5).fit(S, y)
    with pytest.raises(ValueError, match="pseudo_labels"):
        MixtureAggregator(pseudo_labels="fuzzy").fit(S, y)
    with pytest.raises(ValueError, match="gold_weight"):
        MixtureAggregator(gold_weight=0).fit(S, y)
    with pytest.raises(ValueError, match="class indices"):
        MixtureAggregator().fit(S, np.full(100, 5))
    m = MixtureAggregator().fit(S, y)
    with pytest.raises(ValueError, match="signal shape"):
        m.predict(S[:, :2])


def test_check_estimator_flat_input():
    # Expected failures, each with its reason: see EXPECTED_FAILED below.
    check_estimator(
        MixtureAggregator(estimator=LogisticRegression(max_iter=200)),
        expected_failed_checks=EXPECTED_FAILED,
    )


EXPECTED_FAILED: dict[str, str] = {
    "check_classifiers_classes": (
        "uses integer labels {-1, 1}; -1 marks unlabeled rows here (as in "
        "SelfTrainingClassifier), so only one labeled class remains and fit raises"
    ),
}


@pytest.mark.recordings
def test_recordings_beats_majority_vote(recordings_dir):
    from skmollal.datasets import load_recordings

    b = load_recordings(recordings_dir, "trec")
    y = b.target
    yl = _semi(y, 50, seed=0)
    held = yl < 0
    ours = MixtureAggregator().fit(b.signals, yl)
    mv = MajorityVote().fit(b.signals, yl)
    assert ours.score(b.signals[held], y[held]) > mv.score(b.signals[held], y[held])


def test_transduction_and_string_labels():
    S, y = make_signals(n=200, seed=8)
    yl = _semi(y, 40)
    m = MixtureAggregator().fit(S, yl)
    gold = yl >= 0
    np.testing.assert_array_equal(m.transduction_[gold], yl[gold])
    names = np.array(["a", "b", "c"])[y]
    flat = MixtureAggregator().fit(S.reshape(200, -1), names)
    assert set(flat.predict(S.reshape(200, -1))) <= {"a", "b", "c"}
    assert flat.transduction_.shape == (200,)


class _NoWeights(LogisticRegression):
    """A classifier whose fit takes no sample_weight."""

    def fit(self, X, y):
        return super().fit(X, y)


def test_soft_needs_sample_weight_and_hard_mode_works():
    S, y = make_signals(n=400, seed=8)
    yl = _semi(y, 50)
    with pytest.raises(ValueError, match="sample_weight"):
        MixtureAggregator(estimator=_NoWeights()).fit(S, yl)
    hard = MixtureAggregator(estimator=_NoWeights(), pseudo_labels="hard").fit(S, yl)
    soft = MixtureAggregator(max_iter=2).fit(S, yl)
    assert soft.n_iter_ == 3
    assert hard.n_iter_ >= 1 and (hard.labeled_iter_ > 0).any()
    gold = yl >= 0
    np.testing.assert_array_equal(soft.transduction_[gold], yl[gold])


def test_first_name_is_an_alias():
    import skmollal

    assert MixtureOfLLMsAnnotator is MixtureAggregator
    assert skmollal.MixtureOfLLMsAnnotator is skmollal.MixtureAggregator is MixtureAggregator


def test_init_proba_replaces_the_dawid_skene_start():
    S, y = make_signals(n=400, noise=(0.6, 0.6, 0.7), seed=5)
    yl = _semi(y, n_gold=20)
    truth = np.eye(3)[y]
    told = MixtureAggregator(max_iter=0).fit(S, yl, init_proba=truth)
    plain = MixtureAggregator(max_iter=0).fit(S, yl)
    # fitted on the true labels of every row, it labels them better than from Dawid-Skene
    assert told.score(S, y) > plain.score(S, y) + 0.02
    with pytest.raises(ValueError, match="init_proba must be non-negative, of shape"):
        MixtureAggregator().fit(S, yl, init_proba=truth[:-1])
    with pytest.raises(ValueError, match="init_proba needs pseudo_labels='soft'"):
        MixtureAggregator(pseudo_labels="hard").fit(S, yl, init_proba=truth)
