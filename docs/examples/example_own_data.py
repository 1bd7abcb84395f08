"""Running on your own data: 100 texts, 10 of them labelled, end to end with the command line.

What a new user does (see the docs page "Running on your own data"):

1. write a CSV with a ``text`` and a ``label`` column, the label filled in on a few rows;
2. run ``skmollal run --data news.csv --labels ... --annotator <your LLMs>``;
3. read ``labels.csv`` (every annotated text with its fused label and each LLM's answer);
4. label new texts with ``skmollal predict --model .../model.joblib``.

The LLMs here are two keyword rules behind a local OpenAI-compatible server (the test server
of :mod:`skmollal.testing.server`), so the example runs in seconds without a model; with
vLLM, Ollama or llama.cpp serving real LLMs only the ``--annotator`` URLs change.

Run it with ``python docs/examples/example_own_data.py``; the test suite runs
``test_own_data``.
"""
from __future__ import annotations

import csv
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from skmollal.cli import main as skmollal
from skmollal.testing.server import OpenAITestServer

LABELS = ["politics", "sports", "tech"]
#: Three slots of words per class: a text is one word of each slot.
WORDS = {
    "politics": (["The senate", "The minister", "Parliament", "The mayor", "Voters",
                  "The opposition"],
                 ["debated", "rejected", "approved", "delayed", "questioned", "passed"],
                 ["the budget bill", "a new tax law", "the election reform",
                  "the coalition deal", "a referendum", "the party manifesto"]),
    "sports": (["The striker", "The home team", "Our goalkeeper", "The coach",
                "The champions", "The rookie"],
               ["scored in", "lost", "won", "celebrated", "trained for", "was injured in"],
               ["the cup final", "the derby", "the league match", "overtime",
                "the penalty shootout", "the tournament"]),
    "tech": (["The startup", "A chipmaker", "The app", "Engineers", "The browser",
              "A robot"],
             ["released", "patched", "open-sourced", "shipped", "benchmarked", "hacked"],
             ["a faster processor", "the software update", "a cloud service",
              "the source code", "an AI model", "the new smartphone"]),
}


def make_texts(n: int = 100, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` short news lines and their true classes."""
    rng = np.random.default_rng(seed)
    texts, truth = [], []
    for _ in range(n):
        label = LABELS[rng.integers(len(LABELS))]
        texts.append(" ".join(str(rng.choice(slot)) for slot in WORDS[label]) + ".")
        truth.append(label)
    return texts, truth


def write_csv(path: Path, texts: list[str], truth: list[str], labelled: set[int]) -> None:
    """The CSV a user writes: every text, the label only on the rows they labelled."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        for i, (text, label) in enumerate(zip(texts, truth)):
            writer.writerow([f"news-{i:03d}", text, label if i in labelled else ""])


# --------------------------------------------------------------- the stand-in LLM server
def keyword_answer(text: str, model: str) -> np.ndarray:
    """Class probabilities of a keyword "LLM": ``keywords-full`` knows every word,
    ``keywords-half`` only the first half of each slot (it guesses on the rest)."""
    hits = np.zeros(len(LABELS))
    for c, label in enumerate(LABELS):
        for slot in WORDS[label]:
            known = slot if model == "keywords-full" else slot[: len(slot) // 2]
            hits[c] += sum(word in text for word in known)
    logits = 2.0 * hits
    return np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()


def respond(body: dict) -> dict:
    """An OpenAI chat-completion answer: ``n`` sampled labels and first-token logprobs."""
    text = body["messages"][-1]["content"]
    probs = keyword_answer(text, body["model"])
    rng = np.random.default_rng(zlib.crc32(f"{body['model']}|{text}".encode()))
    top = [{"token": label, "logprob": float(np.log(p))} for label, p in zip(LABELS, probs)]
    choices = []
    for c in range(int(body.get("n", 1))):
        label = LABELS[rng.choice(len(LABELS), p=probs)]
        choices.append({"index": c, "message": {"role": "assistant", "content": label},
                        "logprobs": {"content": [{"token": label, "logprob": -0.1,
                                                  "top_logprobs": top}]}})
    return {"choices": choices, "model": body["model"]}


# --------------------------------------------------------------- what the user runs
def main(workdir: str | Path) -> dict:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    texts, truth = make_texts(100)
    data = workdir / "news.csv"
    write_csv(data, texts, truth, labelled=set(range(0, 100, 10)))  # 10 rows labelled
    out = workdir / "run"
    with OpenAITestServer(responder=respond) as server:
        # The same command with a real server: --annotator http://localhost:8000/v1#MODEL
        status = skmollal([
            "run", "--data", str(data), "--labels", ",".join(LABELS),
            "--annotator", f"{server.base_url}#keywords-full",
            "--annotator", f"{server.base_url}#keywords-half",
            "--featurizer", "tfidf", "--classifier", "logreg", "--rounds", "3", "--batch", "20",
            "--output", str(out), "--no-progress",
        ])
    assert status == 0, "skmollal run failed"
    with open(out / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    agree = np.mean([row["label"] == truth[int(row["row"])] for row in labels])
    print(f"{len(labels)} texts labelled; fused labels agree with the hidden truth on "
          f"{agree:.0%} of them")

    new = workdir / "new.csv"
    new_texts, new_truth = make_texts(20, seed=1)
    write_csv(new, new_texts, new_truth, labelled=set())
    status = skmollal(["predict", "--model", str(out / "model.joblib"), "--data", str(new),
                       "--output", str(workdir / "predictions.csv")])
    assert status == 0, "skmollal predict failed"
    with open(workdir / "predictions.csv", newline="", encoding="utf-8") as fh:
        predictions = list(csv.DictReader(fh))
    accuracy = np.mean([p["label"] == t for p, t in zip(predictions, new_truth)])
    print(f"the saved model labels {accuracy:.0%} of 20 new texts right")
    return {"labels": labels, "agree": agree, "predictions": predictions,
            "accuracy": accuracy, "out": out}


def test_own_data(tmp_path):
    result = main(tmp_path)
    labels = result["labels"]
    assert len(labels) == 10 + 3 * 20  # the seed and three rounds of 20
    assert sorted(int(r["row"]) for r in labels if r["gold"] == "True") == list(range(0, 100, 10))
    assert {"llm:keywords-full", "llm:keywords-half"} <= set(labels[0])
    assert all(r["id"] == f"news-{int(r['row']):03d}" for r in labels)
    assert result["agree"] > 0.8 and result["accuracy"] > 0.6
    assert len(result["predictions"]) == 20


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="skmollal-"))
