"""One HTTP backend's requests: deadline, retries, cancellation and their errors.

:class:`HttpRequests` is what :class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator`
inherits to POST JSON to a server: every request has a deadline (``timeout``, checked as
bytes arrive, so a server that trickles its answer fails too); connection errors, timeouts,
HTTP 5xx / 429 and malformed answers are retried with exponential backoff (``backoff``,
doubled per try, with jitter, at most 20 s; a ``Retry-After`` header is honoured up to 60 s);
other 4xx answers are not. A server that refuses a prompt longer than its context raises
:class:`ContextExceeded` (with the server's token counts where it says them), so the
annotator can apply its ``long_texts`` choice. A text that still fails raises
:class:`AnnotationRequestError` naming the annotator, the text index and the cause; once
one text has failed (``stop`` set) nothing more is sent.
"""
from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from typing import Any, Callable

__all__ = ["AnnotationRequestError", "ContextExceeded", "HttpRequests"]

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
        self.partial: Any = None

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


class ContextExceeded(_Fatal):
    """The server refused the prompt: longer than its context (HTTP 400 / 413).

    Attributes
    ----------
    n_ctx, n_prompt : int or None
        The server's context and the prompt's tokens, when its message says them.
    """

    def __init__(self, cause: str, n_ctx: int | None, n_prompt: int | None) -> None:
        super().__init__(cause)
        self.n_ctx = n_ctx
        self.n_prompt = n_prompt


class _Cancelled(Exception):
    """Another text of the same call failed: stop sending."""


#: What servers say when a prompt does not fit (vLLM, llama.cpp's servers, OpenAI, ...).
_CONTEXT_WORDS = re.compile(r"context length|context window|context size|context_length"
                            r"|exceed_context|too many tokens|prompt is too long", re.I)
_N_CTX = (re.compile(r"maximum context length is (\d+)", re.I),
          re.compile(r"context window of (\d+)", re.I),
          re.compile(r'"n_ctx"\s*:\s*(\d+)'))
_N_PROMPT = (re.compile(r"(\d+) in (?:the messages|your prompt|the prompt)", re.I),
             re.compile(r"Requested tokens \((\d+)\)", re.I),
             re.compile(r'"n_prompt_tokens"\s*:\s*(\d+)'))


def _first_int(patterns: tuple, text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def context_error(status: int, text: str) -> ContextExceeded | None:
    """A :class:`ContextExceeded` when a 4xx answer says the prompt is too long, else None.

    Examples
    --------
    >>> e = context_error(400, "This model's maximum context length is 2048 tokens. However, "
    ...                   "you requested 2100 tokens (2092 in the messages, 8 in the completion)")
    >>> e.n_ctx, e.n_prompt
    (2048, 2092)
    """
    if status not in (400, 413, 422) or not _CONTEXT_WORDS.search(text):
        return None
    return ContextExceeded(f"HTTP {status}: {text[:300]}", _first_int(_N_CTX, text),
                           _first_int(_N_PROMPT, text))


class HttpRequests:
    """POST JSON with a deadline and retries (mixed into an HTTP annotator).

    The annotator provides ``name``, ``api_key``, ``timeout``, ``max_retries``,
    ``backoff``, ``n_requests_`` and ``_count_lock``.
    """

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _read_within_deadline(self, client: Any, url: str, body: dict) -> tuple[int, Any, bytes]:
        """POST ``body``; return status, headers and the whole body, within ``timeout`` s.

        httpx's timeouts bound each network operation; a server that trickles a byte now
        and then never trips them. The body is therefore read in chunks and the request
        abandoned once ``timeout`` seconds have passed since it was sent.
        """
        deadline = time.monotonic() + self.timeout
        with client.stream("POST", url, json=body, headers=self._headers()) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _Retryable(
                        f"no complete answer within the {self.timeout:g} s deadline (the "
                        f"server had sent {sum(map(len, chunks))} bytes)"
                    )
            return response.status_code, response.headers, b"".join(chunks)

    def _post_json(self, client: Any, url: str, body: dict,
                   check: Callable[[Any], None] | None = None) -> Any:
        """One POST: the parsed JSON answer, or _Retryable / _Fatal / ContextExceeded."""
        import httpx

        with self._count_lock:
            self.n_requests_ += 1
        try:
            status, headers, content = self._read_within_deadline(client, url, body)
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
            raise context_error(status, text) or _Fatal(f"HTTP {status} (not retried): "
                                                        f"{text[:300]}")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _Retryable(f"malformed JSON in the answer: {text[:120]!r}") from exc
        if check is not None:
            check(data)
        return data

    def _post_url(self, client: Any, url: str, body: dict, index: int,
                  stop: threading.Event | None = None,
                  check: Callable[[Any], None] | None = None, raise_fatal: bool = False) -> Any:
        """POST with retries; raise AnnotationRequestError naming the text index.

        :class:`ContextExceeded` is raised as it is (the caller applies ``long_texts``), and
        so is any other non-retryable answer with ``raise_fatal`` (a probe of what the
        server allows: its refusal is an answer, not a failure of the text).
        """
        attempts = 0
        while True:
            if stop is not None and stop.is_set():
                raise _Cancelled()
            attempts += 1
            try:
                return self._post_json(client, url, body, check)
            except ContextExceeded:
                raise
            except _Fatal as exc:
                if raise_fatal:
                    raise
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
            f"{self.name}: text {index} failed after {attempts} request(s) to {url}: {cause}",
            self.name, index, attempts,
        )
