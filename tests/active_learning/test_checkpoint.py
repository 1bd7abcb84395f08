"""The checkpoint: one writer per folder, a fresh run never overwrites a saved one, a resume
checks the fingerprint."""
import pytest

from skmollal.active_learning.checkpoint import Checkpoint, FolderBusyError
from skmollal.active_learning.state import LoopState


def state(fingerprint):
    s = LoopState(n_rows=4, n_llms=1, n_classes=2, seed_idx=[0], seed_y=[1])
    s.fingerprint = fingerprint
    return s


def test_a_second_writer_is_refused_until_the_first_releases(tmp_path):
    first, second = Checkpoint(tmp_path), Checkpoint(tmp_path)
    first.lock()
    with pytest.raises(FolderBusyError, match="another run"):
        second.lock()
    first.release()
    second.lock()
    second.release()


def test_a_saved_run_is_refused_to_a_fresh_one_and_resumed_by_its_own(tmp_path):
    Checkpoint(tmp_path).save(state({"batch_size": 5}))
    fresh = Checkpoint(tmp_path)
    with pytest.raises(FileExistsError, match="holds a saved MoLLIA run"):
        fresh.refuse_existing()
    with pytest.raises(ValueError, match="differs in: batch_size"):
        fresh.load_into(state({"batch_size": 6}))
    own = Checkpoint(tmp_path)
    own.load_into(state({"batch_size": 5}))
    own.refuse_existing()  # the saved run is this one


def test_no_folder_saves_nothing(tmp_path):
    cp = Checkpoint(None)
    cp.lock()
    cp.save(state({}))
    assert not cp.holds_run
    with pytest.raises(FileNotFoundError):
        Checkpoint(tmp_path / "empty").load_into(state({}))
