"""Exact class probabilities from a server: the log-probability of every full label name.

A chat server's first answer token tells little when class names share it (``"a person"``
/ ``"a place"``): the first-token reading of :mod:`~skmollal.annotators.server_answers`
splits its mass equally. :class:`LabelScorer` instead walks each label's tokens on the
server's text-completions endpoint (``{base_url}/completions``, which llama.cpp's
``llama-server``, llama-cpp-python's server, vLLM and OpenAI's legacy API serve): it sends
the prompt, rendered as the chat server would (:meth:`AnnotationTask.render_prompt` with a
tokenizer that has the model's chat template), followed by the part of the answer read so
far, asks for one token with ``logprobs`` (the ``top_logprobs`` most probable next tokens),
and takes the longest listed token that continues the label. The label's log-probability
is the sum over its tokens, as
:class:`~skmollal.annotators.local.TransformersAnnotator` scores it; a class's mass is the
sum over its surface forms (as given, lower case, Capitalised:
:func:`~skmollal.annotators.task.label_variants`), renormalised over the classes. Labels
that share a start share its requests (one request per distinct prefix of the answers).
A label whose next token is not among the ``top_logprobs`` listed gets no mass.

Where the walk is not possible (no tokenizer to render the prompt with; a server without a
completions endpoint or without its ``logprobs``, as Ollama's OpenAI endpoint or the
project's test server), the annotator falls back to the first-token reading and logs the
reason once (``label_scoring="auto"``); ``"full"`` makes that an error, ``"first-token"``
never asks.

Cost: about one request per distinct label prefix and text (a server's prompt cache makes
each cheap: they share the whole prompt; a paid API bills every prompt: see the ``usage``
summed per text).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .costs import CallCost
from .http_requests import AnnotationRequestError, ContextExceeded, _Fatal
from .server_answers import check_logprob, usage_cost
from .task import label_variants

__all__ = ["LabelScorer", "SCORING_MODES", "ScoringUnsupported", "next_token_logprobs"]

logger = logging.getLogger(__name__)

#: ``label_scoring`` choices of the HTTP annotator.
SCORING_MODES = ("auto", "full", "first-token")
#: Prompt tokens a rendered prompt may differ from the chat endpoint's (a BOS token, ...).
TEMPLATE_SLACK = 2


class ScoringUnsupported(Exception):
    """The server cannot score a full label; the message says why."""


def next_token_logprobs(data: Mapping[str, Any]) -> dict[str, float]:
    """``{token: logprob}`` of the first generated token of a text-completion answer.

    Reads the OpenAI legacy layout (``choices[0].logprobs.top_logprobs[0]``, a dict).

    Raises
    ------
    ScoringUnsupported
        If the answer has no such logprobs.
    ValueError
        If a logprob is not a finite number <= 0.
    """
    choices = data.get("choices") if isinstance(data, Mapping) else None
    logprobs = (choices[0].get("logprobs") if isinstance(choices, list) and choices
                and isinstance(choices[0], Mapping) else None) or {}
    top = logprobs.get("top_logprobs") if isinstance(logprobs, Mapping) else None
    if not isinstance(top, list) or not top or not isinstance(top[0], Mapping):
        raise ScoringUnsupported("the completions answer has no top_logprobs "
                                 f"({str(data)[:160]})")
    return {str(tok): check_logprob(lp, tok) for tok, lp in top[0].items()}


def walk_form(continuation: str, next_tokens: Callable[[str], dict[str, float]]) -> float:
    """The log-probability of ``continuation``: the longest listed token at each step.

    Parameters
    ----------
    continuation : str
        What follows the prompt (the answer prefix and one form of a label).
    next_tokens : callable
        ``next_tokens(read_so_far) -> {token: logprob}``.

    Returns
    -------
    float
        ``-inf`` when at some step no listed token continues it.

    Examples
    --------
    >>> table = {"": {"a": -0.5, "an": -1.0}, "an": {" ox": -0.1}, "a": {" cat": -2.0}}
    >>> walk_form("an ox", table.__getitem__)
    -1.1
    """
    read, total = "", 0.0
    while read != continuation:
        rest = continuation[len(read):]
        options = [t for t in next_tokens(read) if t and rest.startswith(t)]
        if not options:
            return -np.inf
        token = max(options, key=len)
        total += next_tokens(read)[token]
        read += token
    return total


class LabelScorer:
    """Scores every full label on a server's completions endpoint, or says why it cannot.

    Parameters
    ----------
    name : str
        The annotator's name (log messages).
    labels : sequence of str
        Class names.
    mode : {"auto", "full", "first-token"}
        ``"auto"``: full scoring where the server allows it, else the first-token reading
        (reason logged once); ``"full"``: an error where it does not; ``"first-token"``:
        never.
    case_variants : bool
        Score the lower-case and Capitalised forms too (their mass joins the class's).

    Attributes
    ----------
    method : str or None
        ``"completions"`` once a text was scored, ``"first-token"`` once fallen back,
        ``None`` before the first text.
    reason : str or None
        Why it fell back.
    """

    def __init__(self, name: str, labels: Sequence[str], mode: str = "auto",
                 case_variants: bool = True) -> None:
        if mode not in SCORING_MODES:
            raise ValueError(f"{name}: label_scoring must be one of {SCORING_MODES}, got "
                             f"{mode!r}")
        self.name = name
        self.mode = mode
        self.forms: list[tuple[str, int]] = []
        for c, label in enumerate(labels):
            for form in (label_variants(label) if case_variants else [label]):
                if all(form != f for f, _ in self.forms):
                    self.forms.append((form, c))
        self.n_classes = len(labels)
        self.method: str | None = "first-token" if mode == "first-token" else None
        self.reason: str | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def give_up(self, reason: str, level: int = logging.WARNING) -> None:
        """Fall back to the first-token reading (``"full"``: raise instead)."""
        self.reason = reason
        if self.mode == "full":
            raise ScoringUnsupported(
                f"{self.name}: label_scoring='full', but the server cannot score full labels "
                f"({reason}); label_scoring='auto' falls back to the first answer token")
        if self.method != "first-token":
            self.method = "first-token"
            logger.log(level, "%s: the server cannot score full labels (%s); class "
                       "probabilities come from the first answer token", self.name, reason)

    def score(self, post: Callable[[dict], Any], body: dict, prompt: str | None,
              lead: str = "", chat_tokens: int | None = None
              ) -> tuple[np.ndarray | None, CallCost]:
        """Class probabilities of one text (None: read the first token instead) and the
        cost of the requests made for them.

        Parameters
        ----------
        post : callable
            ``post(body) -> answer`` of the completions endpoint, with the annotator's
            retries; raises ``_Fatal`` for an answer another try would repeat. Before the
            first text is scored (:attr:`method` None) a failure means the server cannot
            (the fallback), and must not stop the other texts.
        body : dict
            Fields of every request (``model``, ``logprobs``, extra fields).
        prompt : str or None
            The text's prompt as the server's chat template renders it (None: unknown).
        lead : str, default=""
            What separates the prompt from a label (``AnnotationTask.answer_prefix``).
        chat_tokens : int, optional
            The prompt tokens the chat endpoint counted for the same text: on the first
            text, a rendered prompt more than :data:`TEMPLATE_SLACK` tokens away from it is
            not the server's chat template (a wrong ``tokenizer``), and falls back.
        """
        if self.method == "first-token":
            return None, CallCost()
        if prompt is None:
            self.give_up("no tokenizer= to render the prompt with the model's chat template "
                         "for the completions endpoint", logging.INFO)
            return None, CallCost()
        if self.method is None:
            with self._lock:  # the first text finds out; the others wait for its verdict
                if self.method is None:
                    return self._score_or_give_up(post, body, prompt, lead, chat_tokens)
        if self.method == "first-token":
            return None, CallCost()
        return self._score_or_give_up(post, body, prompt, lead)

    def _score_or_give_up(self, post, body, prompt, lead, chat_tokens=None):
        try:
            probs, cost = self._walk(post, body, prompt, lead, chat_tokens)
        except ScoringUnsupported as exc:
            self.give_up(str(exc))
            return None, getattr(exc, "cost", CallCost())
        if self.method is None:
            self.method = "completions"
            logger.info("%s: every label scored in full on the completions endpoint", self.name)
        return probs, cost

    def _walk(self, post, body, prompt, lead, chat_tokens=None
              ) -> tuple[np.ndarray | None, CallCost]:
        tables: dict[str, dict[str, float]] = {}
        cost = [CallCost()]

        def next_tokens(read: str) -> dict[str, float]:
            if read not in tables:
                try:
                    data = post({**body, "prompt": prompt + read, "max_tokens": 1,
                                 "temperature": 0.0})
                except ContextExceeded:
                    raise  # the annotator's long_texts decides
                except _Fatal as exc:  # e.g. no completions endpoint: 404
                    raise ScoringUnsupported(str(exc)[:200]) from exc
                except AnnotationRequestError as exc:  # still failing after the retries
                    if self.method is not None:
                        raise  # it worked before: a failure of this text
                    raise ScoringUnsupported(str(exc)[:200]) from exc
                spent = usage_cost(data)
                if (not read and chat_tokens and spent.tokens_counted
                        and abs(spent.prompt_tokens - chat_tokens) > TEMPLATE_SLACK):
                    exc = ScoringUnsupported(
                        f"the tokenizer's chat template gives a prompt of {spent.prompt_tokens} "
                        f"tokens, the server's chat endpoint one of {chat_tokens}: give the "
                        "tokenizer of the served model")
                    exc.cost = cost[0] + spent
                    raise exc
                cost[0] = cost[0] + spent
                tables[read] = next_token_logprobs(data)
            return tables[read]

        try:
            logprobs = np.array([walk_form(lead + form, next_tokens) for form, _ in self.forms])
        except ScoringUnsupported as exc:
            exc.cost = getattr(exc, "cost", cost[0])
            raise
        owner = np.array([c for _, c in self.forms])
        mass = np.array([np.logaddexp.reduce(logprobs[owner == c]) for c in range(self.n_classes)])
        if not np.isfinite(mass).any():
            return None, cost[0]  # no label among the listed tokens: the first-token reading
        probs = np.exp(mass - mass.max())
        return probs / probs.sum(), cost[0]

