"""load_recordings / fetch_recordings on small files made here and on the real recordings."""
import json

import numpy as np
import pytest

from skmollal.datasets import fetch_recordings, load_recordings

LABELS = ["abbreviation", "entity", "description", "human", "location", "numeric"]


def _write(folder, llm, rows):
    with open(folder / f"trec_{llm}.json", "w") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


def _row(text, label="human", answers=("human",) * 3):
    probs = [0.0] * 6
    if label in LABELS:
        probs[LABELS.index(label)] = 0.9
    return {"text": text, "label": label, "llm_logits": probs, "llm_label": list(answers)}


@pytest.fixture
def small(tmp_path):
    rows = [_row("Who?"), _row("Where?", "location", ["location", "place", "sorry"])]
    _write(tmp_path, "a", rows)
    _write(tmp_path, "b", [_row("Who?", answers=["entity"]), _row("Where?", "location")])
    return tmp_path


def test_load_small(small):
    rec = load_recordings(small, "trec")
    assert rec.texts == ["Who?", "Where?"]
    assert rec.annotator_names == ["a", "b"]
    assert rec.target_names == LABELS
    np.testing.assert_array_equal(rec.target, [3, 4])
    assert rec.signals.shape == (2, 2, 2, 6)
    assert rec.signals[1, 0, 1, 4] == pytest.approx(2 / 3)  # "sorry" abstains
    assert rec.signals[0, 1, 1, 1] == 1.0
    assert rec.raw_answers[1][0] == ["location", "place", "sorry"]


def test_mismatched_texts_name_file_and_line(small):
    _write(small, "b", [_row("Who?"), _row("Elsewhere?", "location")])
    with pytest.raises(ValueError, match=r"trec_b\.json: line 2 holds text 'Elsewhere\?'"):
        load_recordings(small, "trec")


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", r"trec_b\.json: line 2 is not valid JSON"),
        ("", r"trec_b\.json: line 2 is empty"),
        (json.dumps({"text": "Where?"}), r"line 2 lacks field"),
        (json.dumps(_row("Where?", "colour")), r"line 2 has gold label 'colour'"),
    ],
)
def test_malformed_lines(small, bad, message):
    _write(small, "b", [_row("Who?"), bad])
    with pytest.raises(ValueError, match=message):
        load_recordings(small, "trec")


def test_unknown_label(small):
    _write(small, "a", [_row("Who?"), _row("Where?", "colour")])
    _write(small, "b", [_row("Who?"), _row("Where?", "colour")])
    with pytest.raises(ValueError, match=r"trec_a\.json: line 2: unknown label 'colour'"):
        load_recordings(small, "trec")


def test_missing_things(tmp_path, small):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_recordings(tmp_path / "nope", "trec")
    with pytest.raises(FileNotFoundError, match="no recordings for task 'agnews'.*trec"):
        load_recordings(small, "agnews")
    with pytest.raises(FileNotFoundError, match="annotator"):
        load_recordings(small, "trec", annotators=["zz"])


def test_npy_format(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((7, 6, 2))
    x[:, 1::2] /= 2  # vote rows (every second row) are shares: they sum to at most 1
    y = np.eye(2, dtype=int)[rng.integers(0, 2, 7)]
    np.save(tmp_path / "toy_meta_x.npy", x)
    np.save(tmp_path / "toy_meta_y.npy", y)
    rec = load_recordings(tmp_path, "toy", labels=["neg", "pos"])
    assert rec.signals.shape == (7, 3, 2, 2)
    np.testing.assert_array_equal(rec.signals[:, 1, 0], x[:, 2])
    np.testing.assert_array_equal(rec.target, y.argmax(1))
    y[3] = 0
    np.save(tmp_path / "toy_meta_y.npy", y)
    with pytest.raises(ValueError, match="row 3 is not one-hot"):
        load_recordings(tmp_path, "toy")


def test_invalid_recorded_values_name_the_file_and_row(tmp_path, small):
    bad = _row("Where?", "location")
    bad["llm_logits"][1] = 1.5
    _write(small, "b", [_row("Who?"), bad])
    with pytest.raises(ValueError, match=r"trec_b\.json: line 2: llm_logits: probs hold"):
        load_recordings(small, "trec")
    x = np.full((4, 2, 2), 0.25)
    x[2, 1, 0] = -0.5  # a negative vote share of LLM 0, text 2
    np.save(tmp_path / "toy_meta_x.npy", x)
    np.save(tmp_path / "toy_meta_y.npy", np.eye(2, dtype=int)[[0, 1, 0, 1]])
    with pytest.raises(ValueError, match=r"toy_meta_x\.npy.*votes hold .*row \(2, 0\)"):
        load_recordings(tmp_path, "toy")


def test_fetch_offline_says_where_to_put_files(tmp_path):
    with pytest.raises(OSError, match=f"put it in {tmp_path}"):
        fetch_recordings("trec", data_home=tmp_path, download_if_missing=False)
    with pytest.raises(OSError, match="could not download"):
        fetch_recordings("imdb", data_home=tmp_path, base_url="http://127.0.0.1:9/")
    with pytest.raises(ValueError, match="unknown task"):
        fetch_recordings("nope", data_home=tmp_path)


@pytest.mark.recordings
def test_fetch_reuses_verified_cache(recordings_dir, tmp_path):
    for name in ["imdb_meta_x.npy", "imdb_meta_y.npy"]:
        (tmp_path / name).symlink_to(recordings_dir / name)
    rec = fetch_recordings("imdb", data_home=tmp_path, download_if_missing=False)
    assert rec.signals.shape == (10000, 5, 2, 2)
    corrupt = tmp_path / "c"
    corrupt.mkdir()
    np.save(corrupt / "imdb_meta_x.npy", np.zeros((2, 10, 2)))
    (corrupt / "imdb_meta_y.npy").symlink_to(recordings_dir / "imdb_meta_y.npy")
    with pytest.raises(ValueError, match="checksum mismatch"):
        fetch_recordings("imdb", data_home=corrupt, download_if_missing=False)


@pytest.mark.recordings
def test_real_recordings(recordings_dir):
    rec = load_recordings(recordings_dir, "trec")
    assert rec.signals.shape == (5452, 5, 2, 6)
    assert rec.annotator_names == ["gemma", "llama", "mistral", "qwen", "yi"]
    yi = (rec.signals[:, 4, 1].argmax(1) == rec.target).mean()
    assert yi == pytest.approx(0.770, abs=0.002)  # README's reference figure
    imdb = load_recordings(recordings_dir, "imdb")
    assert imdb.texts is None and imdb.signals.shape == (10000, 5, 2, 2)
