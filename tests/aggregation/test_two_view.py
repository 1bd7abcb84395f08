"""Tests of TwoViewMixture: the mixture plus a text view, weighed from the gold rows."""
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import check_estimator

from skmollal.aggregation import MixtureAggregator, TwoViewMixture
from skmollal.aggregation.base import fit_soft_targets, takes_proba_targets
from skmollal.testing import hide_labels, make_signals
from skmollal.testing.signals import text_features as _text


def _task(n=500, seed=1):
    """A weak panel (LLMs answer at random half the time or more) and its gold seed."""
    S, y = make_signals(n=n, noise=(0.5, 0.6, 0.6, 0.7), seed=seed)
    return S, y, hide_labels(y, 50, seed)


def test_without_text_is_the_mixture_calibrated():
    S, y, yl = _task()
    tv = TwoViewMixture().fit(S, yl)
    mix = MixtureAggregator().fit(S, yl)
    np.testing.assert_array_equal(tv.predict(S), mix.predict(S))
    proba = tv.predict_proba(S)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert tv.view_weights_.shape == (1,) and tv.view_weights_[0] > 0
    assert tv.text_estimator_ is None
    gold = np.flatnonzero(yl >= 0)
    assert set(tv.cv_rows_) <= set(gold) and len(tv.cv_rows_) == len(gold)
    assert tv.cv_proba_.shape == (len(gold), 3)


def test_informative_text_view_helps():
    S, y, yl = _task()
    E = _text(y, signal=2.5)
    held = yl < 0
    tv = TwoViewMixture().fit(S, yl, X_text=E)
    mix = MixtureAggregator().fit(S, yl)
    acc_tv = tv.score(S[held], y[held], X_text=E[held])
    acc_mix = mix.score(S[held], y[held])
    assert acc_tv > acc_mix + 0.05
    assert tv.view_weights_.shape == (2,) and tv.view_weights_[1] > 0.1
    views = tv.view_proba(S[:5], E[:5])
    assert set(views) == {"signals", "text"}


@pytest.mark.parametrize("seed", [1, 2])
def test_noise_text_view_costs_nothing(seed):
    S, y, yl = _task(seed=seed)
    E = np.random.default_rng(seed).normal(size=(len(y), 30))
    held = yl < 0
    tv = TwoViewMixture().fit(S, yl, X_text=E)
    mix = MixtureAggregator().fit(S, yl)
    assert tv.score(S[held], y[held], X_text=E[held]) >= mix.score(S[held], y[held]) - 0.01
    assert tv.view_weights_[1] < 0.25 * tv.view_weights_[0]


def test_errors():
    S, y, yl = _task(n=200)
    E = _text(y, 1.0)
    with pytest.raises(ValueError, match="X_text has 199 rows"):
        TwoViewMixture().fit(S, yl, X_text=E[:-1])
    with pytest.raises(ValueError, match="gold_weight"):
        TwoViewMixture(gold_weight=0).fit(S, yl)
    with pytest.raises(ValueError, match="cv"):
        TwoViewMixture(cv=1).fit(S, yl)
    tv = TwoViewMixture().fit(S, yl, X_text=E)
    with pytest.raises(ValueError, match="pass the texts' features"):
        tv.predict(S)
    with pytest.raises(ValueError, match="fitted without X_text"):
        TwoViewMixture().fit(S, yl).predict(S, X_text=E)


def test_check_estimator_flat_input():
    check_estimator(
        TwoViewMixture(mixture=MixtureAggregator(estimator=LogisticRegression(max_iter=200))),
        expected_failed_checks={
            "check_classifiers_classes": (
                "integer labels {-1, 1}: -1 marks unlabeled rows here (as in "
                "SelfTrainingClassifier), so one labeled class remains and fit raises"
            ),
        },
    )


def test_loop_gives_the_two_view_mixture_the_embeddings():
    from skmollal.testing.pool import SpyClassifier, make_pool, counting_panel as panel, seed_y

    from skmollal.active_learning import MoLLIALoop

    X, texts, y = make_pool()
    mixture = TwoViewMixture(mixture=MixtureAggregator(max_iter=1), cv=2)
    loop = MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), texts=texts, mixture=mixture,
                      batch_size=10, random_state=0)
    loop.run(1)
    assert loop.mixture_.text_estimator_ is not None
    assert loop.mixture_.text_estimator_.n_features_in_ == X.shape[1]


class _WordCounts(ClassifierMixin, BaseEstimator):
    """A text view that reads raw texts: logistic regression on word counts. It keeps the
    texts it was fitted on (``seen_``)."""

    def fit(self, X, y, sample_weight=None):
        self.vectorizer_ = CountVectorizer().fit(X)
        self.model_ = LogisticRegression(max_iter=1000).fit(
            self.vectorizer_.transform(X), y, sample_weight=sample_weight)
        self.classes_, self.seen_ = self.model_.classes_, set(X)
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(self.vectorizer_.transform(X))


def _texts(y, signal: float, seed=0):
    """Raw texts: a class word ``c<k>`` with probability ``signal``, else a random class
    word, plus filler words and a unique row word."""
    rng = np.random.default_rng(seed)
    n_classes = int(y.max()) + 1
    word = np.where(rng.random(len(y)) < signal, y, rng.integers(0, n_classes, len(y)))
    return np.asarray([f"c{w} f{rng.integers(0, 50)} f{rng.integers(0, 50)} row{i}"
                       for i, w in enumerate(word)], dtype=object)


def test_text_fit_once_reads_texts_and_never_trains_on_gold_rows():
    S, y, yl = _task()
    texts = _texts(y, signal=0.9)
    held = yl < 0
    tv = TwoViewMixture(text_estimator=_WordCounts(), text_fit="once").fit(
        S, yl, X_text=list(texts))
    # one fit, on exactly the rows without gold: its opinion of a gold row is out of sample
    assert tv.text_estimator_.seen_ == set(texts[yl < 0])
    mix = MixtureAggregator().fit(S, yl)
    assert tv.view_weights_[1] > 0.1
    assert tv.score(S[held], y[held], X_text=texts[held]) > mix.score(S[held], y[held]) + 0.05
    assert set(tv.view_proba(S[:3], X_text=texts[:3])) == {"signals", "text"}
    # a text view that carries nothing gets (almost) no weight, fitted once as well
    noise = TwoViewMixture(text_estimator=_WordCounts(), text_fit="once").fit(
        S, yl, X_text=_texts(y, signal=0.0))
    assert noise.view_weights_[1] < 0.25 * noise.view_weights_[0]


def test_text_fit_once_errors():
    S, y, yl = _task(n=200)
    E = _text(y, 1.0)
    with pytest.raises(ValueError, match="text_fit must be one of"):
        TwoViewMixture(text_fit="twice").fit(S, yl, X_text=E)
    with pytest.raises(ValueError, match="every row has a gold label"):
        TwoViewMixture(text_fit="once", cv=2).fit(S, y, X_text=E)
    with pytest.raises(ValueError, match="single string"):
        TwoViewMixture(text_fit="once").fit(S, yl, X_text="one text")
    with pytest.raises(ValueError, match="default text view .* needs numeric features"):
        TwoViewMixture().fit(S, yl, X_text=list(_texts(y, 0.9)))


def test_fit_soft_targets_gives_posteriors_to_a_proba_target_estimator():
    class Spy(ClassifierMixin, BaseEstimator):
        takes_proba_targets = True

        def fit(self, X, y, sample_weight=None):
            self.y_, self.sample_weight_ = y, sample_weight
            return self

    post = np.array([[0.7, 0.3], [0.2, 0.8], [1.0, 0.0]])
    gold = np.array([False, False, True])
    spy = fit_soft_targets(Spy(), np.zeros((3, 1)), post, gold, gold_weight=5.0)
    np.testing.assert_array_equal(spy.y_, post)
    np.testing.assert_array_equal(spy.sample_weight_, [1.0, 1.0, 5.0])
    assert takes_proba_targets(spy) and not takes_proba_targets(LogisticRegression())
    with pytest.raises(ValueError, match="fewer than two classes"):
        fit_soft_targets(Spy(), np.zeros((3, 1)), np.c_[np.ones(3), np.zeros(3)], gold)


def test_sparse_text_features_fit_as_their_dense_copy():
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    S, y, yl = _task(n=200)
    words = np.array(["alpha", "beta", "gamma"])
    rng = np.random.default_rng(0)
    texts = [f"{words[c]} item {rng.integers(0, 50)}" for c in y]
    X_text = TfidfVectorizer().fit_transform(texts)
    assert sparse.issparse(X_text)
    tv = TwoViewMixture().fit(S, yl, X_text=X_text)
    dense = TwoViewMixture().fit(S, yl, X_text=X_text.toarray())
    np.testing.assert_allclose(tv.predict_proba(S, X_text=X_text),
                               dense.predict_proba(S, X_text=X_text.toarray()), atol=1e-3)
    assert tv.view_weights_.shape == (2,)
