"""Map free-text LLM answers to class labels.

Instruction LLMs asked for "only the category name" still answer ``"Entity"``,
``human, location``, ``numeric (for the year)``, ``date`` or ``I cannot answer that``.
:func:`parse_label` turns one such answer into the classes it names (several classes split
the vote; none means the answer abstains), and :func:`vote_distribution` turns ``k`` sampled
answers into a vote share per class.

Rules, applied in order to each comma/newline/"and"/"or"/slash separated part of an answer:

1. lower-case, strip quotes, brackets and punctuation; a refusal phrase makes the whole answer
   abstain;
2. the part, with any parenthesised remark removed, equals a class name, a synonym of one, or
   is an unambiguous prefix of a class name of at least three letters (``abbr``, ``num``);
3. otherwise a class name (or synonym) standing alone inside the parenthesised remark
   (``speed (numeric)``, ``historical event (entity)``);
4. otherwise a single class name appearing as a whole word in the part.

Anything else abstains: guessing would turn a refusal into a confident vote.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["parse_label", "vote_distribution", "TREC_SYNONYMS", "REFUSAL_PATTERNS"]

#: Synonyms for the six coarse TREC classes, learnt from what real LLMs answer. They apply
#: only when the class they point to is among the labels.
TREC_SYNONYMS: Mapping[str, str] = {
    # numeric
    "number": "numeric", "numbers": "numeric", "numerical": "numeric", "num": "numeric",
    "date": "numeric", "year": "numeric", "time": "numeric", "count": "numeric",
    "quantity": "numeric", "money": "numeric", "currency": "numeric", "price": "numeric",
    "percentage": "numeric", "percent": "numeric", "distance": "numeric", "size": "numeric",
    "speed": "numeric", "temperature": "numeric", "weight": "numeric", "period": "numeric",
    "duration": "numeric", "age": "numeric", "measurement": "numeric", "length": "numeric",
    # human
    "person": "human", "people": "human", "individual": "human", "author": "human",
    "character": "human", "group": "human", "organization": "human", "organisation": "human",
    "title": "human", "humans": "human",
    # location
    "place": "location", "country": "location", "city": "location", "state": "location",
    "mountain": "location", "region": "location", "geography": "location",
    "locations": "location",
    # description
    "definition": "description", "reason": "description", "manner": "description",
    "explanation": "description", "descriptive": "description",
    # abbreviation
    "acronym": "abbreviation", "abbr": "abbreviation", "abbrev": "abbreviation",
    "expansion": "abbreviation", "abbreviations": "abbreviation",
    # entity
    "entities": "entity", "event": "entity", "product": "entity", "animal": "entity",
    "color": "entity", "colour": "entity", "language": "entity", "food": "entity",
    "plant": "entity", "sport": "entity", "disease": "entity", "religion": "entity",
    "instrument": "entity", "vehicle": "entity", "substance": "entity", "word": "entity",
    "term": "entity", "technique": "entity", "symbol": "entity", "body": "entity",
    "creative": "entity", "historical event": "entity", "invention": "entity",
}

#: Regular expressions that mark an answer as a refusal (the answer abstains).
REFUSAL_PATTERNS: Sequence[str] = (
    r"\bi (?:cannot|can't|can not|am unable|'m unable|won't|will not)\b",
    r"\bunable to\b",
    r"\bsorry\b",
    r"\binappropriate\b",
    r"\bas an ai\b",
    r"\bnot (?:possible|able) to\b",
)

_SPLIT = re.compile(r"\s*(?:,|;|/|\||\n|&|\band\b|\bor\b|\+)\s*")
_PAREN = re.compile(r"\(([^()]*)\)")
_STRIP = re.compile(r"^[\W_]+|[\W_]+$")
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS))


def _clean(text: str) -> str:
    return _STRIP.sub("", text.strip().lower())


def _lookup(word: str, labels: Sequence[str], synonyms: Mapping[str, str]) -> str | None:
    """Class named by ``word`` alone (exact, synonym or prefix), else None."""
    word = _clean(word)
    if not word:
        return None
    lowered = {label.lower(): label for label in labels}
    if word in lowered:
        return lowered[word]
    target = synonyms.get(word)
    if target is not None and target.lower() in lowered:
        return lowered[target.lower()]
    if len(word) >= 3:
        hits = [label for low, label in lowered.items() if low.startswith(word)]
        if len(hits) == 1:
            return hits[0]
    return None


def _split_outside_parentheses(text: str) -> list[str]:
    """Split on separators that stand outside parentheses.

    ``numeric (for month, date, and year)`` stays one part.
    """
    remarks: list[str] = []

    def _hide(match: re.Match) -> str:
        remarks.append(match.group(0))
        return f"\x00{len(remarks) - 1}\x00"

    masked = _PAREN.sub(_hide, text)
    return [
        re.sub(r"\x00(\d+)\x00", lambda m: remarks[int(m.group(1))], part)
        for part in _SPLIT.split(masked)
        if part.strip()
    ]


def _parse_part(part: str, labels: Sequence[str], synonyms: Mapping[str, str]) -> str | None:
    remarks = _PAREN.findall(part)
    head = _PAREN.sub(" ", part)
    found = _lookup(head, labels, synonyms)
    if found is not None:
        return found
    for remark in remarks:
        found = _lookup(remark, labels, synonyms)
        if found is not None:
            return found
    words = set(re.findall(r"[a-z]+", head.lower()))
    named = [label for label in labels if label.lower() in words]
    if len(named) == 1:
        return named[0]
    return None


def parse_label(
    answer: str,
    labels: Sequence[str],
    synonyms: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """Return the classes a free-text answer names.

    Parameters
    ----------
    answer : str
        One answer of an LLM, as generated.
    labels : sequence of str
        The class names, as the task defines them.
    synonyms : mapping of str to str, optional
        Extra words that stand for a class (``{"date": "numeric"}``). Defaults to
        :data:`TREC_SYNONYMS`; entries whose class is not in ``labels`` are ignored. Pass
        ``{}`` to accept only class names and their prefixes.

    Returns
    -------
    tuple of str
        The distinct classes named, in order of first mention; an empty tuple when the answer
        abstains (refusal, off-list word, empty answer).

    Raises
    ------
    TypeError
        If ``answer`` is not a string.
    ValueError
        If ``labels`` is empty.

    Examples
    --------
    >>> labels = ["entity", "human", "location", "numeric"]
    >>> parse_label('"Entity"', labels)
    ('entity',)
    >>> parse_label("human, location (implied)", labels)
    ('human', 'location')
    >>> parse_label("I cannot answer that.", labels)
    ()
    """
    if not isinstance(answer, str):
        raise TypeError(f"parse_label: answer must be a str, got {type(answer).__name__}")
    if len(labels) == 0:
        raise ValueError("parse_label: labels is empty")
    if synonyms is None:
        synonyms = TREC_SYNONYMS
    text = answer.strip().lower()
    if not text or _REFUSAL.search(text):
        return ()
    whole = _lookup(text, labels, synonyms)
    if whole is not None:
        return (whole,)
    found: list[str] = []
    for part in _split_outside_parentheses(text):
        label = _parse_part(part, labels, synonyms)
        if label is not None and label not in found:
            found.append(label)
    return tuple(found)


def vote_distribution(
    answers: Iterable[str],
    labels: Sequence[str],
    synonyms: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Share of the sampled answers that votes for each class.

    Each answer carries one vote, split equally between the classes it names; abstaining
    answers carry none, so a row sums to the share of answers that did not abstain.

    Parameters
    ----------
    answers : iterable of str
        The ``k`` sampled answers for one text.
    labels : sequence of str
        The class names.
    synonyms : mapping of str to str, optional
        Passed to :func:`parse_label`.

    Returns
    -------
    ndarray of shape (n_classes,)
        Vote shares; all zeros when there are no answers or all abstain.
    """
    answers = list(answers)
    votes = np.zeros(len(labels))
    if not answers:
        return votes
    index = {label: i for i, label in enumerate(labels)}
    for answer in answers:
        named = parse_label(answer, labels, synonyms)
        for label in named:
            votes[index[label]] += 1.0 / len(named)
    return votes / len(answers)
