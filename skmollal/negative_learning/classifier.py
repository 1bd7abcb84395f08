"""The noise-robust skorch classifier: :class:`NegativeLearningClassifier`.

It trains its module with :func:`~skmollal.negative_learning.negative_learning_loss`.
Per-sample data (weights, masks, soft targets) travel inside ``X`` as a dict
(:mod:`~skmollal.negative_learning.inputs`), so skorch's internal validation split and
batching slice them with the features; :meth:`NegativeLearningClassifier.get_loss` reads them
from the batch and :meth:`NegativeLearningClassifier.infer` hides them from the module.
"""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping

import numpy as np
import torch
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import column_or_1d, validate_data
from skorch import NeuralNet, NeuralNetClassifier
from skorch.utils import is_dataset, to_tensor

from .._validation import resolve_device
from .inputs import (EXTRA_KEYS, MASK_KEY, TARGET_KEY, WEIGHT_KEY, check_feature_dict,
                     check_hard_labels, check_negative_mask, check_sample_weight,
                     check_soft_targets, label_indices)
from .loss import negative_learning_loss
from .module import MLPModule
from .training import (TrainingInterrupted, default_callbacks, interrupts_raised,
                       seeded)

__all__ = ["NegativeLearningClassifier"]


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
    #: (:func:`~skmollal.aggregation.base.takes_proba_targets`): the loop's soft labels and a
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
        return default_callbacks()

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
        ``TrainingInterrupted``, which :meth:`fit` / :meth:`partial_fit` turn back into
        ``KeyboardInterrupt`` for the caller.
        """
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            raise TrainingInterrupted() from exc

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
            return check_feature_dict(X)
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
            target = check_soft_targets(y)
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
            return target, target.argmax(axis=1), True
        if y.ndim != 1:
            raise ValueError(f"y must be labels (n,) or soft targets (n, C), got shape {y.shape}")
        check_hard_labels(y)
        if reset and not (self.classes is not None and len(self.classes)):
            self.classes_inferred_ = np.unique(y)
        classes = self.classes_
        idx = label_indices(y, classes)
        target = np.zeros((n, len(classes)), dtype=np.float32)
        target[np.arange(n), idx] = 1.0
        return target, idx, False

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
        weight = check_sample_weight(sample_weight, n)
        mask = check_negative_mask(negative_mask, n, target.shape[1], idx, soft)
        data = dict(features) if isinstance(features, dict) else {"X": features}
        data.update({TARGET_KEY: target, WEIGHT_KEY: weight, MASK_KEY: mask})
        return data, idx

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
        with seeded(self.random_state):
            data, idx = self._prepare_fit_data(X, y, sample_weight, negative_mask, reset=reset)
            if reset:
                self.initialize()
            with interrupts_raised():
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
        with seeded(self.random_state):
            data, idx = self._prepare_fit_data(X, y, sample_weight, negative_mask, reset=reset,
                                               classes=classes if reset else None)
            if reset:
                self.initialize()
            with interrupts_raised():
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
