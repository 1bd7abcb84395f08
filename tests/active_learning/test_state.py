"""The loop's state: the pending round and the weighed / first-label masks, saved and read
back in the same file format."""
import json

import numpy as np

from skmollal.active_learning.state import LoopState, PendingRound


def make_state():
    return LoopState(n_rows=6, n_llms=2, n_classes=3, seed_idx=[0, 1], seed_y=[0, 2])


def test_pending_round_round_trips_through_its_saved_form():
    pending = PendingRound(3, [4, 5], 0.25, review=[5])
    assert PendingRound.from_dict(json.loads(json.dumps(pending.to_dict()))) == pending
    assert PendingRound.from_dict(None) is None
    assert "review" not in PendingRound(1, [2]).to_dict()


def test_weights_and_first_labels_are_kept_once_and_saved(tmp_path):
    state = make_state()
    S = np.full((3, 2, 2, 3), 1 / 3)
    state.record_signals([0, 1, 4], S)
    state.set_weights([4], [0.5])
    state.set_first_labels([4], [[0.2, 0.7, 0.1]])
    state.set_first_labels([4], [[0.9, 0.05, 0.05]])  # a later round does not overwrite
    state.pending = PendingRound(1, [4, 5], 0.1)
    state.save(tmp_path)
    saved = np.load(tmp_path / "state.npz")
    assert np.isnan(saved["weights"][:2]).all() and saved["weights"][2] == 0.5  # file format
    loaded = make_state().load_into(tmp_path)
    assert loaded.weighed[4] and not loaded.weighed[0] and loaded.weights[0] == 1.0
    assert loaded.has_first_label.tolist() == [False] * 4 + [True, False]
    np.testing.assert_allclose(loaded.first_labels[4], [0.2, 0.7, 0.1])
    assert loaded.pending == PendingRound(1, [4, 5], 0.1)
    fallback = np.full((2, 3), 0.5)
    np.testing.assert_allclose(loaded.labels_at_annotation([4, 1], fallback),
                               [[0.2, 0.7, 0.1], [0.5, 0.5, 0.5]])
