"""The whole MoLLIA loop as one scikit-learn classifier."""
from __future__ import annotations

import inspect
import logging
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._validation import check_partial_labels, check_texts
from ..annotators.panel import panel_labels
from .class_labels import encode_labels, unlabelled
from .fingerprint import fingerprint_digest
from .loop import MoLLIALoop
from .params import LOOP_SETTINGS, check_loop_settings, store_settings, with_settings
from .routing import full_proba

__all__ = ["MoLLIAClassifier"]

logger = logging.getLogger(__name__)

_P = inspect.Parameter
#: the loop settings it passes on
LOOP_NAMES = {s.name for s in LOOP_SETTINGS}


@with_settings(first=[_P(n, _P.POSITIONAL_OR_KEYWORD, default=None)
                      for n in ("panel", "featurizer", "estimator")],
               after=[_P("n_rounds", _P.KEYWORD_ONLY, default=9),
                      _P("cascade", _P.KEYWORD_ONLY, default=None),
                      _P("annotators", _P.KEYWORD_ONLY, default="deprecated"),
                      _P("classifier", _P.KEYWORD_ONLY, default="deprecated")],
               for_classifier=True)
class MoLLIAClassifier(ClassifierMixin, BaseEstimator):
    """Text classifier trained by Mixture-of-LLMs-in-the-loop active learning.

    ``fit(texts, y)`` treats rows with ``y != -1`` as the gold seed and the others as the
    unlabeled pool: for ``n_rounds`` rounds it queries ``batch_size`` pool texts with
    ``strategy``, has the LLM panel annotate them, labels them with the mixture model, and
    retrains the noise-robust classifier (see :class:`MoLLIALoop`). Gold labels outside the
    seed are never used.

    Parameters
    ----------
    panel : LLMPanel or list of annotators
        The LLM panel. Its ``labels`` define the classes: ``y`` holds them (class names)
        or indices into them.
    featurizer : transformer or None, default=None
        Texts -> features. None means :class:`~skmollal.featurizers.SentenceEmbedder` (MiniLM).
    estimator : classifier or None, default=None
        Trained each round on the features (a clone). None means
        :class:`~skmollal.negative_learning.NegativeLearningClassifier`.
    {settings}
    n_rounds : int, default=9
        Active-learning rounds (at most: ``budget`` and ``stopping`` may end sooner).
    cascade : float, "auto" or None, default=None
        Ask the LLMs one at a time and stop for a text once the fused posterior reaches this
        threshold (a :class:`~skmollal.cascade.CascadePanel` around ``panel``; ``"auto"``
        chooses it from the gold seed); None asks every LLM about every text.
    annotators, classifier : deprecated
        The old names of ``panel`` and ``estimator`` (a FutureWarning; they go in 0.3).

    Attributes
    ----------
    classes_ : ndarray
        The panel's labels when ``fit`` was given class names, else ``arange(n_classes)``;
        :meth:`predict` returns them, and the columns of :meth:`predict_proba` follow them.
    target_names_ : list of str
        The panel's labels.
    featurizer_, estimator_, mixture_ : fitted estimators
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
    With ``output_dir``, the loop's state is saved in a sub-folder named after the run,
    ``run-<12 hex digits>``: a hash of everything that defines the run (texts, gold seed,
    panel identities, every parameter but ``output_dir``, ``show_progress``, the stopping
    ones and ``oracle``; see
    :func:`~skmollal.active_learning.fingerprint.fingerprint_digest`). A later ``fit`` with
    the same data and parameters resumes it without re-annotating; other data or parameters
    get their own, so the candidates of a ``GridSearchCV`` never share or overwrite state.

    ``sklearn.utils.estimator_checks.check_estimator`` cannot run most of its checks on this
    estimator: it needs an LLM panel (no default can be built) and takes texts, while the
    checks feed numeric matrices. The checks about parameters (defaults constructible,
    ``get_params`` / ``set_params`` invariance, no attributes set in ``__init__``, ``clone``)
    pass, and so does ``check_estimators_unfitted``; see
    ``tests/active_learning/test_classifier.py``.
    (``check_estimator`` itself runs only ``check_estimator_cloneable`` here, because the
    estimator's tags say it takes strings, not 2-d arrays.) ``GridSearchCV`` works with a
    ``PredefinedSplit`` whose test fold is a gold dev set; use ``refit=False`` (or refit
    yourself without the dev rows), since refitting on all rows would make the dev labels
    part of the seed.

    A fitted classifier pickles (``joblib.dump``) with its ``panel`` parameter, so the
    annotators decide what that costs: :class:`~skmollal.annotators.TransformersAnnotator`
    loaded from a model name or path drops its loaded weights when pickled (and reloads them
    when next used), API annotators keep only their settings. Set ``panel`` to None
    before saving (``clf.set_params(panel=None)``) if yours carries its weights; the
    fitted attributes are enough to predict.
    """

    def __init__(self, panel=None, featurizer=None, estimator=None, **settings) -> None:
        self.panel = panel
        self.featurizer = featurizer
        self.estimator = estimator
        store_settings(self, settings, "MoLLIAClassifier")

    # ------------------------------------------------------------------ building blocks
    def _make_featurizer(self):
        if self.featurizer is None:
            from ..featurizers import SentenceEmbedder

            return SentenceEmbedder()
        return clone(self.featurizer)

    def _renamed(self, old: str, new: str):
        value = getattr(self, old)
        if isinstance(value, str) and value == "deprecated":
            return getattr(self, new)
        warnings.warn(f"MoLLIAClassifier({old}=...) is deprecated: use {new}=... (goes in "
                      "0.3)", FutureWarning, stacklevel=3)
        return value

    def _make_classifier(self):
        estimator = self._renamed("classifier", "estimator")
        if estimator is None:
            from ..classifiers import make_classifier

            return make_classifier("mlp", random_state=self.random_state)
        return clone(estimator)

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
        panel = self._renamed("annotators", "panel")
        if panel is None:
            raise ValueError("MoLLIAClassifier needs a panel (an LLMPanel or a list of "
                             "annotators)")
        texts = check_texts(X, "MoLLIAClassifier")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(texts):
            raise ValueError(f"y must be 1-d with one entry per text ({len(texts)}); "
                             f"got shape {y.shape}")
        check_loop_settings({name: getattr(self, name) for name in self._setting_names},
                            "MoLLIAClassifier")
        n_rounds = self.n_rounds
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, (int, np.integer)) or (
                n_rounds < 0):
            raise ValueError(f"n_rounds must be a non-negative integer; got {n_rounds!r}")
        self.target_names_ = panel_labels(panel)
        y, self.classes_ = encode_labels(y, self.target_names_, "MoLLIAClassifier: y")
        y = check_partial_labels(y, len(texts), len(self.classes_), where="MoLLIAClassifier: y",
                                 require_labels=True, min_classes=2)  # before the embedding
        self.featurizer_ = self._make_featurizer()
        features = self.featurizer_.fit_transform(texts)
        from ..cascade import cascade_panel

        panel = cascade_panel(panel, self.cascade, self.mixture)  # None: every LLM
        args = (self._make_classifier(), panel, features, y)
        params = {name: getattr(self, name) for name in self._setting_names
                  if name in LOOP_NAMES and name != "output_dir"}
        params["texts"] = texts
        self.run_dir_ = None
        if self.output_dir is not None:
            run = MoLLIALoop(*args, **params).fingerprint  # validates; nothing runs
            self.run_dir_ = Path(self.output_dir) / "run-{}".format(fingerprint_digest(
                run, featurizer=self.featurizer, n_rounds=self.n_rounds))
        loop = MoLLIALoop.resume_or_start(self.run_dir_, *args, **params)
        loop.run(self.n_rounds)
        self.estimator_ = loop.estimator_
        self.mixture_ = loop.mixture_
        self.history_ = loop.history
        self.n_llm_calls_ = loop.llm_calls
        self.cost_ = loop.cost
        self.stopped_by_ = loop.stopped_by_
        self.training_rows_ = loop.training_rows()
        return self

    @property
    def classifier_(self):
        """Deprecated: the trained classifier, now ``estimator_`` (goes in 0.3)."""
        warnings.warn("MoLLIAClassifier.classifier_ is deprecated: use estimator_",
                      FutureWarning, stacklevel=2)
        return self.estimator_

    def _features(self, X):
        check_is_fitted(self, "estimator_")
        return self.featurizer_.transform(check_texts(X, "MoLLIAClassifier"))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_texts, n_classes)``."""
        features = self._features(X)
        return full_proba(self.estimator_, features, len(self.classes_))

    def predict(self, X) -> np.ndarray:
        """Labels of ``X``, taken from ``classes_`` (names or indices, as ``fit`` got)."""
        check_is_fitted(self, "estimator_")
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
