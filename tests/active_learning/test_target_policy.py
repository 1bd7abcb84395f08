"""The target policy: which rows are weighed, a person's answer as gold, the fit arguments
a classifier takes."""
import logging

import numpy as np
from sklearn.dummy import DummyClassifier

from skmollal.active_learning.state import LoopState
from skmollal.active_learning.target_policy import TargetPolicy
from skmollal.testing.pool import SpyClassifier


def annotated_state():
    state = LoopState(n_rows=6, n_llms=2, n_classes=3, seed_idx=[0], seed_y=[2])
    S = np.zeros((5, 2, 2, 3))
    S[..., 0] = 1.0  # every LLM says class 0 with certainty: classes 1, 2 are negative
    state.record_signals([0, 1, 2, 3, 4], S)
    return state


def test_rows_to_weigh_by_mode():
    state = annotated_state()
    state.set_weights([1], [0.5])
    pool = np.array([1, 2, 3])
    assert TargetPolicy().rows_to_weigh(state, [2, 3], pool) == []  # no discrepancy: none
    assert TargetPolicy(discrepancy="reference").rows_to_weigh(state, [1, 2], pool) == [2]
    assert TargetPolicy(discrepancy="reference", discrepancy_update="round").rows_to_weigh(
        state, [2], pool) == [1, 2, 3]


def test_a_persons_answer_is_gold_in_the_targets():
    state = annotated_state()
    state.record_review([2], [1], round_=1)
    policy = TargetPolicy(discrepancy="reference", nl_threshold=0.001)
    state.set_weights([1, 2], [0.5, 0.5])
    proba = np.tile([1.0, 0.0, 0.0], (2, 1))
    t = policy.targets(state, np.array([1, 2]), proba, SpyClassifier(),
                       include_pending_review=True)
    assert t.y.tolist() == [2, 0, 1]  # seed, the mixture's label, the person's
    assert t.sample_weight.tolist() == [1.0, 0.5, 1.0]
    assert t.negative_mask[1].tolist() == [False, True, True]
    assert not t.negative_mask[2].any() and not t.negative_mask[0].any()


def test_a_classifier_without_the_argument_is_warned_about_once(caplog):
    state = annotated_state()
    policy = TargetPolicy(nl_threshold=0.001)
    t = policy.targets(state, np.array([1]), np.array([[1.0, 0, 0]]), DummyClassifier(),
                       include_pending_review=False)
    with caplog.at_level(logging.WARNING):
        assert set(policy.prepare(DummyClassifier(), t, 3, 1)) == {"sample_weight"}
        policy.prepare(DummyClassifier(), t, 3, 2)
    assert sum("does not take negative_mask" in r.message for r in caplog.records) == 1
    clf = SpyClassifier()
    assert set(policy.prepare(clf, t, 3, 1)) == {"sample_weight", "negative_mask"}
    assert clf.nl_weight == 0.4  # the reference schedule's first annotated round
