"""The plain steps of a round: the query and its seed."""
import numpy as np

from skmollal.active_learning.learner import ActiveLearner
from skmollal.active_learning.round_steps import query_round, round_seed
from skmollal.active_learning.state import LoopState
from skmollal.testing.pool import SpyClassifier, make_pool


def fitted_learner(strategy):
    X, _, y = make_pool(40)
    learner = ActiveLearner(SpyClassifier(), query_strategy=strategy)
    learner.fit(X[:20], y[:20])
    return X, learner


def test_the_query_takes_new_rows_and_all_that_are_left():
    X, learner = fitted_learner("random")
    state = LoopState(n_rows=40, n_llms=1, n_classes=3, seed_idx=np.arange(5), seed_y=[0] * 5)
    rows, seconds = query_round(learner, X, state, 10, 0, 1)
    assert len(set(rows)) == 10 and not set(rows) & set(range(5)) and seconds >= 0
    assert rows == query_round(learner, X, state, 10, 0, 1)[0]  # seeded per round
    state.record_signals(np.arange(5, 38), np.zeros((33, 1, 2, 3)))
    assert query_round(learner, X, state, 10, 0, 2)[0] == [38, 39]  # fewer left: all
    state.record_signals([38, 39], np.zeros((2, 1, 2, 3)))
    assert query_round(learner, X, state, 10, 0, 3) == ([], 0.0)


def test_round_seeds_differ_by_round_and_draw():
    assert round_seed(0, 1) == round_seed(0, 1)
    assert len({round_seed(0, 1), round_seed(0, 2), round_seed(0, 1, 1), round_seed(1, 1)}) == 4
