"""``python -m skmollal demo --recorded`` in Python: MoLLIA on TREC with five recorded LLMs replayed.

The MoLLIA authors published what five 7-9B instruction LLMs answered for every TREC
question. :class:`~skmollal.annotators.RecordedAnnotator` replays them as if the LLMs were
asked live, so the whole loop runs on real LLM behaviour without a GPU. As in
``python -m skmollal demo --recorded``: a fifth of the questions is held out, 50 gold labels form the
seed, the pool holds 1000 questions, then 4 rounds of 50 queried questions are labeled by
the panel. Featurizer (MiniLM), mixture model and classifier are the defaults.

The recordings are not part of the repository: point ``SKMOLLAL_RECORDINGS`` at a folder
that holds them (``skmollal.datasets.fetch_recordings("trec")`` downloads them). The test
suite runs ``test_recorded_demo`` (marked slow; skipped without the recordings).
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from skmollal.active_learning import MoLLIAClassifier
from skmollal.annotators import RecordedAnnotator
from skmollal.datasets import default_recordings_path, load_recordings

#: Where the recordings are: ``$SKMOLLAL_RECORDINGS``, else next to the repository.
RECORDINGS = default_recordings_path()


def main(recordings=RECORDINGS, n_seed=50, pool_size=1000, n_rounds=4, batch_size=50,
         random_state=0):
    rec = load_recordings(recordings, "trec")
    panel = [RecordedAnnotator(rec, name) for name in rec.annotator_names]
    texts, test_texts, y, y_test = train_test_split(
        rec.texts, rec.target, test_size=0.2, random_state=random_state
    )
    texts, y = texts[: n_seed + pool_size], y[: n_seed + pool_size]
    y_seed = np.full(len(y), -1)  # -1: the unlabeled pool
    y_seed[:n_seed] = y[:n_seed]  # the gold seed

    clf = MoLLIAClassifier(panel=panel, n_rounds=n_rounds, batch_size=batch_size,
                           random_state=random_state)
    clf.fit(texts, y_seed)
    accuracy = clf.score(test_texts, y_test)
    print(f"{clf.n_llm_calls_} LLM answers replayed; held-out accuracy {accuracy:.3f} "
          f"on {len(y_test)} questions")
    return clf, accuracy


@pytest.mark.slow
@pytest.mark.recordings
def test_recorded_demo():
    if not (RECORDINGS / "trec_yi.json").exists():
        pytest.skip(f"LLM recordings not found at {RECORDINGS} (set SKMOLLAL_RECORDINGS)")
    clf, accuracy = main(n_seed=50, pool_size=200, n_rounds=1, batch_size=20)
    assert clf.n_llm_calls_ == 5 * (50 + 20)  # five LLMs: the seed, then one round
    assert accuracy > 1.5 / 6  # six classes: clearly better than guessing


if __name__ == "__main__":
    main()
