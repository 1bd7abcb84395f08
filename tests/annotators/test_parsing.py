"""parse_label / vote_distribution on hand cases and on all real recorded answers."""
import json

import numpy as np
import pytest

from skmollal.annotators.parsing import parse_label, vote_distribution
from skmollal.datasets import KNOWN_TASKS

TREC = KNOWN_TASKS["trec"]


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("entity", ("entity",)),
        ('"Entity"', ("entity",)),
        ("  HUMAN. ", ("human",)),
        ("human, entity", ("human", "entity")),
        ("human, human (uncle duke, honey)", ("human",)),
        ("numeric (for month, date, and year)", ("numeric",)),
        ("speed (numeric)", ("numeric",)),
        ("historical event (entity)", ("entity",)),
        ('"numeric" (for the year) and "entity" (for the battle)', ("numeric", "entity")),
        ("numeric\nlocation", ("numeric", "location")),
        ("date", ("numeric",)),
        ("abbrev.", ("abbreviation",)),
        ("desc", ("description",)),
        ("I can't assist with that request.", ()),
        ("inappropriate", ()),
        ("brain", ()),
        ("", ()),
        ("name", ()),
    ],
)
def test_parse_label_cases(answer, expected):
    assert parse_label(answer, TREC) == expected


def test_synonyms_only_for_present_labels():
    assert parse_label("date", ["yes", "no"]) == ()
    assert parse_label("date", TREC, synonyms={}) == ()


def test_parse_label_bad_input():
    with pytest.raises(TypeError, match="answer must be a str"):
        parse_label(3, TREC)
    with pytest.raises(ValueError, match="labels is empty"):
        parse_label("x", [])


def test_vote_distribution_splits_and_abstains():
    votes = vote_distribution(["human", "human, entity", "sorry, I cannot", "entity"], TREC)
    expected = np.zeros(6)
    expected[TREC.index("human")] = 1.5 / 4
    expected[TREC.index("entity")] = 1.5 / 4
    np.testing.assert_allclose(votes, expected)
    assert vote_distribution([], TREC).sum() == 0


#: Measured on all 272,600 recorded TREC answers (5 LLMs x 5,452 questions x 10 answers):
#: exact match maps 96.78%, parse_label 99.95%. The test fails if the parser gets worse.
MIN_MAPPED_SHARE = 0.9990


@pytest.mark.recordings
def test_parser_coverage_on_all_recorded_answers(recordings_dir):
    n = mapped = exact = 0
    for path in sorted(recordings_dir.glob("trec_*.json")):
        with open(path) as fh:
            for line in fh:
                for answer in json.loads(line)["llm_label"]:
                    n += 1
                    mapped += bool(parse_label(answer, TREC))
                    exact += answer.strip() in TREC
    assert n == 272_600
    assert exact / n < 0.97  # the baseline this parser must beat
    assert mapped / n >= MIN_MAPPED_SHARE


@pytest.mark.recordings
def test_parsed_votes_agree_with_gold_better_than_exact_match(recordings_dir):
    """Mapping more answers must not map them wrongly: majority vote gets more accurate."""
    from skmollal.datasets import load_recordings

    rec = load_recordings(recordings_dir, "trec")
    parsed = rec.signals[:, :, 1].sum(axis=1)
    exact = np.zeros_like(parsed)
    for i, per_llm in enumerate(rec.raw_answers):
        for answers in per_llm:
            for a in answers:
                if a.strip() in TREC:
                    exact[i, TREC.index(a.strip())] += 1
    acc_parsed = (parsed.argmax(1) == rec.target).mean()
    acc_exact = (exact.argmax(1) == rec.target).mean()
    assert acc_parsed > acc_exact
