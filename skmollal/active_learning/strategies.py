"""Query strategies: plain functions in modAL's shape.

Every strategy has the signature ``strategy(classifier, X, n_instances=1, **kwargs)`` and
returns ``(query_idx, scores)`` like modAL's own strategies (0.4.x): the indices of the
chosen rows of ``X`` and their utility scores. That shape lets them run inside modAL's
``ActiveLearner`` (which unpacks two values) as well as inside
:class:`skmollal.ActiveLearner`.

``classifier`` is anything with ``predict_proba``: an estimator, a pipeline, or an active
learner (ours or modAL's). Strategies that need embeddings (:func:`coreset_sampling`) use
the learner's pipeline transform when there is one; strategies that need a neural network
(:func:`bemps_sampling`, :func:`noise_stability_sampling`) look for a skorch net at the end
of the (possibly wrapped) estimator.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

__all__ = [
    "random_sampling",
    "max_entropy",
    "margin_sampling",
    "least_confidence",
    "coreset_sampling",
    "bemps_sampling",
    "noise_stability_sampling",
    "mc_dropout_proba",
    "STRATEGIES",
    "get_strategy",
]


# --------------------------------------------------------------------------- helpers
def _n_rows(X) -> int:
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def _check_n_instances(X, n_instances: int) -> int:
    n = _n_rows(X)
    if not isinstance(n_instances, (int, np.integer)) or n_instances < 1:
        raise ValueError(f"n_instances must be a positive integer; got {n_instances!r}")
    if n_instances > n:
        raise ValueError(
            f"cannot query {n_instances} instances from a pool of {n} rows; "
            "lower n_instances (the batch size) or enlarge the pool"
        )
    return int(n_instances)


def _top(scores: np.ndarray, n_instances: int, largest: bool = True):
    """Indices of the ``n_instances`` best scores, best first (stable on ties)."""
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores if largest else scores, kind="stable")[:n_instances]
    return order, scores[order]


def _proba(classifier, X) -> np.ndarray | None:
    """``classifier.predict_proba(X)``, or None when the classifier is not fitted yet."""
    try:
        return np.asarray(classifier.predict_proba(X), dtype=float)
    except NotFittedError:
        return None


def _unwrap(classifier):
    """Strip active-learner wrappers (ours, modAL's) down to the estimator."""
    seen = 0
    while hasattr(classifier, "estimator") and hasattr(classifier, "query_strategy"):
        classifier = classifier.estimator
        seen += 1
        if seen > 10:  # pragma: no cover - defensive
            break
    return classifier


def _split_pipeline(classifier, X):
    """Return ``(final_estimator, X transformed by the steps before it)``."""
    est = _unwrap(classifier)
    if isinstance(est, Pipeline):
        return est.steps[-1][1], est[:-1].transform(X)
    return est, X


def _embed(classifier, X) -> np.ndarray:
    """Features on which distances are measured: the pipeline transform when there is one."""
    if hasattr(classifier, "transform_without_estimating"):
        Xt = classifier.transform_without_estimating(X)
    else:
        _, Xt = _split_pipeline(classifier, X)
    if hasattr(Xt, "toarray"):
        Xt = Xt.toarray()
    try:
        Xt = np.asarray(Xt, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "coreset_sampling needs numeric features: give numeric X, a Pipeline whose "
            "first steps embed the texts, or embeddings=..."
        ) from exc
    return Xt.reshape(len(Xt), -1)


def _as_random_state(random_state):
    return check_random_state(random_state)


# --------------------------------------------------------------------------- simple
def random_sampling(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick ``n_instances`` rows uniformly at random (without replacement).

    Parameters
    ----------
    classifier : object
        Ignored (kept for the common strategy signature).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None
        Seed for reproducible picks.
    **kwargs
        Ignored.

    Returns
    -------
    query_idx : ndarray of int
    scores : ndarray of float
        Uniform random scores of the picked rows.
    """
    n_instances = _check_n_instances(X, n_instances)
    rng = _as_random_state(random_state)
    scores = rng.random_sample(_n_rows(X))
    return _top(scores, n_instances)


def _uncertainty(name: str, proba: np.ndarray) -> np.ndarray:
    if name == "entropy":
        p = np.clip(proba, 1e-12, 1.0)
        return -(proba * np.log(p)).sum(axis=1)
    if name == "margin":
        if proba.shape[1] < 2:
            return np.zeros(len(proba))
        part = -np.partition(-proba, 1, axis=1)
        return part[:, 0] - part[:, 1]
    return 1.0 - proba.max(axis=1)


def _uncertainty_strategy(name, classifier, X, n_instances, random_state, largest):
    n_instances = _check_n_instances(X, n_instances)
    proba = _proba(classifier, X)
    if proba is None:  # not fitted: no information, pick at random
        return random_sampling(classifier, X, n_instances, random_state=random_state)
    return _top(_uncertainty(name, proba), n_instances, largest=largest)


def max_entropy(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick the rows whose predicted class distribution has the largest entropy.

    Falls back to random picks while the classifier is not fitted.

    Parameters
    ----------
    classifier : estimator or active learner
        Anything with ``predict_proba`` (a Pipeline, our or modAL's learner included).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None, default=None
        Seeds the random picks made while the classifier is not fitted.
    **kwargs
        Ignored (accepted so that callers can pass common options to every strategy).

    Returns
    -------
    query_idx : ndarray of int
        Picked rows, most informative first.
    scores : ndarray of float
        Entropy of the predicted distribution of the picked rows.
    """
    return _uncertainty_strategy("entropy", classifier, X, n_instances, random_state, True)


def margin_sampling(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick the rows with the smallest gap between the two most probable classes.

    Parameters
    ----------
    classifier : estimator or active learner
        Anything with ``predict_proba`` (a Pipeline, our or modAL's learner included).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None, default=None
        Seeds the random picks made while the classifier is not fitted.
    **kwargs
        Ignored (accepted so that callers can pass common options to every strategy).

    Returns
    -------
    query_idx : ndarray of int
        Picked rows, most informative first.
    scores : ndarray of float
        Margin (top-1 minus top-2 probability) of the picked rows.
    """
    return _uncertainty_strategy("margin", classifier, X, n_instances, random_state, False)


def least_confidence(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick the rows whose most probable class has the lowest probability.

    Parameters
    ----------
    classifier : estimator or active learner
        Anything with ``predict_proba`` (a Pipeline, our or modAL's learner included).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None, default=None
        Seeds the random picks made while the classifier is not fitted.
    **kwargs
        Ignored (accepted so that callers can pass common options to every strategy).

    Returns
    -------
    query_idx : ndarray of int
        Picked rows, most informative first.
    scores : ndarray of float
        One minus the top probability of the picked rows.
    """
    return _uncertainty_strategy("confidence", classifier, X, n_instances, random_state, True)


# --------------------------------------------------------------------------- CoreSet
def coreset_sampling(classifier, X, n_instances: int = 1, X_labeled=None, embeddings=None,
                     labeled_embeddings=None, random_state=None, **kwargs):
    """k-center greedy CoreSet selection (Sener & Savarese, 2018) on embeddings.

    Repeatedly picks the pool row farthest (Euclidean) from everything already labeled or
    picked.

    Parameters
    ----------
    classifier : estimator or active learner
        Supplies the embedding (pipeline transform, or ``X`` itself) and, for learners,
        the labeled set ``X_training``.
    X : array-like
        The pool.
    n_instances : int, default=1
    X_labeled : array-like, optional
        Labeled rows in the same space as ``X``; defaults to ``classifier.X_training``.
    embeddings, labeled_embeddings : ndarray, optional
        Precomputed embeddings of ``X`` / of the labeled rows (skip the transform).
    random_state : int or None
        Picks the first center when nothing is labeled.
    **kwargs
        Ignored.

    Returns
    -------
    query_idx : ndarray of int
    scores : ndarray of float
        Distance of each picked row to its nearest center at the time it was picked.
    """
    n_instances = _check_n_instances(X, n_instances)
    E = np.asarray(embeddings, float) if embeddings is not None else _embed(classifier, X)
    if labeled_embeddings is not None:
        L = np.asarray(labeled_embeddings, float).reshape(-1, E.shape[1])
    else:
        if X_labeled is None:
            X_labeled = getattr(classifier, "X_training", None)
        L = (np.empty((0, E.shape[1])) if X_labeled is None or _n_rows(X_labeled) == 0
             else _embed(classifier, X_labeled))
    min_d = None
    if len(L):
        min_d = np.full(len(E), np.inf)
        for start in range(0, len(L), 256):
            block = L[start:start + 256]
            d = ((E[:, None, :] - block[None, :, :]) ** 2).sum(-1)
            min_d = np.minimum(min_d, d.min(axis=1))
    rng = _as_random_state(random_state)
    picked: list[int] = []
    scores: list[float] = []
    for _ in range(n_instances):
        if min_d is None:  # nothing labeled: the first center is random
            i = int(rng.randint(len(E)))
            score = np.inf
            min_d = np.full(len(E), np.inf)
        else:
            masked = min_d.copy()
            masked[picked] = -1.0
            i = int(np.argmax(masked))
            score = float(np.sqrt(max(min_d[i], 0.0)))
        picked.append(i)
        scores.append(score)
        min_d = np.minimum(min_d, ((E - E[i]) ** 2).sum(axis=1))
    return np.asarray(picked, dtype=int), np.asarray(scores, dtype=float)


# --------------------------------------------------------------------------- torch-based
def _torch_net(classifier, X, who: str):
    net, Xt = _split_pipeline(classifier, X)
    if not (hasattr(net, "forward_iter") and hasattr(net, "module_")):
        raise TypeError(
            f"{who} needs a fitted skorch network (e.g. NegativeLearningClassifier) as the "
            f"final estimator; got {type(net).__name__}"
        )
    return net, Xt


def mc_dropout_proba(classifier, X, n_samples: int = 10, random_state=None) -> np.ndarray:
    """Class probabilities from ``n_samples`` forward passes with dropout active.

    Parameters
    ----------
    classifier : skorch net, Pipeline ending in one, or active learner
        A fitted network with at least one dropout layer.
    X : array-like
        Rows to predict.
    n_samples : int, default=10
        Forward passes (committee members).
    random_state : int, RandomState or None, default=None
        Seeds torch for the dropout masks (the global torch RNG is restored afterwards).

    Returns
    -------
    ndarray of shape (n_samples, n_rows, n_classes)
    """
    import torch

    net, Xt = _torch_net(classifier, X, "mc_dropout_proba")
    has_dropout = any(isinstance(m, torch.nn.modules.dropout._DropoutNd)
                      for m in net.module_.modules())
    if not has_dropout:
        raise TypeError(
            "mc_dropout_proba: the network has no dropout layer, so MC dropout gives no "
            "committee; use a module with dropout > 0"
        )
    nonlin = net._get_predict_nonlinearity()
    seed = None if random_state is None else int(_as_random_state(random_state).randint(2**31))
    gen_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    out = []
    try:
        with torch.no_grad():
            for _ in range(n_samples):
                parts = [nonlin(y).detach().cpu().numpy()
                         for y in net.forward_iter(Xt, training=True)]
                out.append(np.concatenate(parts))
    finally:
        net.module_.eval()
        if seed is not None:
            torch.random.set_rng_state(gen_state)
    return np.stack(out).astype(float)


def bemps_sampling(classifier, X, n_instances: int = 1, n_committee: int = 10,
                   n_estimation: int = 500, committee_proba=None, random_state=None,
                   batch_rows: int = 256, **kwargs):
    """BEMPS with the Brier score (CoreMSE, Tan et al. 2021) on an MC-dropout committee.

    For each pool row ``x`` and label ``y`` the committee members are reweighted by how
    likely they find ``y`` (``w_m ∝ p_m(y|x)``); the utility is the expected squared change
    of the committee's mean prediction over an estimation set ``X'``::

        ΔQ(x) = Σ_y p̄(y|x) Σ_{x'∈X'} || Σ_m w_m(x, y) p_m(·|x') − p̄(·|x') ||²

    (for the Brier score this equals the expected reduction of the proper score). The
    ``n_instances`` rows with the largest utility are picked.

    Parameters
    ----------
    classifier : skorch net (possibly in a Pipeline or a learner) with dropout
    X : array-like
        The pool.
    n_instances : int, default=1
    n_committee : int, default=10
        MC-dropout forward passes.
    n_estimation : int, default=500
        Size of the random estimation subset ``X'`` of the pool.
    committee_proba : ndarray of shape (M, n_rows, n_classes), optional
        Precomputed committee predictions (skips MC dropout; any committee works).
    random_state : int or None
        Seeds the estimation subset and the dropout masks.
    batch_rows : int, default=256
        Pool rows scored at once (memory bound).
    **kwargs
        Ignored.

    Returns
    -------
    query_idx, scores
    """
    n_instances = _check_n_instances(X, n_instances)
    rng = _as_random_state(random_state)
    P = (np.asarray(committee_proba, float) if committee_proba is not None
         else mc_dropout_proba(classifier, X, n_committee, random_state=rng))
    M, N, C = P.shape
    est = rng.choice(N, size=min(n_estimation, N), replace=False)
    PE = P[:, est, :].reshape(M, -1)  # (M, E*C)
    mean_E = PE.mean(axis=0)  # (E*C,)
    mean_all = P.mean(axis=0)  # (N, C)
    scores = np.zeros(N)
    for start in range(0, N, batch_rows):
        block = P[:, start:start + batch_rows, :]  # (M, b, C)
        w = block / np.clip(block.sum(axis=0, keepdims=True), 1e-12, None)  # (M, b, C)
        w = np.transpose(w, (1, 2, 0))  # (b, C, M)
        new = w @ PE  # (b, C, E*C)
        change = ((new - mean_E) ** 2).sum(axis=2)  # (b, C)
        scores[start:start + batch_rows] = (mean_all[start:start + batch_rows] * change).sum(1)
    return _top(scores, n_instances)


def noise_stability_sampling(classifier, X, n_instances: int = 1, n_perturbations: int = 10,
                             noise_scale: float = 1e-3, random_state=None, **kwargs):
    """Noise stability (Li et al., 2022): rows whose output moves most under weight noise.

    Each parameter tensor ``θ`` of the network gets Gaussian noise rescaled to norm
    ``noise_scale * ||θ||``; the utility of a row is the mean L2 change of the network's
    output (before the prediction nonlinearity) over ``n_perturbations`` draws.

    Parameters
    ----------
    classifier : skorch net, Pipeline ending in one, or active learner
        A fitted network.
    X : array-like
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    n_perturbations : int, default=10
        Noise draws.
    noise_scale : float, default=1e-3
        Noise norm relative to each parameter tensor's norm.
    random_state : int, RandomState or None, default=None
        Seeds the noise.
    **kwargs
        Ignored.

    Returns
    -------
    query_idx, scores
    """
    import torch

    n_instances = _check_n_instances(X, n_instances)
    net, Xt = _torch_net(classifier, X, "noise_stability_sampling")
    rng = _as_random_state(random_state)
    gen = torch.Generator().manual_seed(int(rng.randint(2**31)))

    def outputs():
        with torch.no_grad():
            return torch.cat([y.detach().cpu().float().reshape(len(y), -1)
                              for y in net.forward_iter(Xt, training=False)])

    base = outputs()
    saved = copy.deepcopy(net.module_.state_dict())
    total = torch.zeros(len(base))
    try:
        for _ in range(n_perturbations):
            with torch.no_grad():
                for p in net.module_.parameters():
                    noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                    norm = noise.norm()
                    if norm > 0:
                        p.add_(noise.to(p.device) * (noise_scale * p.norm() / norm))
            total += (outputs() - base).norm(dim=1)
            net.module_.load_state_dict(saved)
    finally:
        net.module_.load_state_dict(saved)
    return _top((total / n_perturbations).numpy().astype(float), n_instances)


#: Strategies by name (used by the command line and :class:`MoLLIAClassifier`).
STRATEGIES: dict[str, Callable] = {
    "random": random_sampling,
    "entropy": max_entropy,
    "max_entropy": max_entropy,
    "margin": margin_sampling,
    "least_confidence": least_confidence,
    "coreset": coreset_sampling,
    "bemps": bemps_sampling,
    "noise_stability": noise_stability_sampling,
}


def get_strategy(strategy) -> Callable:
    """Return the strategy function for a name in :data:`STRATEGIES`, or a callable as is.

    Parameters
    ----------
    strategy : str or callable
        A name (``"random"``, ``"entropy"``, ``"margin"``, ``"least_confidence"``,
        ``"coreset"``, ``"bemps"``, ``"noise_stability"``; dashes allowed) or a function.

    Returns
    -------
    callable
        The strategy function.
    """
    if callable(strategy):
        return strategy
    try:
        return STRATEGIES[str(strategy).lower().replace("-", "_")]
    except KeyError:
        raise ValueError(
            f"unknown query strategy {strategy!r}; choose one of {sorted(STRATEGIES)} or "
            "pass a function"
        ) from None
