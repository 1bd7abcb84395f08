"""Exact class probabilities from a server: the log-probability of every full label name.

A chat server's first answer token tells little when class names share it (``"human
being"`` / ``"human group"``): the first-token reading of
:mod:`~skmollal.annotators.server_answers` splits its mass equally. :class:`LabelScorer`
instead asks the server, once per surface form of every label (as given, lower case,
Capitalised; see :func:`~skmollal.annotators.task.label_variants`), for a greedy answer
*forced* to be exactly that form, with ``logprobs``. The forced answer's token logprobs,
summed, are the model's log-probability of the form after the prompt (servers report the
model's own distribution, not the constrained one); a class's mass is the sum over its
forms, renormalised over the classes, as :class:`~skmollal.annotators.local.TransformersAnnotator`
scores them. How the answer is forced depends on the server (:data:`FORCING`):

``grammar``
    a GBNF grammar of the one string: llama.cpp's ``llama-server`` and llama-cpp-python's
    server (whose ``logprobs`` are a softmax of the raw logits);
``structured_outputs`` / ``guided_choice``
    vLLM's choice constraint (new and older spelling; vLLM reports raw logprobs by default).

Which way a server takes is read once, from the owner its ``GET /models`` names
(:data:`SERVER_KINDS`: ``llamacpp`` for ``llama-server``, ``me`` for llama-cpp-python,
``vllm``); a server not among them (Ollama, whose OpenAI endpoint cannot force one string;
OpenAI itself; a proxy; the project's test server) is not sent a forced request and falls
back to the first-token reading, with the reason logged once (``label_scoring="auto"``).
Each forced answer is checked: its content and its tokens must spell the form, and no two
unrelated forms may both be near-certain (what a server reporting the constrained
distribution gives); a failed check falls back too, from that text on. With
``label_scoring="full"`` a fallback is an error instead (and a server of unknown kind is
tried in every way); ``"first-token"`` never asks.

Cost: one extra request per surface form and text, each re-reading the prompt (a server's
prompt cache makes that cheap; a paid API bills it: see the ``usage`` summed per text).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .costs import CallCost
from .http_requests import ContextExceeded, _Fatal
from .server_answers import check_logprob, usage_cost
from .task import label_variants

__all__ = ["LabelScorer", "SCORING_MODES", "FORCING", "SERVER_KINDS", "ScoringUnsupported",
           "gbnf_literal"]

logger = logging.getLogger(__name__)

#: ``label_scoring`` choices of the HTTP annotator.
SCORING_MODES = ("auto", "full", "first-token")

#: Near-certain: a form this probable leaves < 0.1 to every other form.
_CERTAIN = 0.9


class ScoringUnsupported(Exception):
    """The server cannot (or did not) score a full label this way; the message says why."""


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (quotes, backslashes and line breaks escaped).

    Examples
    --------
    >>> gbnf_literal('say "hi"')
    '"say \\\\"hi\\\\""'
    """
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


#: Request fields that force the answer to be one string, per server dialect.
FORCING: dict[str, Callable[[str], dict]] = {
    "grammar": lambda form: {"grammar": f"root ::= {gbnf_literal(form)}"},
    "structured_outputs": lambda form: {"structured_outputs": {"choice": [form]}},
    "guided_choice": lambda form: {"guided_choice": [form]},
}


#: The ways of :data:`FORCING` each server takes, by the ``owned_by`` of its ``/models``.
SERVER_KINDS: dict[str, tuple[str, ...]] = {
    "llamacpp": ("grammar",),  # llama.cpp's llama-server
    "me": ("grammar",),  # llama-cpp-python's server
    "vllm": ("structured_outputs", "guided_choice"),
}


def server_owner(models: Any) -> str | None:
    """The ``owned_by`` of the first model a ``GET /models`` answer lists (None: none)."""
    data = models.get("data") if isinstance(models, Mapping) else None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        owner = data[0].get("owned_by")
        return str(owner) if owner is not None else None
    return None


def forced_logprob(data: Mapping[str, Any], form: str) -> float:
    """The log-probability of ``form`` from a forced answer (its tokens' logprobs, summed).

    Raises
    ------
    ScoringUnsupported
        If the answer is not ``form`` (the server ignored the constraint) or its logprobs
        are missing or do not spell it.
    ValueError
        If a logprob is not a finite number <= 0.
    """
    choice = (data.get("choices") or [{}])[0]
    content = (choice.get("message") or {}).get("content")
    if content != form:
        raise ScoringUnsupported(f"asked to answer {form!r}, the server answered {content!r}")
    tokens = ((choice.get("logprobs") or {}).get("content")) or []
    spelled, total = "", 0.0
    for token in tokens:
        if spelled == form:
            break  # what follows (an end-of-answer token) is not the label's
        spelled += str(token.get("token", ""))
        total += check_logprob(token.get("logprob"), token.get("token"))
    if spelled != form:
        raise ScoringUnsupported(f"the answer's logprobs spell {spelled!r}, not {form!r}"
                                 if tokens else "the answer has no logprobs")
    return total


def _prefix_related(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def check_raw(forms: Sequence[str], logprobs: np.ndarray) -> None:
    """Refuse logprobs of a constrained distribution: two unrelated near-certain forms.

    Raises
    ------
    ScoringUnsupported
    """
    sure = [f for f, lp in zip(forms, logprobs) if np.exp(lp) > _CERTAIN]
    if any(not _prefix_related(a, b) for k, a in enumerate(sure) for b in sure[k + 1:]):
        raise ScoringUnsupported(
            f"{len(sure)} label forms each got probability > {_CERTAIN} ({sure[:3]}): the "
            "server reports the constrained answer's probabilities, not the model's")


class LabelScorer:
    """Scores every full label on a server, or says (once) why it falls back.

    Parameters
    ----------
    name : str
        The annotator's name (log messages).
    labels : sequence of str
        Class names.
    mode : {"auto", "full", "first-token"}
        ``"auto"``: full scoring where the server allows it, else the first-token reading
        (reason logged); ``"full"``: an error where it does not; ``"first-token"``: never.
    case_variants : bool
        Score the lower-case and Capitalised forms too (their mass joins the class's).

    Attributes
    ----------
    method : str or None
        The key of :data:`FORCING` in use, ``"first-token"`` once fallen back, ``None``
        before the first text.
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

    def score(self, post: Callable[[dict], Any], models: Callable[[], Any], body: dict,
              max_tokens: int) -> tuple[np.ndarray | None, CallCost]:
        """Class probabilities of one text (None: read the first token instead) and the
        cost of the requests made for them.

        Parameters
        ----------
        post : callable
            ``post(body) -> answer``: one request with the annotator's retries; raises
            ``_Fatal`` for an answer another try would repeat (counted as unsupported).
        models : callable
            ``models() -> answer`` of ``GET /models`` (asked once, before the first text).
        body : dict
            The text's chat request (messages, model, extra fields).
        max_tokens : int
            At least the longest form's length in tokens.
        """
        if self.method is None:
            with self._lock:  # the first text probes; the others wait for its verdict
                if self.method is None:
                    return self._probe(post, models, body, max_tokens)
        if self.method == "first-token":
            return None, CallCost()
        return self._score_or_fall_back(self.method, post, body, max_tokens)

    def _ways(self, models: Callable[[], Any]) -> tuple[tuple[str, ...], str]:
        """The ways to try on this server, and why there are none."""
        try:
            owner = server_owner(models())
        except Exception as exc:  # noqa: BLE001 - no /models: a server of unknown kind
            owner, why = None, f"its /models did not answer ({str(exc)[:120]})"
        else:
            why = (f"its /models names the owner {owner!r}, not one known to report the "
                   f"model's own logprobs of a forced answer ({', '.join(SERVER_KINDS)})")
        ways = SERVER_KINDS.get(owner or "", ())
        if not ways and self.mode == "full":
            ways = tuple(FORCING)
        return ways, why

    def _probe(self, post, models, body, max_tokens):
        ways, why = self._ways(models)
        reasons, cost = ([] if ways else [why]), CallCost()
        for method in ways:
            try:
                probs, spent = self._score_with(method, post, body, max_tokens)
            except ScoringUnsupported as exc:
                reasons.append(f"{method}: {exc}")
                cost = cost + getattr(exc, "cost", CallCost())
                continue
            self.method = method
            logger.info("%s: every label scored in full on the server (%s)", self.name, method)
            return probs, cost + spent
        self._fall_back("; ".join(reasons))
        return None, cost

    def _score_or_fall_back(self, method, post, body, max_tokens):
        try:
            return self._score_with(method, post, body, max_tokens)
        except ScoringUnsupported as exc:
            with self._lock:
                if self.method == method:
                    self._fall_back(f"{method}: {exc}")
            return None, getattr(exc, "cost", CallCost())

    def _fall_back(self, reason: str) -> None:
        self.reason = reason
        if self.mode == "full":
            raise ScoringUnsupported(
                f"{self.name}: label_scoring='full', but the server cannot score full labels "
                f"({reason}); label_scoring='auto' falls back to the first answer token")
        self.method = "first-token"
        logger.warning("%s: the server cannot score full labels (%s); class probabilities "
                       "come from the first answer token", self.name, reason)

    def _score_with(self, method: str, post, body: dict, max_tokens: int
                    ) -> tuple[np.ndarray, CallCost]:
        cost = CallCost()
        logprobs = np.empty(len(self.forms))
        try:
            for k, (form, _) in enumerate(self.forms):
                forced = {**body, "n": 1, "temperature": 0.0, "top_p": 1.0, "logprobs": True,
                          "top_logprobs": 1, "max_tokens": max(max_tokens, len(form.encode()) + 2),
                          **FORCING[method](form)}
                try:
                    data = post(forced)
                except ContextExceeded:
                    raise  # the annotator's long_texts decides
                except _Fatal as exc:  # e.g. "unrecognized request argument"
                    raise ScoringUnsupported(str(exc)[:200]) from exc
                cost = cost + usage_cost(data)
                logprobs[k] = forced_logprob(data, form)
            check_raw([f for f, _ in self.forms], logprobs)
        except ScoringUnsupported as exc:
            exc.cost = cost
            raise
        owner = np.array([c for _, c in self.forms])
        mass = np.array([np.logaddexp.reduce(logprobs[owner == c]) for c in range(self.n_classes)])
        probs = np.exp(mass - mass.max())
        return probs / probs.sum(), cost
