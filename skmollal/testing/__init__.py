"""Test helpers for skmollal users and its own test suite.

* :mod:`skmollal.testing.fake`: :class:`~skmollal.testing.fake.FakeAnnotator`, a cheap,
  deterministic, picklable annotator (no model) for testing pipelines, caches and panels.
* :mod:`skmollal.testing.signals`: :func:`~skmollal.testing.signals.make_signals`, synthetic
  panel signals with known annotator quality, and
  :func:`~skmollal.testing.signals.hide_labels`, a gold seed drawn from true labels.
* :mod:`skmollal.testing.pool`: a synthetic pool and fake loop parts (counting annotators,
  a mean-probability mixture, a classifier that records its fits) for tests of the loop.
* :mod:`skmollal.testing.server`: an OpenAI-compatible chat-completions HTTP server on
  127.0.0.1 that serves a local transformers model (or scripted failures), for testing
  :class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator` without the network.
"""
from .fake import FakeAnnotator
from .signals import hide_labels, make_signals

__all__ = ["FakeAnnotator", "hide_labels", "make_signals"]
