"""A custom annotator: any object with ``name``, ``labels``, ``annotate`` and ``identity``.

skmollal never checks an annotator's type. Anything that has

* ``name`` -- a short name, unique within a panel,
* ``labels`` -- the class names, in class order,
* ``annotate(texts)`` -- returning an :class:`~skmollal.annotators.AnnotationResult` with
  per-class ``probs`` and ``votes`` for every text, and
* ``identity()`` -- a string that changes whenever its answers could change (the
  annotation cache keys on it),

can sit in a panel next to LLM annotators. Here a keyword rule labels questions of the
shipped demo set; a second copy listens to fewer keywords, so the two disagree. The same
pattern wraps a remote API, a rule system or a human labeling tool.

Run it with ``python docs/examples/example_custom_annotator.py``; the test suite runs
``test_custom_annotator``.
"""
from __future__ import annotations

import numpy as np

from skmollal.annotators import AnnotationResult, Annotator
from skmollal.demo import load_demo

#: Words that point to each TREC class (the demo set uses the TREC classes).
KEYWORDS = {
    "abbreviation": ("stand for", "abbreviation", "full form", "short for", "acronym"),
    "entity": ("what kind", "which animal", "what colour", "what color", "what food", "what is"),
    "description": ("why", "how does", "how do", "what is the meaning", "define", "explain"),
    "human": ("who", "which person", "which company", "whom"),
    "location": ("where", "which country", "which city", "capital"),
    "numeric": ("how many", "how much", "when", "what year", "how long", "how far", "how old"),
}


class KeywordAnnotator:
    """Label a question by the keywords it contains.

    Parameters
    ----------
    labels : sequence of str
        Class names, in class order (every one must have an entry in ``keywords``).
    keywords : dict of str to sequence of str
        Lower-case phrases per class.
    n_votes : int, default=10
        Answers sampled per text for the ``votes``.
    name : str, default="keywords"
        Name within the panel.
    random_state : int, default=0
        Seed of the vote sampling.
    """

    def __init__(self, labels, keywords, n_votes=10, name="keywords", random_state=0):
        self.labels = list(labels)
        self.keywords = {k: tuple(v) for k, v in keywords.items()}
        self.n_votes = n_votes
        self.name = name
        self.random_state = random_state

    def identity(self) -> str:
        """Everything that determines the answers: the cache key of this annotator."""
        rules = ";".join(f"{k}={','.join(v)}" for k, v in sorted(self.keywords.items()))
        return f"keywords|{self.labels}|{rules}|k={self.n_votes}|seed={self.random_state}"

    def annotate(self, texts) -> AnnotationResult:
        """Score each class by its keyword hits; sample ``n_votes`` answers from that."""
        rng = np.random.default_rng(self.random_state)
        n, n_classes = len(texts), len(self.labels)
        hits = np.zeros((n, n_classes))
        for i, text in enumerate(texts):
            lower = text.lower()
            for c, label in enumerate(self.labels):
                hits[i, c] = sum(phrase in lower for phrase in self.keywords.get(label, ()))
        logits = 3.0 * hits
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        votes = np.stack([rng.multinomial(self.n_votes, p) for p in probs]) / self.n_votes
        answers = [[self.labels[c] for c in rng.choice(n_classes, 3, p=p)] for p in probs]
        return AnnotationResult(probs=probs, votes=votes, raw_answers=answers)


def build_panel(labels) -> list[KeywordAnnotator]:
    """Two keyword annotators that disagree: one knows every keyword, one only the first."""
    full = KeywordAnnotator(labels, KEYWORDS, name="keywords-full", random_state=0)
    sparse = KeywordAnnotator(
        labels, {k: v[:1] for k, v in KEYWORDS.items()}, name="keywords-sparse", random_state=1
    )
    return [full, sparse]


def main():
    demo = load_demo()
    panel = build_panel(demo.target_names)
    # Each annotator answers on its own ...
    results = [annotator.annotate(demo.texts) for annotator in panel]
    for annotator, result in zip(panel, results):
        accuracy = (result.votes.argmax(axis=1) == demo.target).mean()
        print(f"{annotator.name:<16} vote accuracy {accuracy:.3f}")
    # ... and a panel's answers stack into the signals array (n_texts, n_llms, 2, n_classes)
    signals = np.stack([r.to_signals() for r in results], axis=1)
    print("signals", signals.shape)
    return demo, panel, signals


def test_custom_annotator():
    demo, panel, signals = main()
    n, n_classes = len(demo.texts), len(demo.target_names)
    assert all(isinstance(a, Annotator) for a in panel)  # the runtime-checkable protocol
    assert signals.shape == (n, len(panel), 2, n_classes)
    assert np.allclose(signals[:, :, 0].sum(axis=-1), 1.0)  # probabilities
    assert np.all(signals[:, :, 1].sum(axis=-1) <= 1.0 + 1e-9)  # vote shares
    accuracy = (signals[:, 0, 1].argmax(axis=1) == demo.target).mean()
    assert accuracy > 1.5 / n_classes  # clearly better than guessing
    assert panel[0].identity() != panel[1].identity()


if __name__ == "__main__":
    main()
