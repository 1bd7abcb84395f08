"""Cascade annotation: ask the LLMs of a panel one at a time, only as many as a text needs.

:class:`CascadePanel` asks its annotators in an order chosen from the gold rows alone
(:func:`cascade_order`: by accuracy on the gold rows, or accuracy per unit of cost when the
user gives a cost per call, or an order the user gives) and stops for a text as soon as the
fused posterior over the LLMs asked so far reaches ``threshold``. The fusion of a prefix of
the order is its own model (a :class:`~skmollal.cascade.MaskedAggregator` with that one
pattern), fitted on the gold rows, which every LLM annotates, plus the rows that were really
asked those LLMs; so no model sees an answer that was not given, and none imputes one.
With ``threshold="auto"`` (the default) the threshold, too, comes from the gold rows: the
cascade is simulated on them out of fold, and the cheapest candidate threshold that no other
(the full panel included) beats by more than one standard error is kept
(:mod:`~skmollal.cascade.seed`).

The signals it returns have NaN for the LLMs it did not ask about a text; the loop
(:class:`~skmollal.active_learning.MoLLIALoop`) stores them as they are, fuses them with a
:class:`~skmollal.cascade.MaskedAggregator` and counts only the calls made, with their
tokens and seconds (:meth:`CascadePanel.signals_with_costs`). Answers go through the panel's
cache per annotator and text, so a later run with a stricter threshold pays only for the
answers it did not have.

"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .._validation import check_partial_labels, check_texts
from ..aggregation.mixture import MixtureAggregator
from ..annotators.costs import AnnotatorCost
from ..annotators.panel import LLMPanel, panel_annotators, panel_labels
from .masked import MaskedAggregator, check_masked_signals, join_masked
from .seed import (check_threshold, choose_threshold, order_from_setting, prefix_oof_proba,
                   threshold_candidates)

__all__ = ["CascadePanel"]

logger = logging.getLogger(__name__)


class CascadePanel(TransformerMixin, BaseEstimator):
    """Ask a panel's LLMs one at a time; stop for a text once the fused posterior is sure.

    Parameters
    ----------
    annotators : LLMPanel or list of annotators
        The panel. An :class:`~skmollal.annotators.panel.LLMPanel` lends its ``cache``,
        ``n_jobs``, ``batch_size`` and ``prefer`` to every call.
    threshold : float, "auto" or sequence of float, default="auto"
        Stop asking about a text when the largest class probability of the fused posterior
        over the LLMs asked so far is at least this. 1.0 asks every LLM (unless a posterior
        is exactly 1). ``"auto"``: chosen from the gold rows among ``AUTO_THRESHOLDS`` of
        ``skmollal.cascade.seed`` (a sequence: among those),
        by :func:`~skmollal.cascade.seed.choose_threshold` on the cascade
        simulated out of fold on the gold rows.
    order : "accuracy" or sequence of str or int, default="accuracy"
        ``"accuracy"``: by accuracy on the gold rows of :meth:`fit` (per unit of ``cost``
        when given; see :func:`~skmollal.cascade.seed.cascade_order`); else the LLMs' names
        or indices, first asked first (every LLM once).
    cost : dict or sequence of float, optional
        Cost of one call per LLM (by name, or in panel order), for ``order="accuracy"``.
    mixture : estimator, optional
        The fusion fitted per prefix of the order (any ``fit(S, y)`` / ``predict_proba(S)``
        model with ``-1`` = unlabeled); default
        :class:`~skmollal.aggregation.MixtureAggregator`.
    cache : AnnotationCache, str or path-like, optional
        Annotation cache when ``annotators`` is a list (see ``LLMPanel``).
    show_progress : bool, default=False
        A tqdm bar over the LLMs asked.
    aggregator : estimator, optional
        Deprecated: the old name of ``mixture`` (a FutureWarning; goes in 0.3).

    Attributes
    ----------
    order_ : list of int
        The LLMs (panel indices), first asked first.
    threshold_ : float
        The threshold of the fit (``threshold`` itself when it is a number; a number set
        later applies to :meth:`cascade` without a refit).
    threshold_cv_ : Bunch or None
        For a chosen threshold, the simulated gold-row accuracy and calls of each candidate
        (see :func:`~skmollal.cascade.seed.choose_threshold`); None otherwise.
    prefix_models_ : list of MaskedAggregator
        ``prefix_models_[k]`` fuses the first ``k + 1`` LLMs of ``order_``.
    signals_ : ndarray of shape (n_texts, n_llms, 2, n_classes)
        Set by :meth:`fit`: the signals of its texts (NaN where not asked).
    annotator_names_ : list of str
    labels_ : list of str

    Examples
    --------
    >>> from skmollal.testing.fake import FakeAnnotator
    >>> panel = CascadePanel([FakeAnnotator(["a", "b"], name=f"m{i}") for i in range(3)])
    >>> texts = [f"text {i}" for i in range(40)]
    >>> y = [i % 2 if i < 20 else -1 for i in range(40)]
    >>> S = panel.fit_transform(texts, y)
    >>> S.shape, len(panel.order_)
    ((40, 3, 2, 2), 3)
    """

    def __init__(self, annotators: Any, threshold: Any = "auto", order: Any = "accuracy",
                 cost: Any = None, mixture: Any = None, cache: Any = None,
                 show_progress: bool = False, aggregator: Any = "deprecated") -> None:
        self.annotators = annotators
        self.threshold = threshold
        self.order = order
        self.cost = cost
        self.mixture = mixture
        self.cache = cache
        self.show_progress = show_progress
        self.aggregator = aggregator

    def _fusion(self) -> Any:
        """The fusion of a prefix (``mixture``; the old name ``aggregator`` warns)."""
        if not (isinstance(self.aggregator, str) and self.aggregator == "deprecated"):
            warnings.warn("CascadePanel(aggregator=...) is deprecated: use mixture=... (the "
                          "same name as MoLLIALoop's); aggregator goes in 0.3",
                          FutureWarning, stacklevel=3)
            return self.aggregator
        return self.mixture

    # ------------------------------------------------------------------ the panel
    @property
    def annotator_names(self) -> list[str]:
        """The LLMs' names, in panel (column) order."""
        return [str(a.name) for a in panel_annotators(self.annotators)]

    @property
    def labels(self) -> list[str]:
        """The class names."""
        return panel_labels(self.annotators)

    def _one_llm_panel(self, j: int) -> LLMPanel:
        source = self.annotators
        annotator = panel_annotators(source)[j]
        if isinstance(source, LLMPanel):
            return LLMPanel([annotator], n_jobs=source.n_jobs, cache=source.cache,
                            batch_size=source.batch_size, show_progress=False,
                            prefer=source.prefer)
        return LLMPanel([annotator], cache=self.cache, show_progress=False)

    def _ask(self, j: int, texts: list[str]) -> tuple[np.ndarray, AnnotatorCost]:
        """Signals ``(n, 2, C)`` of LLM ``j`` on ``texts``, and what they cost."""
        result = self._one_llm_panel(j).annotate(texts)[0]
        return np.asarray(result.to_signals(), dtype=float), result.cost

    def annotate_all(self, X: Sequence[str]) -> np.ndarray:
        """Signals ``(n, n_llms, 2, n_classes)`` of every LLM on ``X``, as the gold rows get."""
        return self.signals_with_costs(X, every_llm=True)[0]

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        check_threshold(self.threshold)

    def _candidates(self) -> list | None:
        """Candidate thresholds to choose from (None for a fixed threshold)."""
        return threshold_candidates(self.threshold)

    def _prefix_model(self, S: np.ndarray, y: np.ndarray, k: int) -> MaskedAggregator:
        """Fit the fusion of the first ``k + 1`` LLMs of the order on the rows asked them."""
        return MaskedAggregator(self._fusion(), patterns=[self.order_[: k + 1]]).fit(S, y)

    def _set_fitted(self, S: np.ndarray, y: np.ndarray) -> None:
        """The order and the threshold, from the gold rows (which have every LLM)."""
        self.annotator_names_ = self.annotator_names
        self.labels_ = self.labels
        gold = y >= 0
        self.order_ = order_from_setting(self.order, self.annotator_names, S[gold], y[gold],
                                         self.cost)
        logger.info("cascade order: %s", [self.annotator_names_[j] for j in self.order_])
        candidates = self._candidates()
        if candidates is None:
            self.threshold_, self.threshold_cv_ = float(self.threshold), None
            return
        fusion = self._fusion()
        fusion = MixtureAggregator() if fusion is None else fusion
        # a loop refits every round on the same seed: choose again only when the seed changed
        key = (S[gold].tobytes(), y[gold].tobytes(), tuple(self.order_), tuple(candidates),
               repr(fusion))
        memo = getattr(self, "_threshold_memo", None)
        if memo is None or memo[0] != key:
            rows, proba = prefix_oof_proba(fusion, S[gold], y[gold], self.order_)
            memo = self._threshold_memo = (key, choose_threshold(proba, y[gold][rows],
                                                                 candidates))
        self.threshold_cv_ = memo[1]
        self.threshold_ = self.threshold_cv_.threshold

    # ------------------------------------------------------------------ fit
    def fit_signals(self, S, y) -> "CascadePanel":
        """Fit the order and the prefix models on signals already paid for (no LLM call).

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes)
            Signals, NaN where an LLM was not asked; the gold rows must have every LLM.
        y : array-like of shape (n_texts,)
            Gold class indices, ``-1`` for unlabeled rows.

        Returns
        -------
        self
        """
        self._check_params()
        S, mask = check_masked_signals(S)
        y = check_partial_labels(y, S.shape[0], S.shape[3], where="CascadePanel: y",
                                 require_labels=True, min_classes=2)
        if not mask[y >= 0].all():
            raise ValueError("CascadePanel: every LLM must have annotated the gold rows")
        self._set_fitted(S, y)
        self.prefix_models_ = [self._prefix_model(S, y, k) for k in range(S.shape[1])]
        return self

    def fit(self, X: Sequence[str], y) -> "CascadePanel":
        """Annotate the gold rows with every LLM, choose the order, cascade the other rows.

        The prefix model of step ``k`` is fitted on the gold rows and the unlabeled rows
        that reached step ``k`` (semi-supervised), before it decides which of them go on.

        Parameters
        ----------
        X : sequence of str
            Texts.
        y : array-like of shape (n_texts,)
            Gold class indices, ``-1`` for unlabeled rows (at least two classes).

        Returns
        -------
        self
        """
        self._check_params()
        texts = check_texts(X, "CascadePanel")
        labels = self.labels
        y = check_partial_labels(y, len(texts), len(labels), where="CascadePanel: y",
                                 require_labels=True, min_classes=2)
        L, n = len(self.annotator_names), len(texts)
        S = np.full((n, L, 2, len(labels)), np.nan)
        gold = np.flatnonzero(y >= 0)
        S[gold] = self.annotate_all([texts[i] for i in gold])
        self._set_fitted(S, y)
        self.prefix_models_ = []
        todo = np.flatnonzero(y < 0)
        for k, j in enumerate(self._steps()):
            if todo.size:
                S[todo, j] = self._ask(j, [texts[i] for i in todo])[0]
            self.prefix_models_.append(self._prefix_model(S, y, k))
            if todo.size and k < L - 1:
                sure = self.prefix_models_[k].predict_proba(S[todo]).max(axis=1)
                todo = todo[sure < self.threshold_]
        self.signals_ = S
        return self

    def _stop_at(self) -> float:
        """The threshold of :meth:`cascade`: a number set after fitting applies as it is
        (no refit needed); a chosen one is ``threshold_``."""
        return self.threshold_ if self._candidates() is not None else float(self.threshold)

    def _steps(self):
        if not self.show_progress:
            return self.order_
        from tqdm.auto import tqdm

        return tqdm(self.order_, desc="cascade", unit="LLM", leave=False)

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit, then return the signals of ``X`` collected while fitting (no new call)."""
        return self.fit(X, y).signals_

    # ------------------------------------------------------------------ annotate
    def cascade(self, X: Sequence[str]) -> Bunch:
        """Run the cascade on ``X`` with the fitted order and prefix models.

        Returns
        -------
        Bunch
            ``signals`` ``(n, n_llms, 2, n_classes)`` (NaN where not asked), ``proba``
            ``(n, n_classes)`` (the fused posterior of the LLMs asked), ``n_asked``
            ``(n,)`` and ``costs`` (an ``AnnotatorCost`` per LLM, in panel order).
        """
        check_is_fitted(self, "prefix_models_")
        self._check_params()
        texts = check_texts(X, "CascadePanel", allow_empty=True)
        n, L, C = len(texts), len(self.order_), len(self.labels_)
        S = np.full((n, L, 2, C), np.nan)
        costs = [AnnotatorCost() for _ in range(L)]  # per LLM, in panel order
        proba = np.zeros((n, C))
        n_asked = np.zeros(n, dtype=int)
        todo = np.arange(n)
        for k, j in enumerate(self._steps()):
            if not todo.size:
                break
            S[todo, j], costs[j] = self._ask(j, [texts[i] for i in todo])
            n_asked[todo] += 1
            proba[todo] = self.prefix_models_[k].predict_proba(S[todo])
            todo = todo[proba[todo].max(axis=1) < self._stop_at()]
        return Bunch(signals=S, proba=proba, n_asked=n_asked, costs=costs)

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Cascade signals of ``X``: ``(n, n_llms, 2, n_classes)``, NaN where not asked."""
        return self.cascade(X).signals

    def signals_with_costs(self, X: Sequence[str], every_llm: bool = False) -> tuple:
        """:meth:`transform` (``every_llm``: :meth:`annotate_all`) and each LLM's cost."""
        if not every_llm:
            result = self.cascade(X)
            return result.signals, result.costs
        texts = check_texts(X, "CascadePanel")
        asked = [self._ask(j, texts) for j in range(len(self.annotator_names))]
        return np.stack([sig for sig, _ in asked], axis=1), [cost for _, cost in asked]

    def posterior(self, S) -> np.ndarray:
        """Fused posterior of cascade signals: each row by the model of its asked prefix.

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes)
            Signals whose asked LLMs are a prefix of ``order_``.

        Returns
        -------
        ndarray of shape (n_texts, n_classes)
        """
        check_is_fitted(self, "prefix_models_")
        S, mask = check_masked_signals(S)
        depth = mask[:, self.order_].cumprod(axis=1).sum(axis=1)
        if (depth != mask.sum(axis=1)).any():
            row = int(np.flatnonzero(depth != mask.sum(axis=1))[0])
            raise ValueError(f"row {row}'s asked LLMs are not a prefix of the order {self.order_}")
        return self.masked_fusion().predict_proba(S)

    def masked_fusion(self) -> MaskedAggregator:
        """The prefix models as one fitted :class:`~skmollal.cascade.MaskedAggregator`
        (no refit): it labels signals as :meth:`posterior` does, for a loop that fuses the
        signals it holds with the cascade's own fits.

        Returns
        -------
        MaskedAggregator
        """
        check_is_fitted(self, "prefix_models_")
        return join_masked(self.prefix_models_)

    def fuses_like(self, mixture: Any) -> bool:
        """Whether :meth:`masked_fusion` is what ``MaskedAggregator(mixture)`` fitted on the
        same signals would be: ``mixture`` is the same fusion as this panel's.

        Parameters
        ----------
        mixture : estimator or None
            A fusion (None: the default :class:`~skmollal.aggregation.MixtureAggregator`).

        Returns
        -------
        bool
            True for the same class with the same parameters (nested estimators: the same
            objects).
        """
        a, b = (MixtureAggregator() if m is None else m for m in (self._fusion(), mixture))
        pa, pb = a.get_params(deep=False), b.get_params(deep=False)
        plain = (str, int, float, bool, type(None))
        return type(a) is type(b) and pa.keys() == pb.keys() and all(
            pa[k] is pb[k] or (isinstance(pa[k], plain) and isinstance(pb[k], plain)
                               and pa[k] == pb[k]) for k in pa)

    def loop_hooks(self):
        """What the MoLLIA loop calls for this panel
        (:class:`~skmollal.cascade.loop_hooks.CascadeHooks`)."""
        from .loop_hooks import CascadeHooks

        return CascadeHooks(self)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Fused posterior ``(n, n_classes)`` of the cascade on texts ``X``."""
        return self.cascade(X).proba

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """Class index per text from the cascade's fused posterior."""
        return self.predict_proba(X).argmax(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags
