"""A small synthetic pool and fake loop parts, for tests and examples of the MoLLIA loop.

* :func:`make_pool`: features, texts that name their hidden class, and gold labels;
* :class:`CountingAnnotator`: a fake LLM, right with probability ``1 - noise``, that counts
  the texts it was asked about (what a run pays) and may fail after some;
* :func:`counting_panel`: three of them, of growing noise;
* :class:`MeanProbMixture`: the mean LLM probability as a mixture (fast, ignores ``y``);
* :class:`SpyClassifier`: logistic regression that records what each ``fit`` received;
* :func:`seed_y`: a gold seed of ``n_seed`` random rows, ``-1`` elsewhere;
* :func:`make_texts` and :func:`small_mollia_classifier`: texts whose words tell their
  class, and a fast :class:`~skmollal.active_learning.MoLLIAClassifier` for them (TF-IDF,
  the counting panel, the mean-probability mixture, the spy classifier).
"""
from __future__ import annotations

import zlib

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from ..annotators.base import AnnotationResult

__all__ = ["LABELS", "VOCAB", "CountingAnnotator", "MeanProbMixture", "SpyClassifier",
           "counting_panel", "make_pool", "make_texts", "seed_y", "small_mollia_classifier"]

LABELS = ["alpha", "beta", "gamma"]


def make_pool(n=160, seed=0):
    """Features X, texts that encode the hidden class, and gold y."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 3)) + 3.0 * np.eye(3)[y]
    texts = [f"text {i} about {LABELS[c]}" for i, c in enumerate(y)]
    return X, texts, y


class CountingAnnotator:
    """Fake LLM: right with probability ``1 - noise``; counts texts; may fail."""

    def __init__(self, name, noise=0.2, seed=0, fail_after=None):
        self.name, self.labels, self.noise = name, list(LABELS), noise
        self.seed, self.fail_after = seed, fail_after
        self.calls = 0
        self.seen = []

    def identity(self):
        return f"fake:{self.name}:{self.noise}"

    def annotate(self, texts):
        if self.fail_after is not None and self.calls + len(texts) > self.fail_after:
            raise RuntimeError(f"{self.name}: server went away")
        self.calls += len(texts)
        self.seen.extend(texts)
        probs = []
        for t in texts:
            true = LABELS.index(t.split()[-1])
            r = np.random.default_rng([self.seed, zlib.crc32(t.encode())])
            said = true if r.random() > self.noise else int(r.integers(0, 3))
            p = np.full(3, 0.0005)
            p[said] = 0.999
            p[(said + 1) % 3] = 1 - 0.999 - 0.0005
            probs.append(p)
        probs = np.asarray(probs)
        return AnnotationResult(probs=probs, votes=probs.round(1))


class MeanProbMixture(ClassifierMixin, BaseEstimator):
    """Minimal mixture: mean LLM probability (ignores y)."""

    def fit(self, S, y):
        self.classes_ = np.arange(S.shape[-1])
        self.n_fit_rows_ = len(S)
        return self

    def predict_proba(self, S):
        p = S[:, :, 0].mean(axis=1)
        return p / p.sum(1, keepdims=True)


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that records what fit received."""

    def __init__(self, nl_weight=0.0):
        self.nl_weight = nl_weight

    def fit(self, X, y, sample_weight=None, negative_mask=None):
        self.calls_ = getattr(self, "calls_", []) + [
            dict(n=X.shape[0], sample_weight=sample_weight, negative_mask=negative_mask,
                 nl_weight=self.nl_weight, y=np.asarray(y))]
        self.lr_ = LogisticRegression().fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.lr_.classes_
        return self

    def predict_proba(self, X):
        return self.lr_.predict_proba(X)

    def predict(self, X):
        return self.lr_.predict(X)


def seed_y(y, n_seed=15, seed=0):
    rng = np.random.default_rng(seed)
    out = np.full(len(y), -1)
    idx = rng.choice(len(y), n_seed, replace=False)
    out[idx] = y[idx]
    return out


def counting_panel(**kw):
    """Three counting annotators ``a``, ``b``, ``c`` of noise 0.1, 0.3, 0.5."""
    return [CountingAnnotator("a", 0.1, 1, **kw), CountingAnnotator("b", 0.3, 2),
            CountingAnnotator("c", 0.5, 3)]


VOCAB = {
    "alpha": ["apple", "apricot", "avocado"],
    "beta": ["bear", "beaver", "bison"],
    "gamma": ["gold", "granite", "gravel"],
}


def make_texts(n=150, seed=0):
    """``(texts, y)``: two words of their class's vocabulary, an id and the class name."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    texts = [f"{' '.join(rng.choice(VOCAB[LABELS[c]], 2))} item{i} {LABELS[c]}"
             for i, c in enumerate(y)]
    return texts, y


def small_mollia_classifier(**kw):
    """A MoLLIAClassifier that runs in a second on :func:`make_texts` (``kw`` overrides)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ..active_learning import MoLLIAClassifier

    params = dict(panel=counting_panel(), featurizer=TfidfVectorizer(token_pattern=r"[a-z]+\b"),
                  estimator=SpyClassifier(), mixture=MeanProbMixture(), n_rounds=2,
                  batch_size=10, random_state=0)
    params.update(kw)
    return MoLLIAClassifier(**params)
