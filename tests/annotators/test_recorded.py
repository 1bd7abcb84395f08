import numpy as np
import pytest
from sklearn.utils import Bunch

from skmollal.annotators import Annotator, RecordedAnnotator


@pytest.fixture
def rec():
    signals = np.zeros((3, 2, 2, 2))
    signals[:, 0, 0] = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]
    signals[:, 1, 1] = [[1, 0], [0, 1], [0.4, 0.0]]
    return Bunch(texts=["a", "b", "c"], target=np.array([0, 1, 0]), target_names=["n", "p"],
                 annotator_names=["m1", "m2"], signals=signals,
                 raw_answers=[[["n"], ["n"]], [["p"], ["p"]], [["n"], ["x"]]])


def test_replays_by_text_not_position(rec):
    ann = RecordedAnnotator(rec, "m1")
    assert isinstance(ann, Annotator)
    out = ann.annotate(["c", "a"])
    np.testing.assert_array_equal(out.probs, [[0.5, 0.5], [0.9, 0.1]])
    assert out.raw_answers == [["n"], ["n"]]
    assert ann.calls == 2
    second = RecordedAnnotator(rec, 1).annotate(["c"])
    np.testing.assert_array_equal(second.votes, [[0.4, 0.0]])
    assert RecordedAnnotator(rec, 0).identity() != RecordedAnnotator(rec, 1).identity()


def test_errors(rec):
    ann = RecordedAnnotator(rec, "m1")
    with pytest.raises(KeyError, match=r"m1: text 1 was not recorded: 'zzz'"):
        ann.annotate(["a", "zzz"])
    with pytest.raises(TypeError, match="text 0 is a int"):
        ann.annotate([5])
    with pytest.raises(ValueError, match="unknown annotator"):
        RecordedAnnotator(rec, "m9")
    with pytest.raises(ValueError, match="texts is empty"):
        ann.annotate([])
    rec.texts = None
    with pytest.raises(ValueError, match="hold no texts"):
        RecordedAnnotator(rec, 0)
