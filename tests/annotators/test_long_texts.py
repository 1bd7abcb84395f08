"""Long and odd texts in a whole run (issue 12, section 5).

One 50k-character text at row 20 of a pool must not make a run impossible: by default it is
truncated (with a warning); with ``long_texts="error"`` the error names row 20, not its
index inside a chunk or a cache batch.
"""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skmollal.active_learning import MoLLIALoop
from skmollal.annotators.local import TransformersAnnotator
from skmollal.annotators.panel import LLMPanel
from skmollal.annotators.task import AnnotationTask
from tiny_models import tiny_llama

LABELS = ["human", "location"]
LONG_ROW = 20


@pytest.fixture(scope="module")
def tiny():
    model, tok = tiny_llama(seed=0)
    model.config.max_position_embeddings = 256
    return model, tok


def pool(n=40):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    texts = [f"Who is person {i}?" if c == 0 else f"Where is place {i}?"
             for i, c in enumerate(y)]
    texts[LONG_ROW] = "Who " + "is a very long question " * 2100  # ~50k characters
    X = rng.normal(size=(n, 2)) + 2.0 * np.eye(2)[y]
    seed = np.full(n, -1)
    seed[:6] = y[:6]
    seed[[0, 1]] = [0, 1]
    return X, texts, seed


def loop(tiny, tmp_path, long_texts, cache=True, texts=None, **kw):
    model, tok = tiny
    ann = TransformersAnnotator(model, AnnotationTask(LABELS), tokenizer=tok, name="tiny",
                                random_state=0, long_texts=long_texts, batch_size=4)
    panel = LLMPanel([ann], cache=tmp_path / "c.sqlite" if cache else None, batch_size=5,
                     show_progress=False)
    X, pool_texts, y = pool()
    texts = pool_texts if texts is None else texts
    return MoLLIALoop(LogisticRegression(), panel, X, y, texts=texts, batch_size=40,
                      annotate_chunk=16, random_state=0, **kw)


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "uncached"])
def test_a_long_text_error_names_its_true_row(tiny, tmp_path, cache):
    with pytest.raises(ValueError, match="longer than the model's context") as info:
        loop(tiny, tmp_path, "error", cache=cache).run(1)
    assert info.value.text_index == LONG_ROW
    assert any(f"row {LONG_ROW}" in note for note in info.value.__notes__)


def test_a_long_text_is_truncated_and_the_run_finishes(tiny, tmp_path, caplog):
    with caplog.at_level("WARNING"):
        hist = loop(tiny, tmp_path, "truncate").run(1)
    assert hist[-1]["n_labeled"] == 40
    assert "cut to fit" in caplog.text


def test_odd_texts_are_named_before_any_llm_call(tiny, tmp_path, caplog):
    _, texts, _ = pool()
    texts[7] = "bad \ud800 surrogate"
    with pytest.raises(ValueError, match=r"MoLLIALoop: text 7 is not valid Unicode"):
        loop(tiny, tmp_path, "truncate", texts=texts).run(1)
    texts[7], texts[9] = "   ", ""
    with caplog.at_level("WARNING"):
        loop(tiny, tmp_path, "truncate", texts=texts).run(0)
    assert "MoLLIALoop: 2 text(s) are empty or whitespace only (rows 7, 9)" in caplog.text
