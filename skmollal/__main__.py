"""Command line entry point: ``python -m skmollal`` / ``skmollal``."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

DEFAULT_RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "llm-recordings"


def recordings_summary(path: str, task: str) -> str:
    """Per-LLM and majority-vote accuracy of recorded annotations, as a text table."""
    from .datasets import load_recordings

    rec = load_recordings(path, task)
    rows = []
    for j, name in enumerate(rec.annotator_names):
        acc = float((rec.signals[:, j, 1].argmax(1) == rec.target).mean())
        rows.append((name, acc))
    votes = rec.signals[:, :, 1].sum(axis=1)
    rows.append(("majority vote", float((votes.argmax(1) == rec.target).mean())))
    lines = [f"task {task}: {len(rec.target)} texts, {len(rec.target_names)} classes",
             f"{'annotator':<16}accuracy"]
    lines += [f"{name:<16}{acc:.3f}" for name, acc in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="skmollal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job on the embedded default")
    demo.add_argument("--recordings", default=os.environ.get("SKMOLLAL_RECORDINGS",
                                                             str(DEFAULT_RECORDINGS)))
    demo.add_argument("--task", default="trec")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "demo":
        print(recordings_summary(args.recordings, args.task))
    return 0


if __name__ == "__main__":
    sys.exit(main())
