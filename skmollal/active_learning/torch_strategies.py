"""Query strategies that need a torch network: MC dropout, BEMPS, noise stability.

Same shape as :mod:`.strategies` (``strategy(classifier, X, n_instances=1, **kwargs)``
returning ``(query_idx, scores)``). They look for a fitted skorch net at the end of the
(possibly wrapped) estimator. torch is imported on first call, not with this module, so
the strategy registry and ``import skmollal.active_learning`` stay free of torch.
"""
from __future__ import annotations

import copy

import numpy as np
from sklearn.utils import check_random_state

from ._pool import check_n_instances, split_pipeline, top

__all__ = ["mc_dropout_proba", "bemps_sampling", "bemps_kmeans_sampling",
           "noise_stability_sampling"]


def _torch_net(classifier, X, who: str):
    net, Xt = split_pipeline(classifier, X)
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
    seed = None if random_state is None else int(check_random_state(random_state).randint(2**31))
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
    n_instances = check_n_instances(X, n_instances)
    changes = _bemps_changes(classifier, X, n_committee, n_estimation, committee_proba,
                             random_state, batch_rows)
    return top(changes.sum(axis=1), n_instances)


def _bemps_changes(classifier, X, n_committee, n_estimation, committee_proba, random_state,
                   batch_rows) -> np.ndarray:
    """Per pool row and estimation row x', the expected squared change ``(n_rows, E)``."""
    rng = check_random_state(random_state)
    P = (np.asarray(committee_proba, float) if committee_proba is not None
         else mc_dropout_proba(classifier, X, n_committee, random_state=rng))
    M, N, C = P.shape
    est = rng.choice(N, size=min(n_estimation, N), replace=False)
    PE = P[:, est, :].reshape(M, -1)  # (M, E*C)
    mean_E = PE.mean(axis=0)  # (E*C,)
    mean_all = P.mean(axis=0)  # (N, C)
    changes = np.zeros((N, len(est)))
    for start in range(0, N, batch_rows):
        block = P[:, start:start + batch_rows, :]  # (M, b, C)
        w = block / np.clip(block.sum(axis=0, keepdims=True), 1e-12, None)  # (M, b, C)
        w = np.transpose(w, (1, 2, 0))  # (b, C, M)
        new = w @ PE  # (b, C, E*C)
        change = ((new - mean_E) ** 2).reshape(len(w), C, len(est), C).sum(axis=3)  # (b, C, E)
        changes[start:start + batch_rows] = np.einsum(
            "bc,bce->be", mean_all[start:start + batch_rows], change)
    return changes


def bemps_kmeans_sampling(classifier, X, n_instances: int = 1, n_committee: int = 10,
                          n_estimation: int = 500, committee_proba=None, random_state=None,
                          batch_rows: int = 256, n_candidates: int | None = None, **kwargs):
    """BEMPS with its batch step: k-means over the top candidates' change vectors.

    As :func:`bemps_sampling`, but a batch is not the plain top ``n_instances``: each pool row
    has a vector of expected score changes over the estimation rows ``x'``; the
    ``n_candidates`` rows of highest utility are clustered into ``n_instances`` groups
    (k-means) and the row nearest each centre is picked (Tan et al., 2021, batch mode), so
    rows that would change the model in the same way are not all bought.

    Parameters
    ----------
    classifier, X, n_instances, n_committee, n_estimation : see :func:`bemps_sampling`
        As for :func:`bemps_sampling`.
    committee_proba, random_state, batch_rows : see :func:`bemps_sampling`
        As for :func:`bemps_sampling`.
    n_candidates : int, optional
        Rows clustered; default ``min(n_rows, 4 * n_instances)``.
    **kwargs
        Ignored.

    Returns
    -------
    query_idx, scores
        Scores are the picked rows' utilities.
    """
    from sklearn.cluster import KMeans

    n_instances = check_n_instances(X, n_instances)
    changes = _bemps_changes(classifier, X, n_committee, n_estimation, committee_proba,
                             random_state, batch_rows)
    utility = changes.sum(axis=1)
    k = min(len(utility), n_candidates or 4 * n_instances)
    if k < n_instances:
        raise ValueError(f"n_candidates={n_candidates} is below n_instances={n_instances}")
    cand, _ = top(utility, k)
    V = changes[cand]
    km = KMeans(n_clusters=n_instances, n_init=3, random_state=check_random_state(
        random_state).randint(2**31 - 1)).fit(V)
    d = ((V[:, None, :] - km.cluster_centers_[None, :, :]) ** 2).sum(axis=2)  # (k, n)
    picked: list[int] = []
    for j in range(n_instances):  # the member nearest each centre (any row if it is empty)
        order = np.argsort(d[:, j], kind="stable")
        members = [i for i in order if km.labels_[i] == j and i not in picked]
        picked.append(int(members[0] if members else next(i for i in order if i not in picked)))
    idx = cand[np.asarray(picked, dtype=int)]
    return idx, utility[idx]


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

    n_instances = check_n_instances(X, n_instances)
    net, Xt = _torch_net(classifier, X, "noise_stability_sampling")
    rng = check_random_state(random_state)
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
    return top((total / n_perturbations).numpy().astype(float), n_instances)
