"""Reading an OpenAI-compatible chat answer: its choices, first-token logprobs and usage.

* :func:`label_token_probs`: class probabilities from the first answer token's
  ``top_logprobs``: the mass of tokens that start a class name (a prefix of it, case and
  surrounding space ignored, or the whole name followed by punctuation), renormalised over
  those tokens; a token that starts several class names splits its mass between them;
* :func:`first_token_probs`: the same, from one choice of an answer;
* :func:`usage_cost`: the server's ``usage`` as a :class:`~skmollal.annotators.costs.CallCost`;
* :func:`check_chat_answer`: refuse (as retryable) an answer without choices or content.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .costs import CallCost
from .http_requests import _Retryable

__all__ = ["label_token_probs", "first_token_probs", "usage_cost", "check_chat_answer"]

#: A logprob above this (rounding aside, log p <= 0) is refused by :func:`label_token_probs`.
LOGPROB_TOL = 1e-4


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().split())


def check_logprob(logprob: Any, token: Any) -> float:
    """``logprob`` as a float, or ValueError when it is not a finite number <= 0."""
    value = float(logprob)
    if not value <= LOGPROB_TOL:  # also NaN
        raise ValueError(
            f"the server sent a logprob of {value!r} for token {token!r}; "
            "a log-probability is a finite number <= 0 (the server is broken)"
        )
    return value


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
        logprob = check_logprob(entry["logprob"], entry.get("token"))
        hits = [c for c, name in enumerate(names)
                if name.startswith(token)
                or (token.startswith(name) and not token[len(name)].isalnum())]
        for c in hits:
            mass[c] += np.exp(logprob) / len(hits)
    total = mass.sum()
    if not total > 0:
        return None
    return mass / total


def first_token_probs(choice: Mapping[str, Any], labels: Sequence[str]) -> np.ndarray | None:
    """:func:`label_token_probs` of one chat choice's first answer token (None: no logprobs)."""
    logprobs = choice.get("logprobs") or {}
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not content:
        return None
    first = content[0]
    top = list(first.get("top_logprobs") or [])
    if not top and "token" in first:
        top = [first]
    return label_token_probs(top, labels)


def check_chat_answer(data: Any) -> None:
    """Raise a retryable error when ``data`` has no choices or a choice has no content."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _Retryable(f"answer has no choices: {str(data)[:200]}")
    for choice in choices:
        content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
        if not isinstance(content, str):
            raise _Retryable(f"a choice has no message content: {str(choice)[:200]}")


def usage_cost(data: Mapping[str, Any]) -> CallCost:
    """The tokens of one answer's ``usage`` (no calls; not counted when it is missing)."""
    usage = data.get("usage") if isinstance(data, Mapping) else None
    if not isinstance(usage, Mapping) or "prompt_tokens" not in usage:
        return CallCost(tokens_counted=False)
    return CallCost(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0))
