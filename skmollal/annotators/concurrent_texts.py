"""Texts in flight at once: a thread pool that sends nothing more after a failure or Ctrl-C.

:class:`ConcurrentTexts` is mixed into an HTTP annotator
(:class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator`), which provides
``_annotate_one(client, index, text, stop) -> (probs or None, votes, answers, cost)``,
``_row_result`` and ``name``, ``max_concurrency``, ``timeout``, ``show_progress``. Texts are
sent by ``max_concurrency`` workers; after a failure or a Ctrl-C nothing more is sent, the
texts in flight are waited for, and every answer received is kept:
:meth:`~ConcurrentTexts.iter_annotate` yields each as it arrives (which is how a
:class:`~skmollal.annotators.cache.CachedAnnotator` commits every answer at once) and
:meth:`~ConcurrentTexts.annotate` puts them on the exception as ``.partial``.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Iterator, Mapping, Sequence

from .._validation import check_texts, warn_blank_texts
from .base import AnnotationResult
from .http_requests import AnnotationRequestError, _Cancelled

__all__ = ["ConcurrentTexts"]

logger = logging.getLogger(__name__)


class ConcurrentTexts:
    """``annotate`` / ``iter_annotate`` over a thread pool of ``max_concurrency`` workers."""

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
                                probs, votes, answers, cost = fut.result()
                                if probs is None:
                                    uniform.append(i)
                                if bar is not None:
                                    bar.update(1)
                                yield i, self._row_result(probs, votes, answers, cost)
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
