"""GridSearchCV over the negative-learning weight and the query strategy.

:class:`~skmollal.active_learning.MoLLIAClassifier` is a scikit-learn classifier, so its
parameters can be tuned like any other's. Tuning needs labels to score on, and MoLLIA's
premise is that gold labels are scarce, so the search is scored on a small **gold dev
set** that is kept out of the pool (those labels count towards what you paid for). The
final model is then judged on separate held-out texts that no choice has looked at.

The LLM panel here is the keyword annotator of ``example_custom_annotator.py`` (so this
runs in seconds); with real LLMs only the ``panel=`` argument changes.

Run it with ``python docs/examples/example_grid_search.py``; the test suite runs
``test_grid_search``.
"""
from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from example_custom_annotator import build_panel  # the keyword "LLMs"
from skmollal.active_learning import MoLLIAClassifier
from skmollal.demo import load_demo
from skmollal.negative_learning import NegativeLearningClassifier


def dense_float32(X):
    """TF-IDF rows as the dense float32 matrix the torch classifier takes."""
    return np.asarray(X.toarray(), dtype=np.float32)


def make_classifier(panel):
    return MoLLIAClassifier(
        panel=panel,
        featurizer=make_pipeline(TfidfVectorizer(), FunctionTransformer(dense_float32)),
        estimator=NegativeLearningClassifier(lr=0.01, max_epochs=20, random_state=0),
        n_rounds=2,
        batch_size=15,
        random_state=0,
    )


def main(n_seed=24, n_dev=30):
    demo = load_demo()
    texts, test_texts, y, y_test = train_test_split(
        demo.texts, demo.target, test_size=0.25, stratify=demo.target, random_state=0
    )
    y_seed = np.full(len(y), -1)
    y_seed[:n_seed] = y[:n_seed]  # the gold seed; -1 = unlabeled pool

    # The search: rows n_seed .. n_seed + n_dev are a gold dev set. In each candidate's
    # fit they are absent (PredefinedSplit trains on fold -1 only); they are only scored.
    dev = np.arange(n_seed, n_seed + n_dev)
    y_search = y_seed.copy()
    y_search[dev] = y[dev]
    fold = np.full(len(y), -1)
    fold[dev] = 0
    search = GridSearchCV(
        make_classifier(build_panel(demo.target_names)),
        param_grid={"nl_weight": [0.0, None], "strategy": ["random", "max_entropy"]},
        cv=PredefinedSplit(fold),
        refit=False,
    )
    search.fit(texts, y_search)
    for params, score in zip(search.cv_results_["params"],
                             search.cv_results_["mean_test_score"]):
        print(f"{params}  dev accuracy {score:.3f}")
    print("best:", search.best_params_)

    # The final model: best parameters, trained on seed + pool (dev rows left out), judged
    # on the held-out test texts.
    keep = np.setdiff1d(np.arange(len(y)), dev)
    final = make_classifier(build_panel(demo.target_names)).set_params(**search.best_params_)
    final.fit([texts[i] for i in keep], y_seed[keep])
    accuracy = final.score(test_texts, y_test)
    print(f"held-out test accuracy {accuracy:.3f}")
    return search, final, accuracy


def test_grid_search():
    search, final, accuracy = main()
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (4,) and np.all((scores >= 0) & (scores <= 1))
    assert set(search.best_params_) == {"nl_weight", "strategy"}
    assert final.n_llm_calls_ > 0
    assert accuracy > 1.5 / 6  # six classes: clearly better than guessing


if __name__ == "__main__":
    main()
