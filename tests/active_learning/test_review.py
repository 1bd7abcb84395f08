"""Human review: a person answers the rows the panel disputes most (MoLLIALoop ``oracle=``,
CsvReviewOracle, the command line's ``--review`` pause and resume)."""
import csv
import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from skmollal import cli
from skmollal.active_learning import (CsvReviewOracle, MoLLIALoop, ReviewPending,
                                      least_confident_rows, panel_split_rows,
                                      select_review_rows)
from skmollal.active_learning.review import panel_answers, review_info

from test_cli import _write_csv, fake_annotators
from skmollal.testing.pool import LABELS, SpyClassifier, make_pool, counting_panel as panel, seed_y


class SpyMixture(ClassifierMixin, BaseEstimator):
    """Mean LLM probability; records the labels it was fitted with."""

    def fit(self, S, y):
        self.classes_ = np.arange(S.shape[-1])
        self.y_fit_ = np.asarray(y)
        return self

    def predict_proba(self, S):
        p = S[:, :, 0].mean(axis=1)
        return p / p.sum(1, keepdims=True)


class GoldOracle:
    """A simulated person: answers with the hidden gold; records what it was asked."""

    def __init__(self, y, skip=()):
        self.y, self.skip = np.asarray(y), set(skip)
        self.asked = []

    def __call__(self, texts, rows, info):
        self.asked.append((list(texts), np.asarray(rows), info))
        return np.array([-1 if r in self.skip else self.y[r] for r in rows])


def make_loop(pool, oracle, p=None, output_dir=None, **kw):
    X, texts, y = pool
    return MoLLIALoop(SpyClassifier(), panel() if p is None else p, X, seed_y(y),
                      texts=texts, mixture=SpyMixture(), batch_size=10, random_state=0,
                      oracle=oracle, output_dir=output_dir, **kw)


@pytest.fixture
def pool():
    return make_pool()


# ----------------------------------------------------------------------- selection
def test_least_confident_and_panel_split_pick_the_disputed_rows():
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.7, 0.3], [0.6, 0.4]])
    assert least_confident_rows(proba, 2).tolist() == [1, 3]
    agree = np.tile(np.eye(3)[0], (5, 2, 1))  # 5 LLMs all say class 0
    split = agree.copy()
    split[2:, :] = np.eye(3)[1]  # 2 say 0, 3 say 1
    three = agree.copy()
    three[2:4, :], three[4, :] = np.eye(3)[1], np.eye(3)[2]
    S = np.stack([agree, split, three])
    assert panel_split_rows(S, 2).tolist() == [2, 1]
    assert panel_answers(S)[1].tolist() == [0, 0, 1, 1, 1]
    S_nan = S.copy()
    S_nan[0, 1:] = np.nan  # a cascade asked one LLM only
    assert panel_answers(S_nan)[0].tolist() == [0, -1, -1, -1, -1]
    picks = select_review_rows("random", proba, S, 2, random_state=0)
    assert len(set(picks.tolist())) == 2
    assert select_review_rows("least_confident", proba, S, 10).tolist() == [1, 3, 2, 0]
    with pytest.raises(ValueError, match="review_strategy"):
        select_review_rows("hardest", proba, S, 2)


# ----------------------------------------------------------------------- the loop
def test_reviewed_rows_become_gold_for_the_mixture_and_the_classifier(pool):
    X, texts, y = pool
    oracle = GoldOracle(y)
    loop = make_loop(pool, oracle, review_size=3, y_monitor=y)
    hist = loop.run(3)
    assert [h["n_reviewed"] for h in hist[1:]] == [3, 3, 3]
    assert [h["n_gold"] for h in hist] == [15, 18, 21, 24]
    asked = np.concatenate([rows for _, rows, _ in oracle.asked])
    assert len(set(asked.tolist())) == 9  # never asked twice
    assert not set(asked.tolist()) & set(loop.seed_idx.tolist())
    assert set(asked.tolist()) <= set(loop.state.pool_rows().tolist())  # annotated rows only
    texts_asked, rows, info = oracle.asked[0]
    assert texts_asked == [texts[i] for i in rows]
    assert info.answers.shape == (3, 3) and info.labels == LABELS and info.round == 1
    # least confident: the fused confidence of the asked rows is the lowest of the round
    assert info.confidence.max() <= np.sort(
        loop.mixture_.predict_proba(loop.signals[loop.state.pool_rows()[:10]]).max(1))[2] + 1e-9
    # the last mixture was fitted with seed + every answer as gold
    y_fit = loop.mixture_.y_fit_
    assert (y_fit >= 0).sum() == 24
    np.testing.assert_array_equal(loop.state.partial_labels()[asked], y[asked])
    # the classifier trained on the person's labels with weight 1
    call = loop.estimator_.calls_[-1]
    train = loop.training_rows()
    at = np.flatnonzero(np.isin(train, asked))
    np.testing.assert_array_equal(call["y"][at], y[train[at]])
    np.testing.assert_array_equal(call["sample_weight"][at], 1.0)


def test_reviewed_rows_get_no_negative_labels(pool):
    """A person's answer is gold: the LLMs' negative labels (which may rule out the true
    class) are not used on it, as on the seed."""
    X, texts, y = pool
    oracle = GoldOracle(y)
    loop = make_loop(pool, oracle, review_size=3, nl_threshold=0.4)
    loop.run(2)
    call = loop.estimator_.calls_[-1]
    train = loop.training_rows()
    asked = np.concatenate([rows for _, rows, _ in oracle.asked])
    reviewed = np.isin(train, asked)
    pool_rows = np.isin(train, loop.state.pool_rows()) & ~reviewed
    assert call["negative_mask"][pool_rows].any()  # the threshold does make negatives
    assert not call["negative_mask"][reviewed].any()


def test_skipped_rows_are_not_gold_and_not_asked_again(pool):
    X, texts, y = pool
    first = GoldOracle(y)
    make_loop(pool, first, review_size=2).run(1)
    skip = set(first.asked[0][1].tolist())
    oracle = GoldOracle(y, skip=skip)
    loop = make_loop(pool, oracle, review_size=2)
    hist = loop.run(2)
    assert [h["n_gold"] for h in hist] == [15, 15, 17]
    asked = np.concatenate([rows for _, rows, _ in oracle.asked]).tolist()
    assert len(asked) == len(set(asked)) == 4


def test_no_review_changes_nothing(pool):
    X, texts, y = pool
    plain = make_loop(pool, None).run(2)
    again = make_loop(pool, GoldOracle(y), review_size=0).run(2)
    assert [h["pool_labels"] for h in plain] == [h["pool_labels"] for h in again]
    assert "review" not in make_loop(pool, None).fingerprint
    assert make_loop(pool, GoldOracle(y), review_size=2).fingerprint["review"] == {
        "size": 2, "strategy": "least_confident"}


def test_a_paused_review_resumes_without_paying_twice(pool, tmp_path):
    X, texts, y = pool
    straight = make_loop(pool, GoldOracle(y), review_size=3)
    straight.run(2)

    class Away:
        """The person is away: the run pauses in round 2."""

        def __init__(self):
            self.rows = None

        def __call__(self, texts, rows, info):
            if info.round == 2:
                self.rows = rows
                raise ReviewPending("later")
            return y[rows]

    away = Away()
    p = panel()
    with pytest.raises(ReviewPending):
        make_loop(pool, away, p=p, output_dir=tmp_path, review_size=3).run(2)
    paid = sum(a.calls for a in p)
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["pending"]["review"] == away.rows.tolist()
    p2 = panel()
    oracle = GoldOracle(y)
    resumed = MoLLIALoop.resume(tmp_path, SpyClassifier(), p2, X, seed_y(y), texts=texts,
                                mixture=SpyMixture(), batch_size=10, random_state=0,
                                oracle=oracle, review_size=3)
    hist = resumed.run(2)
    assert sum(a.calls for a in p2) == 0 and paid == (15 + 20) * 3  # no LLM call repeated
    assert len(oracle.asked) == 1 and oracle.asked[0][1].tolist() == away.rows.tolist()
    # the same decisions as the run that was never paused
    assert [h["pool_labels"] for h in hist] == [h["pool_labels"] for h in straight.history]
    assert [h["n_gold"] for h in hist] == [h["n_gold"] for h in straight.history]
    np.testing.assert_array_equal(resumed.estimator_.calls_[-1]["y"],
                                  straight.estimator_.calls_[-1]["y"])
    with pytest.raises(ValueError, match="review"):  # other review settings: another run
        MoLLIALoop.resume(tmp_path, SpyClassifier(), panel(), X, seed_y(y), texts=texts,
                          mixture=SpyMixture(), batch_size=10, random_state=0,
                          oracle=oracle, review_size=4)


def test_bad_review_settings_and_answers(pool):
    X, texts, y = pool
    with pytest.raises(ValueError, match="needs an oracle"):
        make_loop(pool, None, review_size=2).run(1)
    with pytest.raises(ValueError, match="review_size"):
        make_loop(pool, GoldOracle(y), review_size=-1).run(1)
    with pytest.raises(ValueError, match="review_strategy"):
        make_loop(pool, GoldOracle(y), review_size=1, review_strategy="hard").run(1)
    with pytest.raises(ValueError, match=r"answered 7 for row \d+"):
        make_loop(pool, lambda t, rows, info: np.full(len(rows), 7), review_size=2).run(1)
    with pytest.raises(ValueError, match="one class index per row"):
        make_loop(pool, lambda t, rows, info: [0], review_size=2).run(1)


# ----------------------------------------------------------------------- the CSV oracle
def _info(rows, round_=1):
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])[: len(rows)]
    S = np.tile(np.eye(3)[None, None, None, 0], (len(rows), 2, 2, 1))
    return review_info(np.asarray(rows), proba, S, LABELS, ["a", "b"], round_)


def _fill(path, answers):
    with open(path, newline="") as fh:
        records = list(csv.DictReader(fh))
    for rec in records:
        rec["label"] = answers.get(int(rec["row"]), "")
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def test_csv_oracle_writes_pauses_and_reads_back(tmp_path):
    path = tmp_path / "review.csv"
    oracle = CsvReviewOracle(path, row_ids=[100, 101, 102, 103])
    with pytest.raises(ReviewPending, match="review.csv") as exc:
        oracle(["t two", "t three"], np.array([2, 3]), _info([2, 3]))
    assert exc.value.n_rows == 2
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["row", "text", "fused", "confidence", "llm:a", "llm:b", "label"]
    assert [r["row"] for r in rows] == ["102", "103"] and rows[0]["fused"] == "alpha"
    assert rows[1]["llm:a"] == "alpha" and rows[0]["label"] == ""
    _fill(path, {102: "beta"})
    with pytest.raises(ReviewPending, match="1 of 2"):  # one still blank
        oracle(["t two", "t three"], np.array([2, 3]), _info([2, 3]))
    _fill(path, {102: "Beta", 103: "skip"})
    answers = oracle(["t two", "t three"], np.array([2, 3]), _info([2, 3]))
    assert answers.tolist() == [1, -1]
    assert not path.exists() and (tmp_path / "review-round1.csv").exists()  # kept
    # asked again for the same round (a crash before the state was saved): the kept file
    assert oracle(["t two", "t three"], np.array([2, 3]), _info([2, 3])).tolist() == [1, -1]


def test_csv_oracle_names_the_bad_row(tmp_path):
    path = tmp_path / "review.csv"
    oracle = CsvReviewOracle(path)
    with pytest.raises(ReviewPending):
        oracle(["x", "y"], np.array([4, 5]), _info([4, 5]))
    _fill(path, {4: "alpha", 5: "delta"})
    with pytest.raises(ValueError, match=r"line 3: row 5 has the label 'delta'"):
        oracle(["x", "y"], np.array([4, 5]), _info([4, 5]))
    _fill(path, {4: "alpha", 5: "beta"})
    with open(path, "a", newline="") as fh:
        csv.writer(fh).writerow([9, "z", "alpha", 0.5, "", "", "gamma"])
    with pytest.raises(ValueError, match=r"line 4: row 9 was not asked"):
        oracle(["x", "y"], np.array([4, 5]), _info([4, 5]))


# ----------------------------------------------------------------------- the command line
def test_cli_review_round_trip(tmp_path, monkeypatch, capsys):
    made = fake_annotators(monkeypatch, noise=0.4)
    data = tmp_path / "data.csv"
    _write_csv(data)
    gold = {i: line.rsplit(",", 1)[1] for i, line in
            enumerate(data.read_text().splitlines()[1:])}
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--annotator", "x", "--annotator", "y",
            "--featurizer", "tfidf", "--classifier", "logreg", "--rounds", "2",
            "--batch", "10", "--seed-size", "12", "--test-size", "0.2", "--review", "3",
            "--output", str(out), "--no-progress"]
    review = out / "review.csv"
    reviewed = []
    for round_ in (1, 2):
        assert cli.main(argv) == cli.REVIEW_PENDING_STATUS
        printed = capsys.readouterr().out
        assert str(review) in printed and "run the same command" in printed
        with open(review, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == ["row", "text", "fused", "confidence", "llm:x", "llm:y",
                                 "label"]
        assert len(rows) == 3 and all(r["label"] == "" for r in rows)
        ids = [int(r["row"]) for r in rows]
        assert not set(ids) & set(reviewed)
        reviewed += ids
        _fill(review, {i: gold[i] for i in ids})
    assert cli.main(argv) == 0
    # every text was annotated once per LLM over all the runs: none paid twice
    assert sum(a.calls for a in made) == (12 + 2 * 10) * 2
    res = json.loads((out / "results.json").read_text())
    assert [h["n_reviewed"] for h in res["history"]] == [0, 3, 3]
    assert [h["n_gold"] for h in res["history"]] == [12, 15, 18]
    with open(out / "labels.csv", newline="") as fh:
        labels = {int(r["row"]): r for r in csv.DictReader(fh)}
    for i in reviewed:  # the reviewed rows are gold, with the person's label
        assert labels[i]["gold"] == "True" and labels[i]["label"] == gold[i]
    assert sorted(p.name for p in out.glob("review-round*.csv")) == [
        "review-round1.csv", "review-round2.csv"]
