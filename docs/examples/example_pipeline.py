"""Texts to labels in one scikit-learn Pipeline: an LLM panel, then the mixture model.

``LLMPanel`` is a transformer (texts -> signals array) and ``MixtureAggregator`` a
classifier on signals, so ``make_pipeline(panel, mixture)`` labels raw texts. ``y`` marks
unlabeled rows with ``-1``, as scikit-learn's ``SelfTrainingClassifier`` does: the mixture
learns how far to trust each panel member from the few gold rows, and self-trains on the
rest. Swapping the mixture for a baseline with the same API is one ``set_params`` call.
Which one wins depends on the panel: on two keyword rules and a handful of gold labels the
numbers printed here say little; the mixture-accuracy benchmark page compares them on real
LLM annotations.

The panel here is the keyword annotator of ``example_custom_annotator.py`` (so this runs in
seconds); with LLMs, only the list of annotators changes.

Run it with ``python docs/examples/example_pipeline.py``; the test suite runs
``test_pipeline``.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from example_custom_annotator import build_panel  # the keyword "LLMs"
from skmollal.aggregation import MajorityVote, MixtureAggregator
from skmollal.annotators.panel import LLMPanel
from skmollal.demo import load_demo


def main(n_gold=30):
    demo = load_demo()
    texts, test_texts, y, y_test = train_test_split(
        demo.texts, demo.target, test_size=0.3, stratify=demo.target, random_state=0
    )
    y_semi = np.full(len(y), -1)  # -1: unlabeled
    y_semi[:n_gold] = y[:n_gold]  # a few gold labels

    pipe = Pipeline([
        ("panel", LLMPanel(build_panel(demo.target_names), show_progress=False)),
        ("mixture", MixtureAggregator()),
    ])
    pipe.fit(texts, y_semi)
    soft_labels = pipe.predict_proba(test_texts)  # (n_texts, n_classes)
    accuracy = pipe.score(test_texts, y_test)
    print(f"mixture:       held-out accuracy {accuracy:.3f}")

    pipe.set_params(mixture=MajorityVote()).fit(texts, y_semi)
    vote_accuracy = pipe.score(test_texts, y_test)
    print(f"majority vote: held-out accuracy {vote_accuracy:.3f}")
    return soft_labels, accuracy, vote_accuracy


def test_pipeline():
    soft_labels, accuracy, vote_accuracy = main()
    assert soft_labels.shape[1] == 6
    assert np.allclose(soft_labels.sum(axis=1), 1.0)
    assert accuracy > 1.5 / 6 and vote_accuracy > 1.5 / 6  # clearly better than guessing


if __name__ == "__main__":
    main()
