"""Human review: a person answers the texts the LLM panel disputes most.

With ``review_size=N``, each round of :class:`~skmollal.active_learning.MoLLIAClassifier`
sends the N annotated texts with the lowest fused confidence (``review_strategy``:
``"least_confident"``, ``"panel_split"`` or ``"random"``) to ``oracle``, a callable
``oracle(texts, rows, info)`` that returns one class index per text, ``-1`` to skip one.
Its answers are gold from then on: the mixture model is refitted with them and the
classifier trains on them with weight 1.

Here the person is simulated: ``ask_person`` looks the answer up in the demo set's gold
labels; a real one would show ``texts`` (and the panel's answers in ``info``) in a labeling
tool or at a prompt. The LLM panel is the keyword annotator of
``example_custom_annotator.py``, so this runs in seconds.

Run it with ``python docs/examples/example_human_review.py``; the test suite runs
``test_human_review``.
"""
from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from example_custom_annotator import build_panel  # the keyword "LLMs"
from skmollal.active_learning import MoLLIAClassifier
from skmollal.demo import load_demo


class Person:
    """A stand-in for a person: answers from the gold labels, and keeps what it was asked."""

    def __init__(self, gold, labels):
        self.gold, self.labels = gold, labels
        self.asked = []

    def __call__(self, texts, rows, info):
        # info holds what the panel said: info.fused / info.confidence (the mixture),
        # info.answers (each LLM's class per text) and info.labels (the class names)
        for text, fused, confidence in zip(texts, info.fused, info.confidence):
            print(f"  review: {text[:50]!r:<54} panel says {info.labels[fused]} "
                  f"({confidence:.2f})")
        self.asked.extend(int(r) for r in rows)
        return self.gold[rows]  # class indices; -1 would skip a text


def main(review_size=3, n_seed=12, n_rounds=3):
    demo = load_demo()
    texts, test_texts, y, y_test = train_test_split(
        demo.texts, demo.target, test_size=0.25, stratify=demo.target, random_state=0
    )
    y_seed = np.full(len(y), -1)
    y_seed[:n_seed] = y[:n_seed]  # the gold seed; -1 = unlabeled pool
    person = Person(np.asarray(y), demo.target_names)
    clf = MoLLIAClassifier(
        panel=build_panel(demo.target_names),
        featurizer=TfidfVectorizer(),
        estimator=make_pipeline(LogisticRegression(max_iter=1000)),
        n_rounds=n_rounds,
        batch_size=15,
        discrepancy=None,  # a plain classifier: no weights, no negative labels
        nl_threshold=None,
        oracle=person,
        review_size=review_size,  # texts per round for the person
        review_strategy="least_confident",
        random_state=0,
    )
    clf.fit(texts, y_seed)
    for record in clf.history_:
        print(f"round {record['round']}: {record['n_labeled']} labeled, "
              f"{record['n_gold']} gold ({record['n_reviewed']} reviewed this round)")
    accuracy = clf.score(test_texts, y_test)
    print(f"held-out accuracy {accuracy:.3f}")
    return clf, person, accuracy


def test_human_review():
    clf, person, accuracy = main()
    assert [h["n_reviewed"] for h in clf.history_] == [0, 3, 3, 3]
    assert [h["n_gold"] for h in clf.history_] == [12, 15, 18, 21]
    assert len(set(person.asked)) == 9  # no text is asked twice
    assert not set(person.asked) & set(range(12))  # never a seed row
    assert accuracy > 1.5 / 6  # six classes: clearly better than guessing


if __name__ == "__main__":
    main()
