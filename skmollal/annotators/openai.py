"""Annotate with any OpenAI-compatible chat server: vLLM, Ollama, llama.cpp's server, ...

:class:`OpenAICompatibleAnnotator` sends each text as chat messages (rendered by the
:class:`~skmollal.annotators.task.AnnotationTask`) to ``{base_url}/chat/completions`` with
``logprobs=true``, ``top_logprobs`` and ``n`` samples, and reads

* ``probs``: with ``label_scoring="auto"`` (the default), the model's probability of every
  full label name where the server can report it (``skmollal.annotators.server_scoring``:
  llama.cpp's servers, vLLM), else from the first answer token's ``top_logprobs``
  (:func:`~skmollal.annotators.server_answers.label_token_probs`: a token that starts several
  class names splits its mass between them); the reason for that fallback is logged once.
  When no listed token starts a class name (or the server sends no logprobs) the row is
  uniform and a warning is logged;
* ``votes`` from the ``n`` sampled answers, parsed by
  :func:`~skmollal.annotators.parsing.vote_distribution`. A server that returns fewer
  choices than asked (llama.cpp returns one) is asked again until ``n_votes`` answers are in.

Each text's cost (:mod:`skmollal.annotators.costs`) is the server's ``usage`` summed over the
requests of that text (tokens marked not counted when the server sends no ``usage``), and
the wall-clock seconds of those requests (texts in flight at once overlap, so the seconds of
a call's texts add up to more than its wall time, by at most ``max_concurrency`` times).

A text the server refuses as longer than its context is handled by ``long_texts``, as the
local annotator's: cut at its end until the server takes it, left unannotated, or an error.
Requests, deadlines and retries are :mod:`~skmollal.annotators.http_requests`; texts in
flight at once, cancellation and partial results :mod:`~skmollal.annotators.concurrent_texts`.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Mapping

import numpy as np

from .base import AnnotationResult
from .concurrent_texts import ConcurrentTexts
from .costs import CallCost
from .http_requests import AnnotationRequestError, ContextExceeded, HttpRequests, _Cancelled
from .prompt_batches import LONG_TEXT_MODES
from .transformers_model import describe_tokenizer as _describe_tokenizer
from .parsing import vote_distribution
from .server_answers import check_chat_answer, first_token_probs, label_token_probs, usage_cost
from .server_scoring import LabelScorer

__all__ = ["OpenAICompatibleAnnotator", "AnnotationRequestError", "label_token_probs"]

logger = logging.getLogger(__name__)

#: Tries at cutting a long text (``long_texts="truncate"``) before giving up on it.
_MAX_CUTS = 30


class OpenAICompatibleAnnotator(ConcurrentTexts, HttpRequests):
    """An LLM annotator that asks an OpenAI-compatible chat-completions server.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``"http://localhost:8000/v1"`` (vLLM), ``"http://localhost:11434/v1"``
        (Ollama) or ``"http://localhost:8080/v1"`` (llama.cpp); requests go to
        ``{base_url}/chat/completions``.
    model : str
        The model name the server knows.
    task : AnnotationTask
        Labels, instruction and few-shot examples (rendered as chat messages).
    n_votes : int, default=10
        Sampled answers per text (``k``), asked as ``n``.
    temperature, top_p : float, default=0.7, 0.9
        Sampling parameters of the answers.
    timeout : float, default=30
        Deadline of one request in seconds, from sending it to its last byte (not per
        network read: a server that trickles its answer fails at the deadline too). The
        deadline is checked as bytes arrive, and a server silent for ``timeout`` seconds
        fails then; so no request outlives about ``2 * timeout``. A request past it is
        retried like a timeout.
    max_retries : int, default=3
        Extra tries per request after a retryable failure.
    max_concurrency : int, default=4
        Texts in flight at once.
    api_key : str, optional
        Sent as ``Authorization: Bearer``; not part of :meth:`identity`.
    name : str, optional
        Name in reports; defaults to ``model``.
    extra_body : dict, optional
        Extra JSON fields for every request (``{"seed": 0}``, ``{"top_k": 20}``, ...).
    top_logprobs : int, default=20
        Alternatives asked for the first answer token (OpenAI and vLLM allow up to 20).
    max_tokens : int, default=8
        Answer length limit; a label answer is a few tokens.
    backoff : float, default=0.5
        First retry delay in seconds; doubled on each retry (with jitter, at most 20 s).
    show_progress : bool, default=False
        tqdm bar over texts.
    label_scoring : {"auto", "full", "first-token"}, default="auto"
        How ``probs`` are read (see ``skmollal.annotators.server_scoring``): the
        probability of every full label name, walked token by token on the server's
        ``{base_url}/completions``, where that is possible (it needs ``tokenizer``), else
        the first answer token (``"auto"``, the reason logged once); ``"full"``: an error
        where it is not possible; ``"first-token"``: the first answer token only (no extra
        requests).
    case_variants : bool, default=True
        Full scoring also scores ``label.lower()`` and ``label.capitalize()`` and adds their
        mass to the class (as the local annotator does).
    long_texts : {"truncate", "skip", "error"}, default="truncate"
        A text whose prompt the server refuses as longer than its context: ``"truncate"``
        cuts the text's end until the server takes it (by the server's token counts where
        its error states them) and logs a warning; ``"skip"`` leaves it unannotated (zero
        probabilities and votes: the annotator abstains) with a warning; ``"error"`` raises
        :class:`AnnotationRequestError`. Warnings and errors name the text's index.
    tokenizer : transformers tokenizer or str, optional
        A tokenizer with the served model's chat template (or its name / local path), to
        render the prompt for full label scoring as the chat endpoint would. Without it
        the probabilities come from the first answer token.

    Attributes
    ----------
    labels : tuple of str
        The task's class names.
    n_requests_ : int
        HTTP requests made so far (including retries).
    n_uniform_ : int
        Texts whose probabilities fell back to uniform (no class-name token among the
        ``top_logprobs``) in the last call.
    scoring_method_ : str or None
        How the probabilities were read: a way of forcing full labels
        (:data:`~skmollal.annotators.server_scoring.FORCING`), ``"first-token"``, or None
        before the first text.

    Examples
    --------
    >>> from skmollal.annotators.task import AnnotationTask
    >>> ann = OpenAICompatibleAnnotator("http://localhost:8000/v1", "qwen2.5-0.5b",
    ...                                 AnnotationTask(["positive", "negative"]))
    >>> ann.name, ann.labels
    ('qwen2.5-0.5b', ('positive', 'negative'))
    """

    def __init__(self, base_url: str, model: str, task: Any, n_votes: int = 10,
                 temperature: float = 0.7, top_p: float = 0.9, timeout: float = 30,
                 max_retries: int = 3, max_concurrency: int = 4, api_key: str | None = None,
                 name: str | None = None, extra_body: Mapping[str, Any] | None = None,
                 top_logprobs: int = 20, max_tokens: int = 8, backoff: float = 0.5,
                 show_progress: bool = False, label_scoring: str = "auto",
                 case_variants: bool = True, long_texts: str = "truncate",
                 tokenizer: Any = None) -> None:
        where = "OpenAICompatibleAnnotator"
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{where}: base_url must be an http(s) URL, got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"{where}: model must be a non-empty str")
        if not hasattr(task, "render_messages") or not hasattr(task, "labels"):
            raise TypeError(f"{where}: task must be an AnnotationTask, got {type(task).__name__}")
        for pname, value, low in (("n_votes", n_votes, 1), ("max_retries", max_retries, 0),
                                  ("max_concurrency", max_concurrency, 1),
                                  ("top_logprobs", top_logprobs, 0), ("max_tokens", max_tokens, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{where}: {pname} must be an int >= {low}, got {value!r}")
        if not timeout or timeout <= 0:
            raise ValueError(f"{where}: timeout must be > 0, got {timeout!r}")
        if long_texts not in LONG_TEXT_MODES:
            raise ValueError(f"{where}: long_texts must be one of {LONG_TEXT_MODES}, got "
                             f"{long_texts!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.task = task
        self.n_votes = int(n_votes)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.max_concurrency = int(max_concurrency)
        self.api_key = api_key
        self.name = name if name is not None else model
        self.extra_body = dict(extra_body) if extra_body else {}
        self.top_logprobs = int(top_logprobs)
        self.max_tokens = int(max_tokens)
        self.backoff = float(backoff)
        self.show_progress = show_progress
        self.label_scoring = label_scoring
        self.case_variants = bool(case_variants)
        self.long_texts = long_texts
        self.tokenizer = tokenizer
        self._tokenizer = None if isinstance(tokenizer, str) else tokenizer
        self._scorer = LabelScorer(self.name, self.labels, label_scoring, self.case_variants)
        self.n_requests_ = 0
        self.n_uniform_ = 0
        self._count_lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_count_lock", None)
        if isinstance(self.tokenizer, str):
            state["_tokenizer"] = None  # loaded again from its name where unpickled
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("long_texts", "error")  # pickled before these existed
        self.__dict__.setdefault("label_scoring", "first-token")
        self.__dict__.setdefault("case_variants", True)
        self.__dict__.setdefault("tokenizer", None)
        self.__dict__.setdefault("_tokenizer", None)
        if "_scorer" not in self.__dict__:
            self._scorer = LabelScorer(self.name, self.labels, self.label_scoring,
                                       self.case_variants)
        self._count_lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        """The task's class names."""
        return tuple(self.task.labels)

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    @property
    def scoring_method_(self) -> str | None:
        """How the probabilities are read (see the class docstring)."""
        return self._scorer.method

    def identity(self) -> str:
        """Stable description for cache keys: server, model, task and sampling parameters."""
        scoring = ({} if self.label_scoring == "first-token" or self.tokenizer is None else
                   {"label_scoring": self.label_scoring, "case_variants": self.case_variants,
                    "tokenizer": _describe_tokenizer(self._prompt_tokenizer())})
        return json.dumps({
            "backend": "openai-compatible",
            "base_url": self.base_url,
            "model": self.model,
            "task": json.loads(self.task.identity()),
            "params": {
                "n_votes": self.n_votes, "temperature": self.temperature, "top_p": self.top_p,
                "top_logprobs": self.top_logprobs, "max_tokens": self.max_tokens,
                "extra_body": self.extra_body, **scoring,
                **({"long_texts": "skip"} if self.long_texts == "skip" else {}),
            },
        }, sort_keys=True, default=str)

    def __repr__(self) -> str:
        return (f"OpenAICompatibleAnnotator(base_url={self.base_url!r}, model={self.model!r}, "
                f"name={self.name!r}, n_votes={self.n_votes})")

    def _prompt_tokenizer(self) -> Any:
        """The tokenizer that renders prompts for full label scoring (loaded once)."""
        if self._tokenizer is None and isinstance(self.tokenizer, str):
            from .pretrained import load_pretrained_tokenizer

            self._tokenizer = load_pretrained_tokenizer(self.tokenizer)
        return self._tokenizer

    # ------------------------------------------------------------------ requests
    def _body(self, text: str, n: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.task.render_messages(text),
            "n": n,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.top_logprobs > 0:
            body["logprobs"] = True
            body["top_logprobs"] = self.top_logprobs
        body.update(self.extra_body)
        return body

    def _post(self, client: Any, body: dict, index: int, stop: threading.Event | None = None,
              raise_fatal: bool = False) -> dict:
        """A chat request with retries (see :meth:`HttpRequests._post_url`)."""
        return self._post_url(client, self.url, body, index, stop, check=check_chat_answer,
                              raise_fatal=raise_fatal)

    # ------------------------------------------------------------------ one text
    def _annotate_one(self, client: Any, index: int, text: str, stop: threading.Event | None = None
                      ) -> tuple[np.ndarray | None, np.ndarray, list[str], CallCost]:
        try:
            return self._ask_fitting(client, index, text, stop)
        except _Cancelled:
            raise
        except BaseException:
            if stop is not None:
                stop.set()  # at once, before a worker picks up the next text
            raise

    def _ask_fitting(self, client: Any, index: int, text: str, stop: threading.Event | None
                     ) -> tuple[np.ndarray | None, np.ndarray, list[str], CallCost]:
        """:meth:`_ask`, with ``long_texts`` applied when the server refuses the prompt."""
        original, refused = len(text), 0
        while True:
            try:
                result = self._ask(client, index, text, stop)
            except ContextExceeded as exc:
                refused += 1
                text = self._long_text(exc, index, text, original, refused)
                if text is None:  # skipped: the annotator abstains
                    zeros = np.zeros(len(self.labels))
                    return zeros, zeros, [], CallCost(calls=1, tokens_counted=False)
                continue
            if refused:
                logger.warning("%s: text %d is longer than the server's context; its end was "
                               "cut (%d of %d characters kept)", self.name, index, len(text),
                               original)
            return result

    def _long_text(self, exc: ContextExceeded, index: int, text: str, original: int,
                   refused: int) -> str | None:
        """The text cut to fit (``"truncate"``), None (``"skip"``), or the error."""
        what = (f"{self.name}: text {index} ({original} characters, {text[:40]!r}...) is longer "
                f"than the server's context" + (f" of {exc.n_ctx} tokens" if exc.n_ctx else "")
                + (f" ({exc.n_prompt} prompt tokens)" if exc.n_prompt else ""))
        if self.long_texts == "skip":
            logger.warning("%s; it is skipped (no answer: zero probabilities and votes)", what)
            return None
        keep = 0.75
        if exc.n_ctx and exc.n_prompt:  # the tokens to drop, as a share of the prompt
            keep = min(0.9, (exc.n_ctx - self.max_tokens - 16) / exc.n_prompt)
        cut = int(len(text) * max(keep, 0.0))
        if self.long_texts == "error" or refused > _MAX_CUTS or not text:
            hint = ("; long_texts='truncate' cuts such texts to fit, 'skip' leaves them "
                    "unannotated" if self.long_texts == "error" else
                    "; even cut to nothing it does not fit: shorten the instruction or the "
                    "few-shot examples")
            raise AnnotationRequestError(f"{what}{hint} ({exc})", self.name, index, refused)
        return text[:cut]

    def _ask(self, client: Any, index: int, text: str, stop: threading.Event | None
             ) -> tuple[np.ndarray | None, np.ndarray, list[str], CallCost]:
        answers: list[str] = []
        probs, chat_tokens = None, None
        t0, usage = time.perf_counter(), CallCost(calls=1)
        # Each answer brings >= 1 choice, so at most n_votes requests.
        for _ in range(self.n_votes):
            need = self.n_votes - len(answers)
            data = self._post(client, self._body(text, need), index, stop)
            usage = usage + usage_cost(data)
            chat_tokens = chat_tokens or (usage.prompt_tokens if usage.tokens_counted else None)
            for choice in data["choices"][:need]:
                answers.append(choice["message"]["content"].strip())
                if probs is None:
                    probs = first_token_probs(choice, self.labels)
            if len(answers) >= self.n_votes:
                break
        votes = vote_distribution(answers, self.labels)
        tokenizer = self._prompt_tokenizer()
        full, spent = self._scorer.score(
            lambda body: self._post_url(client, f"{self.base_url}/completions", body, index,
                                        stop if self._scorer.method else None,
                                        raise_fatal=True),
            {"model": self.model, "logprobs": self.top_logprobs or 20, **self.extra_body},
            None if tokenizer is None else self.task.render_prompt(text, tokenizer),
            self.task.answer_prefix(tokenizer), chat_tokens)
        if full is not None:
            probs = full
        return probs, votes, answers, usage + spent + CallCost(seconds=time.perf_counter() - t0)

    def _row_result(self, probs: np.ndarray | None, votes: np.ndarray,
                    answers: list[str], cost: CallCost | None = None) -> AnnotationResult:
        """One text's ``(probs or None, votes, answers)`` and cost as a one-row result."""
        if probs is None:
            probs = np.full(len(self.labels), 1.0 / len(self.labels))
        return AnnotationResult(probs=probs[None], votes=np.asarray(votes)[None],
                                raw_answers=[answers], costs=None if cost is None else [cost])


