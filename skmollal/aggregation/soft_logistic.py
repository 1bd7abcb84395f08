"""L2-penalised logistic regression on soft targets, solved by Newton's method.

Soft self-training fits a :class:`~sklearn.linear_model.LogisticRegression` to posteriors:
every row once per class, weighted by its posterior (:func:`~skmollal.aggregation.base.
fit_soft_targets`). That objective is a cross-entropy with soft targets,

    sum_i sum_c T[i, c] * (-log q_c(x_i))  +  ||W||^2 / (2 C)      (intercepts unpenalised)

divided by ``sum T``, where ``T[i, c]`` is row ``i``'s weight for class ``c``. This module
minimises the same objective without the ``n_classes`` copies of every row, with a truncated
Newton method instead of L-BFGS: each step solves the Newton system by conjugate gradients
on exact Hessian-vector products, preconditioned by the Cholesky factor of a Hessian formed
at an earlier point (kept between fits, refreshed when it stops being a good guide), then a
backtracking line search. :class:`SoftLogisticRegression` keeps its solution between fits,
so a sequence of fits to slowly changing targets (the rounds of self-training) starts each
from the last; the objective is strictly convex in the coefficients, so the optimum does
not depend on where the solver starts. The result is an
ordinary fitted ``LogisticRegression`` (``classes_``, ``coef_``, ``intercept_``), as
scikit-learn's solver would give it, only closer to the optimum.

Two classes get one coefficient row (the binomial model scikit-learn fits for binary
targets), more get one row per class (the multinomial model); classes with no target weight
are left out of the fit, as they are from scikit-learn's ``classes_``.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.linalg.blas import dsyrk
from scipy.special import expit, log_expit, logsumexp
from sklearn.linear_model import LogisticRegression

__all__ = ["SoftLogisticRegression", "soft_targets"]

logger = logging.getLogger(__name__)

#: target weights at or below this are dropped, as :func:`~.base.fit_soft_targets` does
MIN_WEIGHT = 1e-4


def soft_targets(posterior: np.ndarray, gold: np.ndarray, gold_weight: float) -> np.ndarray:
    """Per-row, per-class weights of soft self-training: ``posterior`` times the row weight.

    Gold rows weigh ``gold_weight``, other rows 1; weights ``<= 1e-4`` are set to 0 (the
    copies :func:`~skmollal.aggregation.base.fit_soft_targets` would drop).

    Parameters
    ----------
    posterior : ndarray of shape (n_rows, n_classes)
    gold : ndarray of bool, shape (n_rows,)
    gold_weight : float

    Returns
    -------
    ndarray of shape (n_rows, n_classes)
    """
    T = posterior * np.where(gold, gold_weight, 1.0)[:, None]
    T[T <= MIN_WEIGHT] = 0.0
    return T


class _Model:
    """Loss, gradient, Hessian-vector products and Hessian of one fit's objective."""

    def __init__(self, Xa: np.ndarray, T: np.ndarray, C: float):
        self.Xa, self.T = Xa, T
        self.s = T.sum(axis=1)
        self.S = float(self.s.sum())
        self.lam = 1.0 / (C * self.S)
        self.binary = T.shape[1] == 2
        self.rows = 1 if self.binary else T.shape[1]
        d = Xa.shape[1]
        # the penalty skips the intercepts; multinomial intercepts are then only fixed up to a
        # common shift, which no prediction sees: a penalty on their sum settles it at 0
        self.pen = np.full((self.rows, d), self.lam)
        self.pen[:, -1] = 0.0
        self.mu = 0.0 if self.binary else self.lam

    def _scores(self, theta):
        return self.Xa @ theta.reshape(self.rows, -1).T

    def loss(self, theta) -> float:
        Z, W = self._scores(theta), theta.reshape(self.rows, -1)
        if self.binary:
            z = Z[:, 0]
            data = self.s @ -log_expit(-z) - self.T[:, 1] @ z
        else:
            data = self.s @ logsumexp(Z, axis=1) - np.sum(self.T * Z)
        return (data / self.S + 0.5 * np.sum(self.pen * W * W)
                + 0.5 * self.mu * W[:, -1].sum() ** 2)

    def gradient(self, theta):
        """Gradient at ``theta``; stores the row probabilities for :meth:`hessp`."""
        Z, W = self._scores(theta), theta.reshape(self.rows, -1)
        if self.binary:
            p = expit(Z[:, 0])
            self.Q = p[:, None]
            R = (self.s * p - self.T[:, 1])[:, None]
            self.curv = (self.s * p * (1.0 - p) / self.S)[:, None]
        else:
            self.Q = np.exp(Z - logsumexp(Z, axis=1)[:, None])
            R = self.s[:, None] * self.Q - self.T
            self.curv = self.s[:, None] * self.Q / self.S
        G = R.T @ self.Xa / self.S + self.pen * W
        G[:, -1] += self.mu * W[:, -1].sum()
        return G.ravel()

    def proba(self) -> np.ndarray:
        """Row probabilities at the last :meth:`gradient` point, one column per class."""
        return np.column_stack([1.0 - self.Q[:, 0], self.Q[:, 0]]) if self.binary else self.Q

    def hessp(self, v):
        V = v.reshape(self.rows, -1)
        Zd = self.Xa @ V.T
        R = self.curv * Zd if self.binary else self.curv * Zd - self.curv * (
            self.Q * Zd).sum(axis=1, keepdims=True)
        H = R.T @ self.Xa + self.pen * V
        H[:, -1] += self.mu * V[:, -1].sum()
        return H.ravel()

    def hessian(self) -> np.ndarray:
        """The Hessian's upper triangle (the lower one is incomplete)."""
        Xa, (n, d), k = self.Xa, self.Xa.shape, self.rows
        hess = np.zeros((k * d, k * d))
        if not self.binary:
            root = np.sqrt(self.s / self.S)[:, None] * self.Q
            B = (root[:, :, None] * Xa[:, None, :]).reshape(n, k * d)
            hess -= dsyrk(1.0, B.T)  # B^T B, upper triangle (all the Cholesky factor reads)
        for c in range(k):
            blk = slice(c * d, (c + 1) * d)
            hess[blk, blk] += (Xa.T * self.curv[:, c]) @ Xa
        hess[np.diag_indices(k * d)] += self.pen.ravel()
        if self.mu:
            ends = np.arange(d - 1, k * d, d)
            hess[np.ix_(ends, ends)] += self.mu
        return hess


def _pcg(hessp, b, precond, rtol: float, max_iter: int):
    """Conjugate gradients for ``H x = b``, preconditioned by a Cholesky factor."""
    x = np.zeros_like(b)
    r = b.copy()
    z = cho_solve(precond, r, check_finite=False)
    p, rz, stop = z.copy(), r @ z, rtol * np.linalg.norm(b)
    for it in range(1, max_iter + 1):
        Hp = hessp(p)
        alpha = rz / (p @ Hp)
        x += alpha * p
        r -= alpha * Hp
        if np.linalg.norm(r) <= stop:
            return x, it
        z = cho_solve(precond, r, check_finite=False)
        rz, rz_old = r @ z, rz
        p = z + (rz / rz_old) * p
    return x, max_iter


class SoftLogisticRegression:
    """``LogisticRegression(C=C)`` fitted to soft targets, warm-started from its last fit.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        The rows every :meth:`fit` uses.
    C : float, default=1.0
        Inverse penalty strength, as in scikit-learn (the penalty is scaled by ``sum T``).
    tol : float, default=1e-7
        Stop when the largest gradient entry of the (weight-normalised) objective is below.
    max_iter : int, default=100
        Most Newton steps per fit.
    """

    def __init__(self, X: np.ndarray, C: float = 1.0, tol: float = 1e-7,
                 max_iter: int = 100):
        X = np.asarray(X, dtype=float)
        self.Xa = np.hstack([X, np.ones((X.shape[0], 1))])
        self.C, self.tol, self.max_iter = C, tol, max_iter
        self._classes = self._theta = self._precond = None

    def fit(self, T: np.ndarray) -> np.ndarray:
        """Fit to the per-row, per-class weights ``T``; return the fitted probabilities.

        Parameters
        ----------
        T : ndarray of shape (n_rows, n_classes)
            Non-negative weight of each row for each class (e.g. :func:`soft_targets`).

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
            ``predict_proba`` of the rows, spread over all columns (0 for the classes left
            out: those without target weight).

        Raises
        ------
        ValueError
            If fewer than two classes carry target weight.
        """
        classes = np.flatnonzero(T.sum(axis=0) > 0)
        if classes.size < 2:
            raise ValueError("training rows show fewer than two classes")
        model = _Model(self.Xa, T[:, classes], self.C)
        if self._classes is None or not np.array_equal(classes, self._classes):
            self._theta = np.zeros(model.rows * self.Xa.shape[1])
            self._precond = None
        self._classes = classes
        theta, steps = self._theta, 0
        grad = model.gradient(theta)
        loss = model.loss(theta)
        while steps < self.max_iter and np.abs(grad).max() > self.tol:
            steps += 1
            if self._precond is None:
                hess = model.hessian()
                hess[np.diag_indices_from(hess)] += 1e-12 * max(hess.diagonal().max(), 1.0)
                self._precond = cho_factor(hess, lower=False, check_finite=False)
            gnorm = np.linalg.norm(grad)
            step, cg_iters = _pcg(model.hessp, -grad, self._precond,
                                  rtol=min(0.1, np.sqrt(gnorm)), max_iter=50)
            if cg_iters > 10:  # the factor no longer resembles the Hessian: refresh it
                self._precond = None
            slope, t = grad @ step, 1.0
            while True:
                new_loss = model.loss(theta + t * step)
                if new_loss <= loss + 1e-4 * t * slope or t < 1e-10:
                    break
                t *= 0.5
            if t < 1e-10:  # no descent left at machine precision
                break
            theta = theta + t * step
            loss = new_loss
            grad = model.gradient(theta)
        self._theta, self.n_iter_ = theta, steps
        logger.debug("soft logistic fit: %d Newton steps", steps)
        proba = np.zeros((T.shape[0], T.shape[1]))
        proba[:, classes] = model.proba()
        return proba

    def copy(self, tol: float | None = None) -> "SoftLogisticRegression":
        """A solver on the same rows that starts from this one's solution (``tol``: its own
        tolerance instead of this one's)."""
        new = object.__new__(SoftLogisticRegression)
        new.__dict__.update(self.__dict__)
        new.tol = self.tol if tol is None else tol
        new._theta = None if self._theta is None else self._theta.copy()
        return new

    def estimator(self) -> LogisticRegression:
        """The last fit as a fitted :class:`~sklearn.linear_model.LogisticRegression`."""
        d = self.Xa.shape[1]
        coef = self._theta.reshape(-1, d)
        est = LogisticRegression(C=self.C)
        est.classes_ = self._classes.copy()
        est.coef_, est.intercept_ = coef[:, :-1].copy(), coef[:, -1].copy()
        est.n_features_in_ = d - 1
        est.n_iter_ = np.array([self.n_iter_], dtype=np.int32)
        return est
