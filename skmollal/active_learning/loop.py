"""The MoLLIA loop: the order of a round's steps, and the state that makes a run resume.

A round is ``query -> annotate -> label (fuse, review) -> targets -> fit``: the learner
queries ``batch_size`` pool rows (:func:`.round_steps.query_round`), the panel annotates
them chunk by chunk and the mixture, refitted on every signal held plus the gold rows,
labels every annotated row (:class:`.labelling.PanelLabeller`), a person may answer some of
them (:func:`.round_steps.review_round`), the noise-handling settings turn labels into
targets (:class:`.target_policy.TargetPolicy`) and the classifier is refitted
(:func:`.round_steps.fit_round`). The state (:class:`.state.LoopState`) is saved by a
:class:`.checkpoint.Checkpoint` after every chunk and round, history records come from
:mod:`.records`, and every setting is declared once in :mod:`.params`.
"""
from __future__ import annotations

import inspect
import logging
import warnings

import numpy as np

from ..annotators.panel import panel_annotators
from .params import store_settings, with_settings
from .rounds import Rounds
from .run_parts import build_run, make_learner
from .state import LoopState
from .stopping import Upcoming

__all__ = ["MoLLIALoop"]

logger = logging.getLogger(__name__)

_P = inspect.Parameter
_FIRST = [_P(n, _P.POSITIONAL_OR_KEYWORD) for n in ("estimator", "panel", "X", "y")] + [
    _P("texts", _P.POSITIONAL_OR_KEYWORD, default=None)]


@with_settings(first=_FIRST)
class MoLLIALoop:
    """Run MoLLIA rounds on a pool, saving state so that runs resume.

    The user's estimator is cloned, never changed. With ``output_dir`` the state is written
    after every annotated chunk and round; an interrupted run continues with :meth:`resume`,
    makes the same decisions as an uninterrupted one and pays again only for what was in
    flight. Gold labels other than the seed's (and a person's answers) steer nothing.

    Parameters
    ----------
    estimator : classifier or ActiveLearner
        The classifier trained each round (a clone of it). ``sample_weight`` /
        ``negative_mask`` reach it by its ``fit`` signature, or by metadata routing for a
        Pipeline; ``nl_weight`` is set on the clone when it has that parameter. A plain
        estimator is wrapped in an :class:`ActiveLearner` with ``strategy``.
    panel : LLMPanel, list of annotators, annotator, or CascadePanel
        Who annotates. A :class:`~skmollal.cascade.CascadePanel` asks each queried text only
        as many LLMs as it needs (see :class:`~skmollal.cascade.loop_hooks.CascadeHooks`).
    X : array-like or list
        Features (or texts) of every row, as the estimator takes them.
    y : array-like of int
        Gold class indices (into the panel's labels) of the seed rows, ``-1`` elsewhere.
    texts : list of str, optional
        Every row's text for the panel; defaults to ``X`` (which must then be texts).
    {settings}

    Attributes
    ----------
    estimator_ : estimator
        The classifier being trained (the loop's clone), after :meth:`start`.
    learner : ActiveLearner
        The learner around it.
    state : LoopState
        Per-row signals, weights and labels, the round counter and the history.
    mixture_ : estimator
        The mixture fitted in the last round; ``mixture_rows_`` the rows it was fitted on.
    stopped_by_ : dict or None
        Set by :meth:`run`: the rule that stopped it (``rule``, ``reason``, ``round``).
    """

    def __init__(self, estimator, panel, X, y, texts=None, **settings) -> None:
        self.estimator = estimator
        self.panel = panel
        self.X = X
        self.y = y
        self.texts = texts
        store_settings(self, settings, "MoLLIALoop")
        self.stopped_by_: dict | None = None
        self.state = None

    # ------------------------------------------------------------------ set-up
    @classmethod
    def resume(cls, output_dir, estimator, panel, X, y, **params) -> "MoLLIALoop":
        """Continue the run saved in ``output_dir``, with the same data and settings.

        Raises ``FileNotFoundError`` if it holds no run, ``ValueError`` (naming what
        differs) if it holds another run. A round interrupted mid-way is finished by the
        next :meth:`step`, annotating the same rows.
        """
        loop = cls(estimator, panel, X, y, output_dir=output_dir, **params)
        loop._setup()
        checkpoint = loop._run.checkpoint
        if not checkpoint.holds_run:
            raise FileNotFoundError(f"{output_dir} holds no saved MoLLIA run (state.json)")
        checkpoint.lock()  # before anything is paid: another process may be writing it
        try:
            checkpoint.load_into(loop.state)
        except BaseException:
            checkpoint.release()
            raise
        return loop

    @classmethod
    def resume_or_start(cls, output_dir, estimator, panel, X, y, **params) -> "MoLLIALoop":
        """:meth:`resume` the run saved in ``output_dir``, or start one that saves there."""
        if LoopState.saved_in(output_dir):
            return cls.resume(output_dir, estimator, panel, X, y, **params)
        return cls(estimator, panel, X, y, output_dir=output_dir, **params)

    def _setup(self) -> None:
        if self.state is None:
            self._run = build_run(self)
            self._rounds = Rounds(self._run, self)
            self.state = self._run.state

    def release(self) -> None:
        """Let other processes write ``output_dir`` again (:meth:`run` does this at its end)."""
        if self.state is not None:
            self._run.checkpoint.release()

    # ------------------------------------------------------------------ views
    learner = property(lambda self: self._run.learner, doc="The learner being trained.")
    estimator_ = property(lambda self: self.learner.estimator,
                          doc="The classifier being trained (the loop's clone).")

    _last = property(lambda self: None if self.state is None else self._rounds.labels)
    mixture_ = property(lambda self: getattr(self._last, "mixture", None),
                        doc="The mixture fitted in the last round (None before one).")
    mixture_rows_ = property(lambda self: getattr(self._last, "rows", None),
                             doc="The rows ``mixture_`` was fitted on.")
    round_ = property(lambda self: self.state.round, doc="Rounds completed (0: the seed).")
    history = property(lambda self: self.state.history, doc="One record per round.")
    llm_calls = property(lambda self: self.state.llm_calls, doc="(text, LLM) answers held.")
    signals = property(lambda self: self.state.signals,
                       doc="Signals of every row; NaN where not annotated.")

    @property
    def estimator_in(self):
        """Deprecated: the estimator given, now ``estimator`` (goes in 0.3)."""
        warnings.warn("MoLLIALoop.estimator_in is deprecated: the estimator given is "
                      "`estimator`, the trained clone `estimator_`", FutureWarning, stacklevel=2)
        return self.estimator

    @property
    def fingerprint(self) -> dict:
        """What defines this run (see :mod:`.fingerprint`); computed without running."""
        self._setup()
        return self.state.fingerprint

    @property
    def labels(self) -> list[str]:
        """The panel's class names."""
        self._setup()
        return self._run.labels

    n_classes = property(lambda self: len(self.labels), doc="The number of classes.")

    @property
    def seed_idx(self) -> np.ndarray:
        """The gold seed's rows."""
        self._setup()
        return self.state.seed_idx

    def training_rows(self) -> np.ndarray:
        """Indices of the seed and annotated rows."""
        return self.state.training_rows()

    @property
    def cost(self) -> dict:
        """Cost so far per annotator (flat records, see :mod:`skmollal.annotators.costs`)."""
        return self.state.cost_so_far() if self.state is not None else {}

    # ------------------------------------------------------------------ the rounds
    def start(self) -> dict:
        """Round 0: annotate the seed's texts (for the mixture) and fit on the gold seed."""
        self._setup()
        return self._rounds.start()

    def step(self) -> dict | None:
        """Run one round; return its history record, or None when the pool is exhausted."""
        self.start()
        return self._rounds.step()

    def run(self, n_rounds: int) -> list[dict]:
        """Run until ``n_rounds`` rounds are done (counting those before a resume), asking
        the stopping rules (``budget`` first) before each; the last record of a stopped run
        says why (``stopped_by``, also :attr:`stopped_by_`)."""
        try:
            self.start()
            self.stopped_by_ = None
            todo = range(self.state.round, int(n_rounds))
            if self.show_progress:
                from tqdm.auto import tqdm

                todo = tqdm(todo, desc="MoLLIA rounds", unit="round")
            for _ in todo:
                if self.check_stopping() is not None or self.step() is None:
                    break
            return self.state.history
        finally:
            self.release()

    def refit(self, estimator=None) -> "MoLLIALoop":
        """Train the classifier again on the last finished round's targets (no LLM call);
        with ``estimator``, a clone of it replaces the loop's classifier first. Raises
        ``ValueError`` before :meth:`start`."""
        self._setup()
        if not self.state.started:
            raise ValueError("refit needs a started loop: call start() or run() first")
        if estimator is not None:
            self._run.learner = make_learner(estimator, self.learner.query_strategy)
        self._rounds.refit_last()
        return self

    def upcoming(self) -> Upcoming:
        """What the next round would annotate: its new texts and the panel size."""
        self._setup()
        return self._rounds.upcoming()

    def check_stopping(self) -> dict | None:
        """Ask the stopping rules about the next round; record (``stopped_by`` in the last
        history record, saved) and return the first that stops, else None."""
        self._setup()
        stop = self._rounds.check_stopping()
        self.stopped_by_ = stop or self.stopped_by_
        return stop

    def label_report(self, **params):
        """How good the mixture's labels are: :func:`~skmollal.aggregation.label_report` of
        ``mixture_`` on the rows and gold it was fitted on (``**params`` passed on; the
        result's ``rows`` are loop rows). Raises ``ValueError`` before a round has fitted
        the mixture, and for a cascade panel (the LLMs asked differ per text)."""
        if self.mixture_ is None:
            raise ValueError("no mixture fitted yet: the label report needs a finished round")
        names = [str(getattr(a, "name", type(a).__name__)) for a in panel_annotators(self.panel)]
        return self._run.labeller.report(self._rounds.labels, self.state, names, **params)
