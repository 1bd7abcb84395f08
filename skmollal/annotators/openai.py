"""Annotate with any OpenAI-compatible chat server: vLLM, Ollama, llama.cpp's server, ...

:class:`OpenAICompatibleAnnotator` sends each text as chat messages (rendered by the
:class:`~skmollal.annotators.task.AnnotationTask`) to ``{base_url}/chat/completions`` with
``logprobs=true``, ``top_logprobs`` and ``n`` samples, and reads

* ``probs`` from the first answer token's ``top_logprobs``: the probability mass of tokens
  that start a class name (a prefix of it, case and surrounding space ignored, or the whole
  name followed by punctuation), renormalised over those tokens; a token that starts several
  class names splits its mass between them. When no listed token starts a class name (or the
  server sends no logprobs) the row is uniform and a warning is logged;
* ``votes`` from the ``n`` sampled answers, parsed by
  :func:`~skmollal.annotators.parsing.vote_distribution`. A server that returns fewer
  choices than asked (llama.cpp returns one) is asked again until ``n_votes`` answers are in.

Connection errors, timeouts (``timeout`` is a deadline per request), HTTP 5xx / 429 and
malformed answers are retried with exponential backoff; other 4xx answers are not, nor are
answers with impossible values (a logprob above 0). A text that still fails raises
:class:`AnnotationRequestError` naming the annotator, the text index and the cause. Texts are
sent concurrently by a thread pool of ``max_concurrency`` workers; after a failure or a
Ctrl-C nothing more is sent, the texts in flight are waited for, and every answer received is
kept (:meth:`OpenAICompatibleAnnotator.iter_annotate` yields each as it arrives, which is how
a :class:`~skmollal.annotators.cache.CachedAnnotator` commits every answer at once).

(Over 400 lines: request, deadline, retry and cancellation handling of one HTTP backend,
with its error type.)
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .._validation import check_texts, warn_blank_texts
from .base import AnnotationResult
from .parsing import vote_distribution

__all__ = ["OpenAICompatibleAnnotator", "AnnotationRequestError", "label_token_probs"]

logger = logging.getLogger(__name__)


class AnnotationRequestError(RuntimeError):
    """A text could not be annotated by a server (after retries where they make sense).

    Attributes
    ----------
    annotator : str
        The annotator's name.
    index : int
        Index of the text in the ``annotate`` call.
    attempts : int
        Requests made for it.
    completed : list of int
        Indices of the texts of the same call that were annotated before the failure.
    partial : AnnotationResult or None
        Their annotations (one row per index in ``completed``), so nothing paid for is
        lost; :class:`~skmollal.annotators.cache.CachedAnnotator` stores them.
    """

    def __init__(self, message: str, annotator: str, index: int, attempts: int) -> None:
        super().__init__(message)
        self.annotator = annotator
        self.index = index
        self.text_index = index  # re-numbered by callers (see relocate_text_error)
        self.attempts = attempts
        self.completed: list[int] = []
        self.partial: AnnotationResult | None = None

    def __reduce__(self):
        return (type(self), (self.args[0], self.annotator, self.index, self.attempts),
                self.__dict__)


class _Retryable(Exception):
    """A failure worth another try (connection, timeout, 5xx, 429, malformed answer)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.retry_after = retry_after


class _Fatal(Exception):
    """A failure that another try would repeat (4xx other than 429)."""


class _Cancelled(Exception):
    """Another text of the same call failed: stop sending."""


#: A logprob above this (rounding aside, log p <= 0) is refused by :func:`label_token_probs`.
_LOGPROB_TOL = 1e-4


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().split())


def label_token_probs(top_logprobs: Sequence[Mapping[str, Any]],
                      labels: Sequence[str]) -> np.ndarray | None:
    """Class probabilities from a first-token ``top_logprobs`` list.

    Parameters
    ----------
    top_logprobs : sequence of {"token": str, "logprob": float}
        The alternatives for the first answer token.
    labels : sequence of str
        Class names.

    Returns
    -------
    ndarray of shape (n_classes,) or None
        Mass of the tokens that start each class name, renormalised to sum to 1; ``None``
        when no token starts any class name.

    Raises
    ------
    ValueError
        If a logprob is not a finite number ``<= 0`` (e.g. a broken server sends 800).

    Examples
    --------
    >>> label_token_probs([{"token": "Pos", "logprob": np.log(.5)},
    ...                    {"token": " neg", "logprob": np.log(.25)},
    ...                    {"token": "The", "logprob": np.log(.25)}], ["positive", "negative"])
    array([0.66666667, 0.33333333])
    """
    names = [_norm(label) for label in labels]
    mass = np.zeros(len(labels))
    for entry in top_logprobs:
        token = _norm(str(entry.get("token", "")))
        if not token:
            continue
        logprob = float(entry["logprob"])
        if not logprob <= _LOGPROB_TOL:  # also NaN
            raise ValueError(
                f"the server sent a logprob of {logprob!r} for token {entry.get('token')!r}; "
                "a log-probability is a finite number <= 0 (the server is broken)"
            )
        hits = [c for c, name in enumerate(names)
                if name.startswith(token)
                or (token.startswith(name) and not token[len(name)].isalnum())]
        for c in hits:
            mass[c] += np.exp(logprob) / len(hits)
    total = mass.sum()
    if not total > 0:
        return None
    return mass / total


class OpenAICompatibleAnnotator:
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

    Attributes
    ----------
    labels : tuple of str
        The task's class names.
    n_requests_ : int
        HTTP requests made so far (including retries).
    n_uniform_ : int
        Texts whose probabilities fell back to uniform (no class-name token among the
        ``top_logprobs``) in the last call.

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
                 show_progress: bool = False) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"OpenAICompatibleAnnotator: base_url must be an http(s) URL, got {base_url!r}"
            )
        if not isinstance(model, str) or not model:
            raise ValueError("OpenAICompatibleAnnotator: model must be a non-empty str")
        if not hasattr(task, "render_messages") or not hasattr(task, "labels"):
            raise TypeError(
                "OpenAICompatibleAnnotator: task must be an AnnotationTask, got "
                f"{type(task).__name__}"
            )
        for pname, value, low in (("n_votes", n_votes, 1), ("max_retries", max_retries, 0),
                                  ("max_concurrency", max_concurrency, 1),
                                  ("top_logprobs", top_logprobs, 0), ("max_tokens", max_tokens, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(
                    f"OpenAICompatibleAnnotator: {pname} must be an int >= {low}, got {value!r}"
                )
        if not timeout or timeout <= 0:
            raise ValueError(f"OpenAICompatibleAnnotator: timeout must be > 0, got {timeout!r}")
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
        self.n_requests_ = 0
        self.n_uniform_ = 0
        self._count_lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_count_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._count_lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        """The task's class names."""
        return tuple(self.task.labels)

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def identity(self) -> str:
        """Stable description for cache keys: server, model, task and sampling parameters."""
        return json.dumps({
            "backend": "openai-compatible",
            "base_url": self.base_url,
            "model": self.model,
            "task": json.loads(self.task.identity()),
            "params": {
                "n_votes": self.n_votes, "temperature": self.temperature, "top_p": self.top_p,
                "top_logprobs": self.top_logprobs, "max_tokens": self.max_tokens,
                "extra_body": self.extra_body,
            },
        }, sort_keys=True, default=str)

    def __repr__(self) -> str:
        return (f"OpenAICompatibleAnnotator(base_url={self.base_url!r}, model={self.model!r}, "
                f"name={self.name!r}, n_votes={self.n_votes})")

    # ------------------------------------------------------------------ HTTP
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

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

    def _read_within_deadline(self, client: Any, body: dict) -> tuple[int, Any, bytes]:
        """POST ``body``; return status, headers and the whole body, within ``timeout`` s.

        httpx's timeouts bound each network operation; a server that trickles a byte now
        and then never trips them. The body is therefore read in chunks and the request
        abandoned once ``timeout`` seconds have passed since it was sent.
        """
        deadline = time.monotonic() + self.timeout
        with client.stream("POST", self.url, json=body, headers=self._headers()) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _Retryable(
                        f"no complete answer within the {self.timeout:g} s deadline (the "
                        f"server had sent {sum(map(len, chunks))} bytes)"
                    )
            return response.status_code, response.headers, b"".join(chunks)

    def _post_once(self, client: Any, body: dict) -> dict:
        import httpx

        with self._count_lock:
            self.n_requests_ += 1
        try:
            status, headers, content = self._read_within_deadline(client, body)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed: {type(exc).__name__}: {exc}") from exc
        text = content.decode("utf-8", errors="replace")
        if status == 429 or status >= 500:
            retry_after = headers.get("Retry-After")
            try:
                wait_s = float(retry_after) if retry_after is not None else None
            except ValueError:
                wait_s = None
            raise _Retryable(f"HTTP {status}: {text[:200]}", wait_s)
        if status >= 400:
            raise _Fatal(f"HTTP {status} (not retried): {text[:300]}")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _Retryable(f"malformed JSON in the answer: {text[:120]!r}") from exc
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices:
            raise _Retryable(f"answer has no choices: {str(data)[:200]}")
        for choice in choices:
            content_ = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
            if not isinstance(content_, str):
                raise _Retryable(f"a choice has no message content: {str(choice)[:200]}")
        return data

    def _post(self, client: Any, body: dict, index: int, stop: threading.Event | None = None) -> dict:
        """POST with retries; raise AnnotationRequestError naming the text index."""
        attempts = 0
        while True:
            if stop is not None and stop.is_set():
                raise _Cancelled()
            attempts += 1
            try:
                return self._post_once(client, body)
            except _Fatal as exc:
                cause = str(exc)
                break
            except _Retryable as exc:
                cause = str(exc)
                if attempts > self.max_retries:
                    break
                delay = min(20.0, self.backoff * 2 ** (attempts - 1)) * (0.5 + random.random())
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, 60.0))
                logger.info("%s: text %d: %s; retrying in %.2f s", self.name, index, cause, delay)
                time.sleep(delay)
        if stop is not None:
            stop.set()  # texts not yet sent are not sent
        raise AnnotationRequestError(
            f"{self.name}: text {index} failed after {attempts} request(s) to {self.url}: {cause}",
            self.name, index, attempts,
        )

    # ------------------------------------------------------------------ one text
    def _annotate_one(self, client: Any, index: int, text: str,
                      stop: threading.Event | None = None) -> tuple[np.ndarray | None, np.ndarray, list[str]]:
        try:
            return self._ask(client, index, text, stop)
        except _Cancelled:
            raise
        except BaseException:
            if stop is not None:
                stop.set()  # at once, before a worker picks up the next text
            raise

    def _ask(self, client: Any, index: int, text: str,
             stop: threading.Event | None) -> tuple[np.ndarray | None, np.ndarray, list[str]]:
        answers: list[str] = []
        probs = None
        # Each answer brings >= 1 choice, so at most n_votes requests.
        for _ in range(self.n_votes):
            need = self.n_votes - len(answers)
            data = self._post(client, self._body(text, need), index, stop)
            for choice in data["choices"][:need]:
                answers.append(choice["message"]["content"].strip())
                if probs is None:
                    probs = self._first_token_probs(choice)
            if len(answers) >= self.n_votes:
                break
        votes = vote_distribution(answers, self.labels)
        return probs, votes, answers

    def _first_token_probs(self, choice: Mapping[str, Any]) -> np.ndarray | None:
        logprobs = choice.get("logprobs") or {}
        content = logprobs.get("content") if isinstance(logprobs, dict) else None
        if not content:
            return None
        first = content[0]
        top = list(first.get("top_logprobs") or [])
        if not top and "token" in first:
            top = [first]
        return label_token_probs(top, self.labels)

    # ------------------------------------------------------------------ public
    def annotate(self, texts: Sequence[str]) -> AnnotationResult:
        """Annotate ``texts`` through the server; one row per text, in order.

        Raises
        ------
        TypeError, ValueError
            On bad ``texts`` (the index is named).
        AnnotationRequestError
            If a text still fails after the retries (or on a non-retryable HTTP error, or an
            answer that is not valid, such as a logprob above 0); the message names the
            annotator, the text index and the cause (the lowest index when several fail).
            Texts not yet sent are not sent; texts in flight are waited for, and every text
            annotated is returned on the error as ``.partial``.
        KeyboardInterrupt
            On Ctrl-C: texts not yet sent are not sent, and the texts already annotated
            (and those in flight, unless Ctrl-C is pressed again) are on the exception as
            ``.partial`` / ``.completed``, as for a failure.
        """
        rows: dict[int, AnnotationResult] = {}
        try:
            for i, row in self.iter_annotate(texts):
                rows[i] = row
        except BaseException as exc:
            if not isinstance(exc, (AnnotationRequestError, KeyboardInterrupt)):
                raise
            done = sorted(rows)
            exc.completed = done
            exc.partial = AnnotationResult.concatenate([rows[i] for i in done]) if done else None
            if done:
                exc.add_note(
                    f"{self.name}: {len(done)} texts were annotated before the "
                    f"{'interrupt' if isinstance(exc, KeyboardInterrupt) else 'failure'}; "
                    "they are in the exception's .partial (rows for the indices in .completed)"
                )
            raise
        return AnnotationResult.concatenate([rows[i] for i in range(len(rows))])

    def iter_annotate(self, texts: Sequence[str]) -> Iterator[tuple[int, AnnotationResult]]:
        """Annotate ``texts``, yielding ``(index, one-row result)`` as each text is done.

        What :class:`~skmollal.annotators.cache.CachedAnnotator` uses to commit every answer
        to the cache the moment it arrives: a crash then loses at most the requests in
        flight (``max_concurrency``). Rows come in the order the server finishes them.

        Raises
        ------
        AnnotationRequestError
            After yielding every text annotated, as :meth:`annotate` describes.
        KeyboardInterrupt
            On Ctrl-C while waiting for the server: nothing more is sent, the texts in flight
            are waited for and yielded (a second Ctrl-C stops waiting), then it is re-raised.
        """
        import httpx

        texts = check_texts(texts, self.name)
        warn_blank_texts(texts, self.name)
        n = len(texts)
        error: AnnotationRequestError | None = None
        uniform: list[int] = []
        limits = httpx.Limits(max_connections=self.max_concurrency,
                              max_keepalive_connections=self.max_concurrency)
        bar = None
        if self.show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"{self.name}", unit="text", leave=False)
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, n),
                                  thread_name_prefix=f"skmollal-{self.name}")
        interrupted: KeyboardInterrupt | None = None
        try:
            with httpx.Client(timeout=self.timeout, limits=limits) as client:
                futures = {pool.submit(self._annotate_one, client, i, t, stop): i
                           for i, t in enumerate(texts)}
                pending = set(futures)
                while pending:
                    try:
                        # Wait for every text in flight, even after a failure, so that every
                        # answer already paid for is returned.
                        for fut in as_completed(pending):
                            pending.discard(fut)
                            i = futures[fut]
                            if fut.cancelled():
                                continue
                            exc = fut.exception()
                            if exc is None:
                                probs, votes, answers = fut.result()
                                if probs is None:
                                    uniform.append(i)
                                if bar is not None:
                                    bar.update(1)
                                yield i, self._row_result(probs, votes, answers)
                                continue
                            if isinstance(exc, _Cancelled):
                                continue
                            exc = self._as_request_error(exc, i)
                            if error is None or exc.index < error.index:
                                error = exc
                            self._cancel(stop, futures)
                    except KeyboardInterrupt as exc:
                        if interrupted is not None:
                            raise  # pressed twice: stop waiting for the texts in flight
                        interrupted = exc
                        logger.warning("%s: interrupted; sending nothing more, waiting for the "
                                       "%d texts in flight", self.name,
                                       sum(f.running() for f in pending))
                        self._cancel(stop, futures)
        finally:
            stop.set()
            pool.shutdown(wait=interrupted is None, cancel_futures=True)
            if bar is not None:
                bar.close()
            self.n_uniform_ = len(uniform)
            if uniform:
                logger.warning(
                    "%s: no class-name token among the first token's top_logprobs for %d of %d "
                    "texts (first: text %d); their probabilities are uniform",
                    self.name, len(uniform), n, min(uniform),
                )
        if interrupted is not None:
            raise interrupted
        if error is not None:
            raise error

    @staticmethod
    def _cancel(stop: threading.Event, futures: Mapping[Any, int]) -> None:
        """Send nothing more: texts not started are cancelled, running ones stop retrying."""
        stop.set()
        for other in futures:
            other.cancel()

    def _as_request_error(self, exc: BaseException, index: int) -> AnnotationRequestError:
        if isinstance(exc, AnnotationRequestError):
            return exc
        wrapped = AnnotationRequestError(
            f"{self.name}: text {index} failed: {type(exc).__name__}: {exc}", self.name, index, 0,
        )
        wrapped.__cause__ = exc
        return wrapped

    def _row_result(self, probs: np.ndarray | None, votes: np.ndarray,
                    answers: list[str]) -> AnnotationResult:
        """One text's ``(probs or None, votes, answers)`` as a one-row result."""
        if probs is None:
            probs = np.full(len(self.labels), 1.0 / len(self.labels))
        return AnnotationResult(probs=probs[None], votes=np.asarray(votes)[None],
                                raw_answers=[answers])
