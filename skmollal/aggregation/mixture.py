"""MoLAM: a mixture model that fuses an LLM panel's signals into labels.

:class:`MixtureAggregator` (also known by its first name, ``MixtureOfLLMsAnnotator``)
learns from a handful of gold rows plus the unlabeled pool (``y == -1``), as scikit-learn's
:class:`~sklearn.semi_supervised.SelfTrainingClassifier`:

1. features: for each LLM, its class probabilities, its vote shares, the log of its
   normalised probabilities and a one-hot of its vote argmax (flat 2-d input is used as is);
2. optional start (``init="dawid_skene"``, the default for 4-d signals): semi-supervised
   Dawid-Skene EM over the vote shares, gold rows clamped, gives every unlabeled row a
   posterior; rows whose posterior reaches ``threshold`` join the training set as
   pseudo-labels. This also covers classes that none of the few gold rows show;
3. self-training, ``pseudo_labels="soft"`` (default): semi-supervised EM. Every unlabeled
   row enters the meta-learner's training set once per class, weighted by its current
   posterior (Dawid-Skene's at first, then the meta-learner's own ``predict_proba``); gold
   rows count ``gold_weight`` times. Fitted ``max_iter + 1`` times.
   ``pseudo_labels="hard"``: the reference scheme; the meta-learner is fitted on gold +
   pseudo-labeled rows, unlabeled rows it predicts with probability ``>= threshold`` are
   added, repeated up to ``max_iter`` times or until nothing changes. The default
   meta-learner's soft rounds are solved by ``skmollal.aggregation.soft_logistic``
   (the same objective, one row per text, each round warm-started from the last);
4. ``guard=True``: the gold rows, out of fold, may replace the self-trained meta-learner
   by the gold-only fit or a single LLM (``skmollal.aggregation.guard``).

No step looks at gold labels other than those given in ``y``: there is no model selection on
evaluation rows.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from .._validation import check_partial_labels
from ..annotators.base import VOTES
from ..signals import check_signals, signal_features
from .base import expand_proba, fit_soft_targets
from .dawid_skene import dawid_skene
from .guard import gold_guard
from .soft_logistic import SoftLogisticRegression, soft_targets

__all__ = ["MixtureAggregator", "MixtureOfLLMsAnnotator"]

logger = logging.getLogger(__name__)

#: penalty of the default meta-learner, ``LogisticRegression(C=0.1)``
_DEFAULT_C = 0.1
#: solver tolerance of the guard's fold refits (their probabilities only feed its test)
_GUARD_TOL = 1e-4


class MixtureAggregator(TransformerMixin, ClassifierMixin, BaseEstimator):
    """Fuse LLM panel signals into labels from a few gold rows plus self-training.

    Parameters
    ----------
    estimator : classifier, optional
        Meta-learner with ``predict_proba``. Default:
        ``LogisticRegression(C=0.1, max_iter=5000)``, a strongly regularised multinomial
        model that is stable with ~50 gold rows.
    threshold : float, default=0.9
        Confidence a hard pseudo-label needs (Dawid-Skene posterior or meta-learner
        probability); used when ``pseudo_labels="hard"``.
    max_iter : int, default=5
        Most self-training rounds; 0 fits on the gold (and initial pseudo-labeled) rows only.
    init : {"auto", "dawid_skene", None}, default="auto"
        Initial pseudo-labels; ``"auto"`` uses Dawid-Skene for 4-d signals and nothing for
        flat features (which carry no vote structure).
    featurize : bool, default=True
        Expand 4-d signals with :func:`~skmollal.signals.signal_features`; if False they
        are just flattened.
    pseudo_labels : {"soft", "hard"}, default="soft"
        ``"soft"``: EM with posterior-weighted copies of every unlabeled row (the estimator's
        ``fit`` must take ``sample_weight``); ``"hard"``: thresholded self-training.
    gold_weight : float, default=5.0
        Weight of a gold row relative to an unlabeled row in soft self-training.
    guard : bool, default=True
        Let the gold rows veto the self-training (soft mode, default meta-learner, 4-d
        signals featurized, no ``init_proba``): the mixture, the meta-learner fitted on the
        gold rows alone and the single LLM most accurate on them are compared by their gold
        rows' log loss out of fold, and a simpler fusion replaces the mixture only where it
        wins by more than two standard errors (``skmollal.aggregation.guard``).

    Attributes
    ----------
    classes_ : ndarray
        Class labels. For 4-d signals, ``arange(n_classes)`` (the signals' class axis); for
        flat input, the distinct labels in ``y``.
    estimator_ : classifier
        The fitted meta-learner.
    n_iter_ : int
        Number of times the meta-learner was fitted (1 + self-training rounds that added
        pseudo-labels).
    labeled_iter_ : ndarray of shape (n_texts,)
        Round in which each row joined the training set: 0 gold or initial pseudo-label,
        ``k`` self-training round ``k``, -1 never (soft mode: 0 for every row).
    transduction_ : ndarray of shape (n_texts,)
        Label used for each training row (-1 for rows never labeled; soft mode: the final
        posterior's argmax, gold rows keep their label).
    n_features_in_ : int
        Number of meta-features.
    guard_ : Bunch or None
        What the guard found: ``choice`` (``"mixture"``, ``"gold_only"`` or
        ``"single_llm"``; the fallback is then ``estimator_``), ``log_loss`` and ``z`` per
        fusion, ``llm`` (the single LLM, chosen on all gold rows); None where the guard does not apply.
    """

    def __init__(self, estimator=None, threshold: float = 0.9, max_iter: int = 5,
                 init: str | None = "auto", featurize: bool = True,
                 pseudo_labels: str = "soft", gold_weight: float = 5.0, guard: bool = True):
        self.estimator = estimator
        self.threshold = threshold
        self.max_iter = max_iter
        self.init = init
        self.featurize = featurize
        self.pseudo_labels = pseudo_labels
        self.gold_weight = gold_weight
        self.guard = guard

    # ------------------------------------------------------------------ helpers
    def _features(self, S: np.ndarray) -> np.ndarray:
        if S.ndim == 4:
            return signal_features(S) if self.featurize else S.reshape(S.shape[0], -1)
        return S

    def _check_params(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and 0.0 < self.threshold <= 1.0):
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 0):
            raise ValueError(f"max_iter must be a non-negative int, got {self.max_iter!r}")
        if self.init not in ("auto", "dawid_skene", None):
            raise ValueError(f"init must be 'auto', 'dawid_skene' or None, got {self.init!r}")
        if self.pseudo_labels not in ("soft", "hard"):
            raise ValueError(
                f"pseudo_labels must be 'soft' or 'hard', got {self.pseudo_labels!r}"
            )
        if not (isinstance(self.gold_weight, (int, float)) and self.gold_weight > 0):
            raise ValueError(f"gold_weight must be a positive number, got {self.gold_weight!r}")
        if not isinstance(self.guard, (bool, np.bool_)):
            raise ValueError(f"guard must be True or False, got {self.guard!r}")

    def _check_init_proba(self, init_proba, n: int, n_classes: int) -> np.ndarray:
        if self.pseudo_labels != "soft":
            raise ValueError("init_proba needs pseudo_labels='soft'")
        post = np.asarray(init_proba, dtype=float)
        if post.shape != (n, n_classes) or not np.all(np.isfinite(post)) or (post < 0).any():
            raise ValueError(f"init_proba must be non-negative, of shape {(n, n_classes)}; "
                             f"got shape {post.shape}")
        return post

    def _encode_y(self, y, n: int, n_classes: int | None) -> np.ndarray:
        """Return encoded labels (0..K-1, -1 unlabeled) and set ``classes_``.

        With 4-d signals (``n_classes`` given) ``y`` holds class indices of the signals'
        class axis; with flat features, any class labels (``-1`` = unlabeled if numeric).
        """
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is raveled.",
                DataConversionWarning,
                stacklevel=3,
            )
            y = y.ravel()
        if n_classes is not None:
            enc = check_partial_labels(y, n, n_classes, min_classes=2)
            self.classes_ = np.arange(n_classes)
            return enc
        return self._encode_labels(y, n)

    def _encode_labels(self, y: np.ndarray, n: int) -> np.ndarray:
        """Encode arbitrary class labels of flat features; set ``classes_``."""
        if y.ndim != 1:
            raise ValueError(f"y must be 1-d, got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} entries but S has {n} rows")
        numeric = np.issubdtype(y.dtype, np.number)
        labeled = (y != -1) if numeric else np.ones(n, dtype=bool)
        if not labeled.any():
            raise ValueError(
                f"y has no labeled rows (all -1); {type(self).__name__} needs gold labels "
                "(use DawidSkene or MajorityVote for a label-free fusion)"
            )
        if numeric and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite values")
        kind = type_of_target(y[labeled])
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: y must hold class labels, got target type {kind!r}"
            )
        encoder = LabelEncoder().fit(y[labeled])
        self.classes_ = encoder.classes_
        enc = np.full(n, -1, dtype=int)
        enc[labeled] = encoder.transform(y[labeled])
        if np.unique(enc[labeled]).size < 2:
            raise ValueError(
                "y must show at least 2 different classes among its labeled rows "
                f"(got one class: {self.classes_[np.unique(enc[labeled])].tolist()})"
            )
        return enc

    # ------------------------------------------------------------------ API
    def fit(self, S, y, init_proba=None):
        """Fit on signals and gold labels with ``-1`` for unlabeled rows.

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes) or (n_texts, n_features)
            Panel signals, or already flattened features.
        y : array-like of shape (n_texts,)
            Gold labels; ``-1`` marks unlabeled rows.
        init_proba : array-like of shape (n_texts, n_classes), optional
            Soft labels to start soft self-training from, instead of Dawid-Skene's
            posteriors (columns in ``classes_`` order; gold rows keep their label). Used by
            :class:`~skmollal.aggregation.TwoViewMixture` to refit the signal view on the
            fused posterior of both views. Needs ``pseudo_labels="soft"``.

        Returns
        -------
        self
        """
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                "(give gold labels, -1 for unlabeled rows)"
            )
        raw = np.asarray(S) if not hasattr(S, "iloc") else S
        four_d = getattr(raw, "ndim", 0) == 4
        if four_d:
            S4 = check_signals(raw, name="S")
            self.signal_shape_ = S4.shape[1:]
            X = self._features(S4)
            validate_data(self, X, reset=True, ensure_min_samples=1)
        else:
            S4 = None
            self.signal_shape_ = None
            X = validate_data(self, S, reset=True, ensure_min_samples=1)
        enc = self._encode_y(y, X.shape[0], S4.shape[3] if four_d else None)
        n_classes = len(self.classes_)

        use_ds = self.init == "dawid_skene" or (self.init == "auto" and four_d)
        if use_ds and not four_d:
            raise ValueError("init='dawid_skene' needs 4-d signals (n, L, 2, C)")
        if init_proba is not None:
            post = self._check_init_proba(init_proba, X.shape[0], n_classes)
        else:
            post = dawid_skene(S4[:, :, VOTES], enc)[0] if use_ds else None
        base = self.estimator
        if base is None:
            base = LogisticRegression(C=_DEFAULT_C, max_iter=5000)
        if self.pseudo_labels == "soft":
            guarded = (self.guard and self.estimator is None and four_d and self.featurize
                       and init_proba is None)
            return self._fit_soft(X, enc, post, base, S4 if guarded else None, use_ds)

        train_y = enc.copy()
        labeled_iter = np.where(enc >= 0, 0, -1)
        if use_ds:
            pick = (enc < 0) & (post.max(axis=1) >= self.threshold)
            train_y[pick] = post[pick].argmax(axis=1)
            labeled_iter[pick] = 0
            logger.info("Dawid-Skene start: %d pseudo-labels", int(pick.sum()))

        rounds = 0
        while True:
            known = train_y >= 0
            if np.unique(train_y[known]).size < 2:
                raise ValueError("training rows show fewer than two classes")
            estimator = clone(base).fit(X[known], train_y[known])
            if rounds >= self.max_iter or known.all():
                break
            proba = expand_proba(estimator.predict_proba(X[~known]), estimator.classes_, n_classes)
            confident = proba.max(axis=1) >= self.threshold
            if not confident.any():
                break
            rounds += 1
            rows = np.flatnonzero(~known)[confident]
            train_y[rows] = proba[confident].argmax(axis=1)
            labeled_iter[rows] = rounds
            logger.debug("self-training round %d: %d pseudo-labels", rounds, rows.size)
        self.n_iter_ = rounds + 1
        self.guard_ = None
        self.estimator_ = estimator
        self._set_transduction(train_y, labeled_iter)
        return self

    def _fit_soft(self, X: np.ndarray, enc: np.ndarray, post: np.ndarray | None, base,
                  S4: np.ndarray | None = None, use_ds: bool = True):
        """Semi-supervised EM; with ``S4`` (the guard on), judged by the gold rows."""
        if not has_fit_parameter(base, "sample_weight"):
            raise ValueError(
                f"pseudo_labels='soft' needs an estimator whose fit takes sample_weight; "
                f"{type(base).__name__} does not (use pseudo_labels='hard')"
            )
        n_classes = len(self.classes_)
        solver = SoftLogisticRegression(X, C=_DEFAULT_C) if self.estimator is None else None
        estimator, post, rounds = self._soft_em(X, enc, post, base, solver)
        self.guard_ = None
        if S4 is not None:
            def fit_fold(y_fold):  # the same fit, each round warm-started from this one's
                start = dawid_skene(S4[:, :, VOTES], y_fold)[0] if use_ds else None
                return self._soft_em(X, y_fold, start, base, None, rounds)[1]

            verdict = gold_guard(X, enc, fit_fold, n_llms=S4.shape[1], n_classes=n_classes,
                                 C=_DEFAULT_C)
            if verdict.estimator is not None:
                estimator = verdict.estimator
                post = expand_proba(estimator.predict_proba(X), estimator.classes_, n_classes)
                post[enc >= 0] = np.eye(n_classes)[enc[enc >= 0]]
            del verdict["estimator"]
            self.guard_ = verdict
        self.n_iter_ = self.max_iter + 1
        self.estimator_ = estimator
        self._set_transduction(post.argmax(axis=1), np.zeros(X.shape[0], dtype=int))
        return self

    def _soft_em(self, X, enc, post, base, solver, warm=None):
        """The EM rounds: return the meta-learner, the final posteriors (gold rows at their
        label) and a copy of the solver after each round. With ``warm`` (such copies of
        another fit), round ``k`` starts from ``warm[k]`` instead of ``solver``."""
        n_classes = len(self.classes_)
        gold = enc >= 0
        onehot = np.eye(n_classes)[enc[gold]]
        if post is None:  # no Dawid-Skene start: first posteriors from the gold rows alone
            estimator = clone(base).fit(X[gold], enc[gold])
            post = expand_proba(estimator.predict_proba(X), estimator.classes_, n_classes)
        post = post.copy()
        post[gold] = onehot
        rounds = []
        for k in range(self.max_iter + 1):
            solver = warm[k].copy(tol=_GUARD_TOL) if warm else solver
            if solver is not None:  # the default's objective, solved directly, warm-started
                post = solver.fit(soft_targets(post, gold, self.gold_weight))
                rounds.append(solver.copy())
            else:
                estimator = fit_soft_targets(clone(base), X, post, gold, self.gold_weight)
                post = expand_proba(estimator.predict_proba(X), estimator.classes_, n_classes)
            post[gold] = onehot
        if solver is not None:
            estimator = solver.estimator()
        return estimator, post, rounds

    def _set_transduction(self, train_y: np.ndarray, labeled_iter: np.ndarray) -> None:
        decoded = self.classes_[np.maximum(train_y, 0)].astype(object)
        decoded[train_y < 0] = -1
        self.transduction_ = (
            decoded.astype(self.classes_.dtype)
            if np.issubdtype(self.classes_.dtype, np.number) else decoded
        )
        self.labeled_iter_ = labeled_iter

    def _X(self, S) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        if self.signal_shape_ is not None:
            S4 = check_signals(S, name="S")
            if S4.shape[1:] != self.signal_shape_:
                raise ValueError(
                    f"S has signal shape {S4.shape[1:]}, fitted on {self.signal_shape_}"
                )
            return validate_data(self, self._features(S4), reset=False)
        return validate_data(self, S, reset=False)

    def predict_proba(self, S) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes), columns in ``classes_`` order."""
        X = self._X(S)
        return expand_proba(
            self.estimator_.predict_proba(X), self.estimator_.classes_, len(self.classes_)
        )

    def predict(self, S) -> np.ndarray:
        """Most probable class per text."""
        proba = self.predict_proba(S)
        return self.classes_[proba.argmax(axis=1)]

    def transform(self, S) -> np.ndarray:
        """Soft labels: the same as :meth:`predict_proba`."""
        return self.predict_proba(S)

    def fit_transform(self, S, y=None, **fit_params) -> np.ndarray:
        """Fit, then return the soft labels of ``S``."""
        return self.fit(S, y, **fit_params).transform(S)


#: The mixture's first name, kept as a documented alias.
MixtureOfLLMsAnnotator = MixtureAggregator
