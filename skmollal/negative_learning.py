"""A noise-robust skorch classifier: weighted cross-entropy plus a negative-learning term.

The loss of a batch ``B`` is

.. math::

    \\frac{1}{|B|} \\sum_{i \\in B} w_i \\, \\mathrm{CE}(t_i, p_i)
    + \\lambda \\frac{1}{|B_N|} \\sum_{i \\in B_N} \\mathrm{NL}_i, \\qquad
    \\mathrm{NL}_i = \\frac{1}{|N_i|} \\sum_{c \\in N_i} -\\log(1 - p_{ic})

where ``p_i`` is the softmax of the module's logits, ``t_i`` the (hard or soft) target,
``w_i`` a per-sample weight (annotation discrepancy), ``N_i`` the sample's negative labels
(classes the LLM panel all but rules out), ``B_N`` the samples of the batch that have
negative labels (the NL term is 0 when there are none) and ``lambda`` the negative-learning
weight; this is the loss of the MoLLIA reference implementation.

Per-sample data (weights, masks, soft targets) travel *inside* ``X`` as a dict, the way
skorch documents for sample weights, so skorch's internal validation split and batching
slice them with the features, row by row; :meth:`NegativeLearningClassifier.get_loss` reads
them from the batch and :meth:`NegativeLearningClassifier.infer` hides them from the module.

(Over 400 lines: the loss, the default MLP module and the skorch classifier, whose skorch
hooks and scikit-learn input checks meet here.)
"""
from __future__ import annotations

import inspect
import logging
import numbers
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Sequence

import numpy as np
import torch
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils import check_random_state
from sklearn.utils.validation import column_or_1d, validate_data
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from skorch.utils import is_dataset, to_tensor
from torch import nn

from ._validation import resolve_device

__all__ = [
    "NegativeLearningClassifier",
    "MLPModule",
    "negative_learning_loss",
    "TARGET_KEY",
    "WEIGHT_KEY",
    "MASK_KEY",
]

logger = logging.getLogger(__name__)

#: Keys under which per-sample targets / weights / masks ride inside ``X`` through skorch.
TARGET_KEY = "nl_target"
WEIGHT_KEY = "nl_sample_weight"
MASK_KEY = "nl_negative_mask"
EXTRA_KEYS = (TARGET_KEY, WEIGHT_KEY, MASK_KEY)

#: Tolerance for soft-target rows summing to 1.
SOFT_TARGET_ATOL = 1e-3


def negative_learning_loss(logits: torch.Tensor, target: torch.Tensor,
                           sample_weight: torch.Tensor | None = None,
                           negative_mask: torch.Tensor | None = None,
                           nl_weight: float = 0.0, eps: float = 1e-6,
                           reduction: str = "mean") -> torch.Tensor:
    """Weighted cross-entropy plus ``nl_weight`` times the negative-learning loss.

    With ``reduction="mean"`` (the training loss) this is
    ``mean_i(w_i CE_i) + nl_weight * mean_{i: N_i non-empty}(NL_i)``: the NL term is
    averaged over the samples of the batch that have negative labels, as in the MoLLIA
    reference implementation (0 when none has).

    Parameters
    ----------
    logits : Tensor of shape (n, C)
        Unnormalised class scores.
    target : Tensor of shape (n, C) or (n,)
        Soft targets (rows summing to 1) or class indices.
    sample_weight : Tensor of shape (n,) or None
        Multiplies each sample's cross-entropy (not its NL term). None means 1.
    negative_mask : bool Tensor of shape (n, C) or None
        Negative labels; a sample's NL term is the mean over its negative classes of
        ``-log(1 - p)``, and 0 when it has none.
    nl_weight : float, default=0.0
        Weight of the NL term.
    eps : float, default=1e-6
        ``1 - p`` is clamped to at least ``eps`` before the log.
    reduction : {"mean", "sum", "none"}, default="mean"
        "mean" as above; "sum" is ``sum_i(w_i CE_i + nl_weight NL_i)``; "none" returns the
        per-sample ``w_i CE_i + nl_weight NL_i``.

    Returns
    -------
    Tensor
        A scalar, or per-sample losses (n,) when ``reduction="none"``.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    log_p = torch.log_softmax(logits, dim=-1)
    if target.dim() == 1:
        ce = -log_p.gather(1, target.long().view(-1, 1)).squeeze(1)
    else:
        ce = -(target.to(log_p.dtype) * log_p).sum(dim=1)
    if sample_weight is not None:
        ce = ce * sample_weight.to(ce.dtype)
    if negative_mask is None or not nl_weight:
        nl = torch.zeros_like(ce)
        has_neg = torch.zeros_like(ce, dtype=torch.bool)
    else:
        mask = negative_mask.to(log_p.dtype)
        # log(1 - p) = log(-expm1(log p)), clamped away from log(0) when p -> 1
        log_one_minus_p = torch.log(torch.clamp(-torch.expm1(log_p), min=eps))
        n_neg = mask.sum(dim=1)
        nl = -(mask * log_one_minus_p).sum(dim=1) / n_neg.clamp(min=1)
        has_neg = n_neg > 0
    if reduction == "none":
        return ce + nl_weight * nl
    if reduction == "sum":
        return ce.sum() + nl_weight * nl.sum()
    nl_term = nl[has_neg].mean() if bool(has_neg.any()) else nl.sum()
    return ce.mean() + nl_weight * nl_term


class MLPModule(nn.Module):
    """Feed-forward classifier head: ``Linear -> ReLU -> Dropout`` blocks, then a linear layer.

    Parameters
    ----------
    n_features : int
        Input dimension (filled in from the data by the classifier).
    n_classes : int
        Number of output logits (filled in by the classifier).
    hidden_units : int or sequence of int, default=(256,)
        Widths of the hidden layers; ``()`` gives a linear (softmax-regression) model.
    dropout : float, default=0.1
        Dropout after each hidden layer.
    """

    def __init__(self, n_features: int, n_classes: int, hidden_units: int | Sequence[int] = (256,),
                 dropout: float = 0.1):
        super().__init__()
        if isinstance(hidden_units, numbers.Integral):
            hidden_units = (int(hidden_units),)
        layers: list[nn.Module] = []
        width = int(n_features)
        for units in hidden_units:
            layers += [nn.Linear(width, int(units)), nn.ReLU(), nn.Dropout(dropout)]
            width = int(units)
        layers.append(nn.Linear(width, int(n_classes)))
        self.net = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:  # noqa: N803 (sklearn naming)
        if not torch.is_floating_point(X):
            X = X.float()
        return self.net(X)


class _TrainingInterrupted(Exception):
    """Ctrl-C during training, carried past skorch's ``except KeyboardInterrupt``."""


@contextmanager
def _interrupts_raised():
    """Turn ``_TrainingInterrupted`` back into the ``KeyboardInterrupt`` it was."""
    try:
        yield
    except _TrainingInterrupted as exc:
        raise KeyboardInterrupt("training interrupted") from exc.__cause__


def _index_accuracy(net, X, y) -> float:
    """Validation accuracy on encoded class indices (``y`` inside skorch is the index)."""
    proba = net.predict_proba(X)
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    return float(np.mean(proba.argmax(axis=1) == y))


class NegativeLearningClassifier(NeuralNetClassifier):
    """skorch classifier trained with weighted cross-entropy and negative learning.

    Learns from noisy labels: hard (class labels) or soft (``(n, C)`` distributions, e.g. a
    mixture model's output) targets, per-sample weights and negative labels (classes a text
    surely does not belong to). See :func:`negative_learning_loss` for the loss.

    Parameters
    ----------
    module : torch module (class or instance) or None, default=None
        Must return logits ``(batch, n_classes)``. None means :class:`MLPModule` over dense
        features. A module *class* whose ``__init__`` takes ``n_features`` / ``n_classes``
        gets them from the data unless given as ``module__n_features`` etc.
    nl_weight : float, default=0.4
        Weight of the negative-learning term (a non-negative number). A schedule over
        active-learning rounds is the loop's business: :class:`~skmollal.MoLLIALoop` sets
        this parameter on its own copy of the classifier before each round's ``fit``.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        Only used by skorch to infer the prediction nonlinearity (softmax); the loss itself is
        :func:`negative_learning_loss`.
    optimizer : torch optimizer class, default=torch.optim.AdamW
    lr : float, default=1e-3
    max_epochs : int, default=30
    batch_size : int, default=64
    train_split : callable or None, default=None
        skorch's internal validation split (e.g. ``skorch.dataset.ValidSplit(5)``); None
        trains on all rows. Weights and masks are split with their rows.
    classes : array-like or None, default=None
        All class labels. None infers them from ``y`` (hard targets) or uses
        ``0 .. C-1`` (soft targets). Useful when a training set lacks some classes.
    verbose : int, default=0
    random_state : int, RandomState or None, default=None
        Seeds torch (weights, dropout, shuffling) inside ``fit`` without touching the global
        RNG state afterwards.
    **kwargs
        Any other skorch parameter (``device``, ``callbacks``, ``module__hidden_units``,
        ``optimizer__weight_decay``, ``iterator_train__shuffle`` (default True), ...).
        ``device`` also takes ``"auto"``: CUDA, else MPS, else CPU.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Number of features (array inputs only).
    device_ : str or torch.device
        The device trained on: ``device`` with ``"auto"`` resolved (CUDA, else MPS, else
        CPU) when the network is initialised.
    module_, history_, ... : skorch's fitted attributes.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    >>> y = (X[:, 0] > 0).astype(int)
    >>> neg = np.zeros((60, 2), bool); neg[np.arange(60), 1 - y] = True
    >>> clf = NegativeLearningClassifier(max_epochs=5, random_state=0)
    >>> clf.fit(X, y, negative_mask=neg).predict(X[:3]).shape
    (3,)
    """

    #: ``fit`` takes probability targets ``(n, n_classes)``
    #: (:func:`~skmollal.aggregation.takes_proba_targets`): the loop's soft labels and a
    #: two-view mixture's text view train on the posteriors themselves.
    takes_proba_targets = True

    # The loop passes per-sample weights and negative labels; request them by default so a
    # Pipeline routes them here (scikit-learn metadata routing) without set_fit_request.
    __metadata_request__fit = {"sample_weight": True, "negative_mask": True}
    __metadata_request__partial_fit = {"sample_weight": True, "negative_mask": True}

    def __init__(self, module=None, *args, nl_weight: float = 0.4,
                 criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.AdamW,
                 lr: float = 1e-3, max_epochs: int = 30, batch_size: int = 64, train_split=None,
                 classes=None, verbose: int = 0, random_state=None, **kwargs):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module, *args, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
            classes=classes, verbose=verbose, **kwargs,
        )
        self.nl_weight = nl_weight
        self.random_state = random_state

    # ------------------------------------------------------------------ device
    @property
    def device(self):
        """The device skorch computes on: the ``device`` parameter, ``"auto"`` resolved.

        skorch reads ``self.device`` wherever it moves modules and tensors; the parameter
        as given (e.g. ``"auto"``) stays what ``get_params`` and ``clone`` see.
        """
        return resolve_device(self.__dict__.get("device"), type(self).__name__)

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device")
        return params

    def initialize(self):
        """Resolve the device into ``device_``, then initialise skorch's components."""
        self.device_ = self.device
        return super().initialize()

    def __setstate__(self, state):
        # skorch maps the pickled tensors onto state["device"], which must be a real device
        given = state.get("device")
        if given == "auto":
            state = {**state, "device": resolve_device(given)}
        super().__setstate__(state)
        if given == "auto":
            self.__dict__["device"] = given

    # ------------------------------------------------------------------ skorch hooks
    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_acc", EpochScoring(_index_accuracy, name="valid_acc",
                                       lower_is_better=False)),
            ("print_log", PrintLog()),
        ]

    @property
    def classes_(self) -> np.ndarray:
        if self.classes is not None and len(self.classes):
            return np.asarray(self.classes)
        try:
            return self.classes_inferred_
        except AttributeError as exc:
            raise AttributeError(
                f"{type(self).__name__} is not fitted yet: classes_ is set by fit"
            ) from exc

    def check_data(self, X, y):
        # classes are inferred in ``_prepare_fit_data`` (from the original labels, not from
        # the encoded indices skorch sees), so skorch's own inference is skipped.
        if y is None and not is_dataset(X):
            raise ValueError("y is required")

    def _module_class(self):
        return MLPModule if self.module is None else self.module

    def get_params_for(self, prefix):
        kwargs = super().get_params_for(prefix)
        if prefix == "module":
            module = self._module_class()
            if isinstance(module, type):
                params = inspect.signature(module.__init__).parameters
                if "n_features" in params and hasattr(self, "n_features_in_"):
                    kwargs.setdefault("n_features", int(self.n_features_in_))
                if "n_classes" in params and hasattr(self, "n_classes_"):
                    kwargs.setdefault("n_classes", int(self.n_classes_))
        return kwargs

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        self.module_ = self.initialized_instance(self._module_class(), kwargs)
        return self

    def infer(self, x, **fit_params):
        if isinstance(x, Mapping):
            x = {k: v for k, v in x.items() if k not in EXTRA_KEYS}
            if set(x) == {"X"}:
                x = x["X"]
        return super().infer(x, **fit_params)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's training loop, with Ctrl-C passed on instead of swallowed.

        skorch's ``partial_fit`` catches ``KeyboardInterrupt`` and returns a half-trained
        net as if training had finished; here the interrupt leaves the loop as
        ``_TrainingInterrupted``, which :meth:`fit` / :meth:`partial_fit` turn back
        into ``KeyboardInterrupt`` for the caller.
        """
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            raise _TrainingInterrupted() from exc

    def _check_nl_weight(self) -> float:
        weight = self.nl_weight
        if callable(weight):
            raise ValueError(
                "nl_weight must be a non-negative number, not a callable: schedules over "
                "active-learning rounds belong to the loop (MoLLIALoop(nl_weight=...))"
            )
        if (isinstance(weight, bool) or not isinstance(weight, numbers.Real)
                or not np.isfinite(weight) or weight < 0):
            raise ValueError(f"nl_weight must be a non-negative finite number, got {weight!r}")
        return float(weight)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Weighted CE + ``nl_weight`` * NL, reading targets/weights/masks from the batch."""
        logits = y_pred[0] if isinstance(y_pred, tuple) else y_pred
        logits = getattr(logits, "logits", logits)  # Hugging Face ModelOutput
        if isinstance(X, Mapping) and TARGET_KEY in X:
            target = to_tensor(X[TARGET_KEY], device=logits.device)
            weight = to_tensor(X[WEIGHT_KEY], device=logits.device)
            mask = to_tensor(X[MASK_KEY], device=logits.device)
        else:  # e.g. a user calling get_loss directly, or a plain skorch Dataset
            target = to_tensor(y_true, device=logits.device)
            weight = mask = None
        return negative_learning_loss(
            logits, target, sample_weight=weight, negative_mask=mask,
            nl_weight=self._check_nl_weight(),
        )

    # ------------------------------------------------------------------ data handling
    def _validate_features(self, X, reset: bool):
        if is_dataset(X):
            raise TypeError(
                f"{type(self).__name__} takes arrays (or a dict of arrays), not a torch "
                "Dataset, so that sample weights and negative masks can follow the rows"
            )
        if isinstance(X, Mapping) and not sparse.issparse(X):
            if any(k in X for k in EXTRA_KEYS):
                raise ValueError(f"X must not use the reserved keys {EXTRA_KEYS}")
            lengths = {k: len(v) for k, v in X.items()}
            if not lengths or len(set(lengths.values())) != 1:
                raise ValueError(f"all entries of a dict X need the same length, got {lengths}")
            return dict(X), next(iter(lengths.values()))
        X = validate_data(
            self, X, reset=reset, dtype=[np.float32, np.int64, np.int32], allow_nd=True,
            ensure_all_finite=True, accept_sparse=False,
        )
        if X.dtype == np.float64:  # pragma: no cover - validate_data converts already
            X = X.astype(np.float32)
        return X, X.shape[0]

    def _encode_targets(self, y, n: int, reset: bool):
        """Return (soft targets (n, C) float32, class indices (n,), is_soft)."""
        y = np.asarray(y)
        if y.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {y.shape[0]}")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2:
            if y.dtype.kind not in "fiub":
                raise ValueError(f"soft targets must be numeric, got dtype {y.dtype}")
            y = y.astype(float)
            if not np.all(np.isfinite(y)) or (y < 0).any():
                raise ValueError("soft targets must be finite and non-negative")
            sums = y.sum(axis=1)
            bad = np.flatnonzero(np.abs(sums - 1) > SOFT_TARGET_ATOL)
            if bad.size:
                raise ValueError(
                    f"soft target rows must sum to 1; {bad.size} row(s) do not (row {bad[0]} "
                    f"sums to {sums[bad[0]]:.4g})"
                )
            if reset:
                if self.classes is not None and len(self.classes):
                    if len(self.classes) != y.shape[1]:
                        raise ValueError(
                            f"soft targets have {y.shape[1]} columns but classes has "
                            f"{len(self.classes)} entries"
                        )
                else:
                    self.classes_inferred_ = np.arange(y.shape[1])
            if y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"soft targets have {y.shape[1]} columns, expected {len(self.classes_)}"
                )
            target = (y / y.sum(axis=1, keepdims=True)).astype(np.float32)
            return target, target.argmax(axis=1), True
        if y.ndim != 1:
            raise ValueError(f"y must be labels (n,) or soft targets (n, C), got shape {y.shape}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite labels")
        check_classification_targets(y)
        if reset and not (self.classes is not None and len(self.classes)):
            self.classes_inferred_ = np.unique(y)
        classes = self.classes_
        index = {c: i for i, c in enumerate(classes.tolist())}
        try:
            idx = np.fromiter((index[v] for v in y.tolist()), dtype=np.int64, count=n)
        except KeyError as exc:
            raise ValueError(
                f"y contains label {exc.args[0]!r} not among the classes {classes.tolist()}"
            ) from None
        target = np.zeros((n, len(classes)), dtype=np.float32)
        target[np.arange(n), idx] = 1.0
        return target, idx, False

    @staticmethod
    def _check_sample_weight(sample_weight, n: int) -> np.ndarray:
        if sample_weight is None:
            return np.ones(n, dtype=np.float32)
        w = np.asarray(sample_weight, dtype=float)
        if w.ndim == 0:
            w = np.full(n, float(w))
        if w.ndim != 1 or w.shape[0] != n:
            raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
        if not np.all(np.isfinite(w)) or (w < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
        if not w.any():
            raise ValueError("sample_weight is zero for every sample")
        return w.astype(np.float32)

    def _check_negative_mask(self, negative_mask, n: int, n_classes: int,
                             idx: np.ndarray, soft: bool) -> np.ndarray:
        if negative_mask is None:
            return np.zeros((n, n_classes), dtype=bool)
        m = np.asarray(negative_mask)
        if m.shape != (n, n_classes):
            raise ValueError(
                f"negative_mask must have shape (n_samples, n_classes) = ({n}, {n_classes}), "
                f"got {m.shape}"
            )
        if m.dtype != bool:
            if m.dtype.kind not in "iuf" or not np.isin(m, (0, 1)).all():
                raise ValueError("negative_mask must be boolean (or 0/1)")
            m = m.astype(bool)
        full = np.flatnonzero(m.all(axis=1))
        if full.size:
            raise ValueError(
                f"negative_mask marks every class as negative in {full.size} row(s) (first: row "
                f"{full[0]}); at least one class per row must remain possible"
            )
        clash = m[np.arange(n), idx]
        if clash.any():
            logger.warning(
                "%d sample(s) have their %s label among their negative labels",
                int(clash.sum()), "(argmax of the) soft" if soft else "target",
            )
        return m

    def _prepare_fit_data(self, X, y, sample_weight, negative_mask, reset: bool,
                          classes=None):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        self._check_nl_weight()
        features, n = self._validate_features(X, reset=reset)
        if classes is not None and not (self.classes is not None and len(self.classes)):
            self.classes_inferred_ = np.asarray(classes)  # partial_fit's first call
            reset = False
        target, idx, soft = self._encode_targets(y, n, reset=reset)
        self.n_classes_ = target.shape[1]
        weight = self._check_sample_weight(sample_weight, n)
        mask = self._check_negative_mask(negative_mask, n, target.shape[1], idx, soft)
        data = dict(features) if isinstance(features, dict) else {"X": features}
        data.update({TARGET_KEY: target, WEIGHT_KEY: weight, MASK_KEY: mask})
        return data, idx

    @contextmanager
    def _seeded(self):
        if self.random_state is None:
            yield
            return
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield

    # ------------------------------------------------------------------ public API
    def fit(self, X, y, sample_weight=None, negative_mask=None, **fit_params):
        """Initialise (unless ``warm_start``) and train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or dict of arrays
            Features (NaN / infinite values are rejected). A dict is passed to the module's
            ``forward`` as keyword arguments.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or soft targets whose rows sum to 1.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the cross-entropy term.
        negative_mask : array-like of bool, shape (n_samples, n_classes), default=None
            Negative labels per sample (columns in the order of ``classes_``); no row may
            mark every class.
        **fit_params
            Passed on to skorch (the module's ``forward`` and ``train_split``).

        Returns
        -------
        self
        """
        reset = not (self.warm_start and self.initialized_)
        with self._seeded():
            data, idx = self._prepare_fit_data(X, y, sample_weight, negative_mask, reset=reset)
            if reset:
                self.initialize()
            with _interrupts_raised():
                NeuralNet.partial_fit(self, data, idx, _routing_method="fit", **fit_params)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None, negative_mask=None,
                    **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising the network.

        Parameters are as in :meth:`fit`; ``classes`` (first call only) lists all labels
        when the first batch lacks some.

        Returns
        -------
        self
        """
        reset = not self.initialized_ or not hasattr(self, "n_classes_")
        with self._seeded():
            data, idx = self._prepare_fit_data(X, y, sample_weight, negative_mask, reset=reset,
                                               classes=classes if reset else None)
            if reset:
                self.initialize()
            with _interrupts_raised():
                NeuralNet.partial_fit(self, data, idx, _routing_method="partial_fit",
                                      **fit_params)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (softmax of the logits), shape (n_samples, n_classes)."""
        if not hasattr(self, "n_classes_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit first"
            )
        self.check_is_fitted()
        features = X if is_dataset(X) else self._validate_features(X, reset=False)[0]
        proba = NeuralNet.predict_proba(self, features).astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Most probable class label per sample (labels from ``classes_``)."""
        index = self.predict_proba(X).argmax(axis=1)
        return self.classes_[index]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_class = True
        return tags
