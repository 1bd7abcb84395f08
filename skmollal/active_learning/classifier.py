"""The whole MoLLIA loop as one scikit-learn classifier."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._validation import check_partial_labels, check_texts
from ..annotators.panel import panel_labels
from .class_labels import encode_labels, unlabelled
from .fingerprint import fingerprint_digest
from .loop import MoLLIALoop
from .routing import full_proba

__all__ = ["MoLLIAClassifier"]

logger = logging.getLogger(__name__)


class MoLLIAClassifier(ClassifierMixin, BaseEstimator):
    """Text classifier trained by Mixture-of-LLMs-in-the-loop active learning.

    ``fit(texts, y)`` treats rows with ``y != -1`` as the gold seed and the others as the
    unlabeled pool: for ``n_rounds`` rounds it queries ``batch_size`` pool texts with
    ``strategy``, has the LLM panel annotate them, labels them with the mixture model, and
    retrains the noise-robust classifier (see :class:`MoLLIALoop`). Gold labels outside the
    seed are never used.

    Parameters
    ----------
    annotators : LLMPanel or list of annotators
        The LLM panel. Its ``labels`` define the classes: ``y`` holds them (class names)
        or indices into them.
    featurizer : transformer or None, default=None
        Texts -> features. None means :class:`~skmollal.featurizers.SentenceEmbedder` (MiniLM).
    classifier : classifier or None, default=None
        Trained each round on the features. None means
        :class:`~skmollal.negative_learning.NegativeLearningClassifier`.
    mixture : estimator or None, default=None
        Fuses the LLM signals. None means :class:`~skmollal.aggregation.MixtureAggregator`.
    strategy : str or callable, default="random"
        Query strategy (see :mod:`skmollal.active_learning.strategies`).
    n_rounds : int, default=9
    batch_size : int, default=50
    discrepancy_weight : float or None, default=0.5
        The lowest sample weight of an annotated row (the weight of a down-weighted row);
        None: all 1.
    discrepancy_update : {"query", "round"}, default="query"
        Weigh each row once when it is queried (the reference), or every annotated row
        again each round against the latest classifier (see
        :class:`~skmollal.active_learning.MoLLIALoop`).
    discrepancy : {"reference", "confident", "mixture_confidence"} or None, default=None
        How annotated rows are weighed (see :class:`~skmollal.active_learning.MoLLIALoop`
        and :func:`~skmollal.label_noise.noise_weights`); None (the default): all weights
        1. The reference MoLLIA is ``"reference"``.
    nl_weight : float, callable or None, default=None
        Negative-learning weight per round: a constant, or ``nl_weight(r)`` for the r-th
        annotated round (r = 0, 1, ...); None is the reference schedule ``0.4 + 0.06 r``
        (see :class:`~skmollal.active_learning.MoLLIALoop`).
    nl_threshold : float or None, default=None
        Probability at or below which a class is a negative label; None (the default) turns
        negative learning off. The reference MoLLIA uses 0.001.
    nl_source : {"signals", "posterior"}, default="signals"
        That probability: the LLMs' mean (the reference) or the mixture's fused posterior.
    soft_labels : bool or "auto", default="auto"
        Train on the mixture's probabilities rather than its labels; ``"auto"``: when the
        classifier's loss takes probabilities (see :class:`MoLLIALoop`).
    output_dir : str or None, default=None
        Save the loop's state after every round in a sub-folder of it named after the run,
        ``run-<12 hex digits>``: a hash of everything that defines the run (texts, gold
        seed, panel identities, every parameter but ``output_dir``, ``show_progress`` and
        the stopping ones ``budget``, ``stopping``, ``prices``, and ``oracle``;
        see :func:`~skmollal.active_learning.fingerprint.fingerprint_digest`). A later
        ``fit`` with the same data and parameters resumes its own sub-folder without
        re-annotating; other data or parameters get their own, so the candidates of a
        ``GridSearchCV`` never share or overwrite state. The folder used is ``run_dir_``.
    random_state : int or None, default=None
    show_progress : bool, default=False
    cascade : float, "auto" or None, default=None
        Ask the LLMs one at a time and stop for a text once the fused posterior reaches this
        threshold (a :class:`~skmollal.cascade.CascadePanel` around ``annotators``; ``"auto"``
        chooses it from the gold seed); None
        asks every LLM about every text. ``annotators`` may also be a ``CascadePanel``.
    budget : Budget, optional
        Stop before a round would exceed this many LLM calls, tokens, seconds or money
        (:class:`~skmollal.active_learning.stopping.Budget`).
    stopping : rule or list of rules, optional
        More stopping rules (:mod:`skmollal.active_learning.stopping`), asked after every
        round; ``n_rounds`` stays the maximum.
    prices : Price or dict, optional
        Money per call / token / second, per annotator
        (:func:`~skmollal.annotators.costs.price_for`).
    oracle : callable, optional
        A person answering ``review_size`` annotated texts per round, the ones the panel
        disputes most: ``oracle(texts, rows, info) -> class index per row`` (-1: skipped;
        see :mod:`skmollal.active_learning.review`). Its answers are gold rows for the
        mixture and the classifier.
    review_size : int, default=0
        Texts per round sent to ``oracle`` (0: no review).
    review_strategy : {"least_confident", "panel_split", "random"}, default="least_confident"
        Which texts (see :class:`~skmollal.active_learning.MoLLIALoop`).

    Attributes
    ----------
    classes_ : ndarray
        The panel's labels when ``fit`` was given class names, else ``arange(n_classes)``;
        :meth:`predict` returns them, and the columns of :meth:`predict_proba` follow them.
    target_names_ : list of str
        The panel's labels.
    featurizer_, classifier_, mixture_ : fitted estimators
    history_ : list of dict
        Per-round record (labeled count, LLM calls, times).
    n_llm_calls_ : int
        Texts x LLMs annotated.
    cost_ : dict
        Per annotator: paid calls, tokens, LLM seconds, money, and what the cache served
        (see :mod:`skmollal.annotators.costs`).
    stopped_by_ : dict or None
        The stopping rule that ended the loop before ``n_rounds`` (``rule``, ``reason``,
        ``round``), or None.
    run_dir_ : Path or None
        The sub-folder of ``output_dir`` this fit saved its state in (None without
        ``output_dir``).

    Notes
    -----
    ``sklearn.utils.estimator_checks.check_estimator`` cannot run most of its checks on this
    estimator: it needs an LLM panel (no default can be built) and takes texts, while the
    checks feed numeric matrices. The checks about parameters (defaults constructible,
    ``get_params`` / ``set_params`` invariance, no attributes set in ``__init__``, ``clone``)
    pass, and so does ``check_estimators_unfitted``; see ``tests/test_mollia_classifier.py``.
    (``check_estimator`` itself runs only ``check_estimator_cloneable`` here, because the
    estimator's tags say it takes strings, not 2-d arrays.) ``GridSearchCV`` works with a
    ``PredefinedSplit`` whose test fold is a gold dev set; use ``refit=False`` (or refit
    yourself without the dev rows), since refitting on all rows would make the dev labels
    part of the seed.

    A fitted classifier pickles (``joblib.dump``) with its ``annotators`` parameter, so the
    annotators decide what that costs: :class:`~skmollal.annotators.TransformersAnnotator`
    loaded from a model name or path drops its loaded weights when pickled (and reloads them
    when next used), API annotators keep only their settings. Set ``annotators`` to None
    before saving (``clf.set_params(annotators=None)``) if yours carries its weights; the
    fitted attributes are enough to predict.
    """

    def __init__(self, annotators=None, featurizer=None, classifier=None, mixture=None,
                 strategy="random", n_rounds: int = 9, batch_size: int = 50,
                 discrepancy_weight: float | None = 0.5, discrepancy_update: str = "query",
                 discrepancy: str | None = None, nl_weight=None,
                 nl_threshold: float | None = None, nl_source: str = "signals",
                 soft_labels: bool | str = "auto", output_dir=None, random_state=None,
                 show_progress: bool = False, cascade: float | str | None = None, budget=None,
                 stopping=None, prices=None, oracle=None, review_size: int = 0,
                 review_strategy: str = "least_confident") -> None:
        self.annotators = annotators
        self.featurizer = featurizer
        self.classifier = classifier
        self.mixture = mixture
        self.strategy = strategy
        self.n_rounds = n_rounds
        self.batch_size = batch_size
        self.discrepancy_weight = discrepancy_weight
        self.discrepancy_update = discrepancy_update
        self.discrepancy = discrepancy
        self.nl_weight = nl_weight
        self.nl_threshold = nl_threshold
        self.nl_source = nl_source
        self.soft_labels = soft_labels
        self.output_dir = output_dir
        self.random_state = random_state
        self.show_progress = show_progress
        self.cascade = cascade
        self.budget = budget
        self.stopping = stopping
        self.prices = prices
        self.oracle = oracle
        self.review_size = review_size
        self.review_strategy = review_strategy

    # ------------------------------------------------------------------ building blocks
    def _make_featurizer(self):
        if self.featurizer is None:
            from ..featurizers import SentenceEmbedder

            return SentenceEmbedder()
        return clone(self.featurizer)

    def _make_classifier(self):
        if self.classifier is None:
            from ..classifiers import make_classifier

            return make_classifier("mlp", random_state=self.random_state)
        return clone(self.classifier)

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X, y) -> "MoLLIAClassifier":
        """Run the loop.

        Parameters
        ----------
        X : sequence of str
            Seed and pool texts.
        y : array-like, shape (n_texts,)
            For seed rows a class name (one of the panel's labels) or a class index into
            them; -1 for pool rows.
        """
        if self.annotators is None:
            raise ValueError("MoLLIAClassifier needs annotators (an LLMPanel or a list of "
                             "annotators)")
        texts = check_texts(X, "MoLLIAClassifier")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(texts):
            raise ValueError(f"y must be 1-d with one entry per text ({len(texts)}); "
                             f"got shape {y.shape}")
        for name, low, kind in (("n_rounds", 0, "non-negative"), ("batch_size", 1, "positive")):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be a {kind} integer; got {value!r}")
        self.target_names_ = panel_labels(self.annotators)
        y, self.classes_ = encode_labels(y, self.target_names_, "MoLLIAClassifier: y")
        y = check_partial_labels(y, len(texts), len(self.classes_), where="MoLLIAClassifier: y",
                                 require_labels=True, min_classes=2)  # before the embedding
        self.featurizer_ = self._make_featurizer()
        features = self.featurizer_.fit_transform(texts)
        panel = self.annotators
        if self.cascade is not None:  # ask only the LLMs a text needs
            from ..cascade import CascadePanel

            panel = CascadePanel(panel, threshold=self.cascade, aggregator=self.mixture)
        args = (self._make_classifier(), panel, features, y)
        params = dict(
            texts=texts, mixture=self.mixture, strategy=self.strategy,
            batch_size=self.batch_size, discrepancy_weight=self.discrepancy_weight,
            discrepancy_update=self.discrepancy_update, discrepancy=self.discrepancy,
            nl_weight=self.nl_weight, nl_threshold=self.nl_threshold,
            nl_source=self.nl_source, soft_labels=self.soft_labels,
            random_state=self.random_state, show_progress=self.show_progress,
            budget=self.budget, stopping=self.stopping, prices=self.prices,
            oracle=self.oracle, review_size=self.review_size,
            review_strategy=self.review_strategy,
        )
        self.run_dir_ = None
        if self.output_dir is not None:
            run = MoLLIALoop(*args, **params).fingerprint  # validates; nothing runs
            self.run_dir_ = Path(self.output_dir) / "run-{}".format(fingerprint_digest(
                run, featurizer=self.featurizer, n_rounds=self.n_rounds))
        loop = MoLLIALoop.resume_or_start(self.run_dir_, *args, **params)
        loop.run(self.n_rounds)
        self.classifier_ = loop.estimator
        self.mixture_ = loop.mixture_
        self.history_ = loop.history
        self.n_llm_calls_ = loop.llm_calls
        self.cost_ = loop.cost
        self.stopped_by_ = loop.stopped_by_
        self.training_rows_ = loop.training_rows()
        return self

    def _features(self, X):
        check_is_fitted(self, "classifier_")
        return self.featurizer_.transform(check_texts(X, "MoLLIAClassifier"))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_texts, n_classes)``."""
        features = self._features(X)
        return full_proba(self.classifier_, features, len(self.classes_))

    def predict(self, X) -> np.ndarray:
        """Labels of ``X``, taken from ``classes_`` (names or indices, as ``fit`` got)."""
        check_is_fitted(self, "classifier_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on the rows with ``y != -1`` (rows marked -1 are ignored)."""
        y = np.asarray(y)
        keep = ~unlabelled(y)
        if not keep.any():
            raise ValueError("score: every row of y is -1; give gold labels to score on")
        texts = [t for t, k in zip(check_texts(X, "MoLLIAClassifier"), keep) if k]
        w = None if sample_weight is None else np.asarray(sample_weight)[keep]
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y[keep], self.predict(texts), sample_weight=w))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.non_deterministic = True
        return tags
