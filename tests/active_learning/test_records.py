"""History records: what a round did, and the reporting-only monitor."""
import numpy as np

from skmollal.active_learning.records import monitor_record, round_record, seed_record
from skmollal.active_learning.state import LoopState


def test_seed_and_round_records_count_what_happened():
    state = LoopState(n_rows=5, n_llms=2, n_classes=2, seed_idx=[0, 1], seed_y=[0, 1])
    state.record_signals([0, 1], np.full((2, 2, 2, 2), 0.5))
    rec0 = seed_record(state, annotation_s=1.0, fit_s=2.0, metrics={"val_accuracy": 0.5},
                       stop={})
    assert (rec0["round"], rec0["n_labeled"], rec0["llm_calls"]) == (0, 2, 4)
    state.history.append(rec0)
    S = np.full((2, 2, 2, 2), 0.5)
    S[1, 1] = np.nan  # a cascade asked one LLM only about row 3
    state.record_signals([2, 3], S)
    state.set_weights([2], [0.5])
    rec = round_record(state, 1, queried=[2, 3], pool_rows=np.array([2, 3]),
                       pool_labels=np.array([1, 0]), seconds={"fit_s": 0.1}, metrics={},
                       stop={"stop_predictions": [0]})
    assert rec["n_labeled"] == 4 and rec["n_annotated"] == 2
    assert rec["llm_calls_round"] == 3 and rec["n_downweighted"] == 1
    assert rec["pool_labels"] == [1, 0] and rec["stop_predictions"] == [0]


def test_monitor_never_counts_the_training_label_as_negative():
    proba = np.array([[0.9, 0.1, 0.0], [0.2, 0.0, 0.8]])
    negative = np.array([[True, False, True], [False, True, False]])
    out = monitor_record(proba, np.array([0, 1]), negative)
    assert out["mixture_label_accuracy"] == 0.5
    assert negative[0, 0]  # the caller's mask is not changed
