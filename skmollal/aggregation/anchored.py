"""A mixture anchored to majority vote: the two weighed as views by the gold rows' log loss.

The mixture's meta-learner learns from the gold rows and the rows annotated so far. Inside
the active-learning loop those are few (50 gold + 100 to 450 rows), and the gold rows weigh
most: on recorded IMDB three-LLM panels an unrepresentative seed (one where the best LLM on
the 50 gold rows is seven points worse than the others on the pool) pulls the mixture's
labels up to 2.4 points below majority vote, while more gold weight or a weaker penalty makes
it worse and less makes it better (docs page "Active learning", "Labels fitted inside the
loop"). Majority vote learns nothing from the seed, so it cannot be misled by it.

:class:`VoteAnchoredMixture` keeps both and weighs them as two views of the label,
``softmax(w_m log p_mixture + w_v log p_votes)``, with ``p_votes`` the panel's summed vote
shares smoothed by ``smoothing`` (add-``smoothing`` per class, so a class no LLM voted for is
unlikely, not impossible). The weights minimise the log loss of the gold rows' out-of-fold
probabilities (:func:`~skmollal.aggregation.cross_val_gold_proba`: the mixture is refitted
with each fold's labels hidden; majority vote needs no fit), with
:func:`~skmollal.aggregation.calibration.fit_view_weights`. Log loss, unlike the accuracy a
:class:`~skmollal.aggregation.FusionSelector` compares, tells apart two fusions that agree on
nearly every gold row: it sees how confident each is where it is wrong. When the mixture is
clearly better (TREC), majority vote's weight goes to about 0 and the labels are the
mixture's; when the seed misleads it, the vote view pulls the labels back. ``w_m`` alone also
acts as temperature scaling. No step reads a label beyond ``y``.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..annotators.base import VOTES
from ..signals import check_signals
from .base import expand_proba
from .calibration import combine_views, fit_view_weights, safe_log
from .gold_cv import check_cv, cross_val_gold_proba, encode_partial
from .mixture import MixtureAggregator

__all__ = ["VoteAnchoredMixture", "vote_log_proba"]

logger = logging.getLogger(__name__)


def vote_log_proba(S, smoothing: float = 0.5) -> np.ndarray:
    """Log of majority vote's smoothed vote shares: the vote view.

    Parameters
    ----------
    S : array-like of shape (n_texts, n_llms, 2, n_classes)
        Panel signals.
    smoothing : float, default=0.5
        Added to every class's summed vote shares before normalising (0.5: the
        Jeffreys / Krichevsky-Trofimov estimate with one vote per LLM).

    Returns
    -------
    ndarray of shape (n_texts, n_classes)
        ``log((sum_j votes_j + smoothing) / (n_llms + n_classes * smoothing))`` (each LLM's
        vote shares sum to 1, or to 0 where it abstained).
    """
    if not (isinstance(smoothing, (int, float)) and smoothing > 0):
        raise ValueError(f"smoothing must be a positive number, got {smoothing!r}")
    votes = check_signals(S, name="S")[:, :, VOTES].sum(axis=1) + smoothing
    return np.log(votes / votes.sum(axis=1, keepdims=True))


class VoteAnchoredMixture(ClassifierMixin, BaseEstimator):
    """The mixture and majority vote, weighed as two views by the gold rows' log loss.

    Parameters
    ----------
    mixture : estimator, optional
        The learned fusion, cloned; default :class:`~skmollal.aggregation.MixtureAggregator`
        with ``guard=False`` (the vote anchor is this class's own check against the gold
        rows). Its classes must be the signals' class indices.
    smoothing : float, default=0.5
        Add-``smoothing`` of the vote view (:func:`vote_log_proba`).
    cv : int, default=5
        Folds over the gold rows used to weigh the views.
    random_state : int, default=0
        Seed of the fold split.

    Attributes
    ----------
    classes_ : ndarray
        ``arange(n_classes)``.
    mixture_ : estimator
        The mixture fitted on all of ``y``.
    view_weights_ : ndarray of shape (2,)
        Weights of the mixture's and the vote view's log-probabilities.
    cv_rows_ : ndarray of int
        Gold rows (indices into the training rows) with an out-of-fold prediction.
    cv_view_log_proba_ : list of 2 ndarray of shape (n_cv_rows, n_classes)
        The mixture's out-of-fold and the vote view's log-probabilities of those rows (what
        the weights were fitted on).
    n_features_in_ : int
        Number of the mixture's meta-features.
    """

    def __init__(self, mixture=None, smoothing: float = 0.5, cv: int = 5, random_state=0):
        self.mixture = mixture
        self.smoothing = smoothing
        self.cv = cv
        self.random_state = random_state

    def fit(self, S, y):
        """Fit the mixture on all rows; weigh it and majority vote by gold-row CV.

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes)
            Panel signals (the vote view needs the vote shares, so 4-d only).
        y : array-like of shape (n_texts,)
            Gold class indices; ``-1`` marks unlabeled rows.

        Returns
        -------
        self
        """
        check_cv(self.cv)
        S = check_signals(S, name="S")
        votes = vote_log_proba(S, self.smoothing)
        mixture = MixtureAggregator(guard=False) if self.mixture is None else self.mixture
        self.mixture_ = clone(mixture).fit(S, y)
        self.classes_ = np.arange(S.shape[3])
        self.n_features_in_ = getattr(self.mixture_, "n_features_in_", None)
        enc = encode_partial(y, self.classes_)
        rows, oof = cross_val_gold_proba(mixture, S, enc, cv=self.cv,
                                         random_state=self.random_state,
                                         n_classes=S.shape[3])
        self.cv_rows_ = rows
        self.cv_view_log_proba_ = [safe_log(oof), votes[rows]]
        if rows.size:
            self.view_weights_ = fit_view_weights(self.cv_view_log_proba_, enc[rows])
        else:  # too few gold rows to cross-validate: the mixture as it is
            logger.warning("too few gold rows to weigh the views; using the mixture")
            self.view_weights_ = np.array([1.0, 0.0])
        logger.info("mixture / vote weights %s from %d gold rows",
                    np.round(self.view_weights_, 3), rows.size)
        return self

    def view_proba(self, S) -> dict[str, np.ndarray]:
        """Each view's own class probabilities: ``{"mixture": ..., "votes": ...}``.

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes)
            Panel signals.

        Returns
        -------
        dict of str to ndarray of shape (n_texts, n_classes)
        """
        return {"mixture": self._mixture_proba(S),
                "votes": np.exp(vote_log_proba(S, self.smoothing))}

    def _mixture_proba(self, S) -> np.ndarray:
        check_is_fitted(self, "view_weights_")
        return expand_proba(self.mixture_.predict_proba(S), self.mixture_.classes_,
                            len(self.classes_))

    def predict_proba(self, S) -> np.ndarray:
        """Fused class probabilities, shape (n_texts, n_classes)."""
        return combine_views([safe_log(self._mixture_proba(S)),
                              vote_log_proba(S, self.smoothing)], self.view_weights_)

    def predict(self, S) -> np.ndarray:
        """Most probable class per text."""
        proba = self.predict_proba(S)
        return self.classes_[proba.argmax(axis=1)]
