"""The loop's settings, each declared once: its default, constraint, meaning and whether it
defines the run.

:data:`LOOP_SETTINGS` is the one table of the settings that :class:`MoLLIALoop` and
:class:`MoLLIAClassifier` share. From it come the two front doors' signatures and the
"Parameters" entries of their docstrings (:func:`with_settings`), their validation
(:func:`check_loop_settings`, scikit-learn's parameter constraints) and what a run's
fingerprint records (:func:`fingerprint_settings`). Adding a setting is one
:class:`Setting` here, its use in the step that reads it, its docs and its test.
"""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Callable, Iterable

from sklearn.utils._param_validation import (HasMethods, Interval, StrOptions,
                                             validate_parameter_constraints)

from ..label_noise import DISCREPANCY_MODES
from .review import REVIEW_STRATEGIES
from .budget import Budget
from .targets import NL_SOURCES

__all__ = ["LOOP_SETTINGS", "Setting", "check_loop_settings", "cli_settings"]


@dataclass(frozen=True)
class Setting:
    """One setting of the loop.

    Parameters
    ----------
    name : str
        The keyword, the same in :class:`MoLLIALoop` and :class:`MoLLIAClassifier`.
    default : object
        Its default.
    constraints : list
        What it may be, as scikit-learn's ``_parameter_constraints`` entries.
    type : str
        The numpydoc type line.
    doc : str
        What it does (numpydoc description, one paragraph).
    fingerprint : bool, default=True
        Whether it changes a decision of the run, so that a saved run is only resumed with
        the same value.
    classifier : bool, default=True
        Whether :class:`MoLLIAClassifier` takes it too.
    cli : str or None, default=None
        The ``skmollal run`` option that sets it (``"batch"``: ``--batch``); None: not on
        the command line. Its type and choices come from ``constraints``.
    cli_help : str or None, default=None
        The option's help (default: ``doc``).
    """

    name: str
    default: Any
    constraints: list
    type: str
    doc: str
    fingerprint: bool = True
    classifier: bool = True
    cli: str | None = None
    cli_help: str | None = None


_positive = [Interval(Integral, 1, None, closed="left")]
_unit = Interval(Real, 0, 1, closed="both")

#: Every setting of the loop, in signature order.
LOOP_SETTINGS: tuple[Setting, ...] = (
    Setting("mixture", None, [None, HasMethods(["fit", "predict_proba"])], "estimator or None",
            "Fuses the panel's signals (``fit(S, y)`` with ``-1`` = unlabeled, "
            "``predict_proba(S)``); None means "
            ":class:`~skmollal.aggregation.MixtureAggregator`.", fingerprint=False),
    Setting("strategy", "random", [str, callable], "str or callable",
            "Query strategy: a name or a function (see :mod:`.strategies`).",
            fingerprint=False),
    Setting("batch_size", 50, _positive, "int",
            "Rows queried per round; a round takes all that are left when fewer are.",
            cli="batch", cli_help="texts annotated per round"),
    Setting("discrepancy_weight", 0.5, [_unit, None], "float or None",
            "The sample weight of a row the ``discrepancy`` mode down-weighs (the floor of "
            "the mixture's confidence for ``\"mixture_confidence\"``). None is deprecated "
            "(a FutureWarning): turn weighting off with ``discrepancy=None``."),
    Setting("discrepancy_update", "query", [StrOptions({"query", "round"})],
            '{"query", "round"}',
            'When classifier-based weights are set: ``"query"`` (the reference) once per row, '
            'against the classifier of the round that queried it; ``"round"`` every round, '
            "for every annotated row, against the classifier about to be retrained.",
            cli="discrepancy_update",
            cli_help="weigh rows once when queried (reference) or all rows every round"),
    Setting("discrepancy", None, [StrOptions(set(DISCREPANCY_MODES)), None],
            '{"reference", "confident", "mixture_confidence"} or None',
            "How annotated rows are weighed (:func:`~skmollal.label_noise.noise_weights`): "
            '``"reference"`` (the paper) down-weighs rows whose mixture label the classifier '
            'disagrees with, ``"confident"`` only where the classifier is also surer than '
            'the mixture, ``"mixture_confidence"`` by the mixture\'s posterior of the label. '
            "None: all weights 1.", cli="discrepancy",
            cli_help="weigh annotated texts (default: none): reference (the paper's: 0.5 on "
                     "every disagreement with the classifier), confident (only where the "
                     "classifier is surer than the mixture) or mixture_confidence (the "
                     "mixture's posterior of the label, >= 0.5)"),
    Setting("nl_weight", None, [Real, callable, None], "float, callable or None",
            "The negative-learning weight per round: a constant, or ``nl_weight(r)`` for the "
            "r-th annotated round (r = 0, 1, ...); None is the reference schedule "
            "``0.4 + 0.06 r``."),
    Setting("nl_threshold", None, [_unit, None], "float or None",
            "Classes whose probability (``nl_source``) is at most this are negative labels; "
            "None turns negative learning off. The reference is 0.001.", cli="nl_threshold",
            cli_help="negative labels: classes at probability <= this (the paper: 0.001); "
                     "off by default"),
    Setting("nl_source", "signals", [StrOptions(set(NL_SOURCES))], '{"signals", "posterior"}',
            'Where that probability comes from: the LLMs\' mean (``"signals"``, the '
            'reference) or the mixture\'s fused posterior (``"posterior"``).', cli="nl_source",
            cli_help="negative labels from the LLMs' mean probabilities (signals) or the "
                     "mixture's fused posterior"),
    Setting("soft_labels", "auto", ["boolean", StrOptions({"auto"})], 'bool or "auto"',
            "Train on the mixture's probabilities instead of its argmax labels; "
            '``"auto"``: when the classifier declares that its loss takes probabilities '
            "(:func:`~skmollal.active_learning.targets.resolve_soft_labels`)."),
    Setting("relabel", True, ["boolean"], "bool",
            "Relabel every annotated row with each round's refitted mixture (else keep the "
            "label a row got when it was annotated).", classifier=False),
    Setting("annotate_chunk", 16, _positive, "int",
            "Texts per panel call; the state is saved after each chunk.",
            fingerprint=False, classifier=False),
    Setting("X_val", None, "no_validation", "array-like or None",
            "Validation rows for the history's accuracy / macro-F1 (reporting only).",
            fingerprint=False, classifier=False),
    Setting("y_val", None, "no_validation", "array-like or None",
            "Their gold labels.", fingerprint=False, classifier=False),
    Setting("y_monitor", None, "no_validation", "array-like or None",
            "Hidden gold of every row, only reported (the mixture's label accuracy); never "
            "used for a decision.", fingerprint=False, classifier=False),
    Setting("output_dir", None, [str, os.PathLike, None], "str, path or None",
            "Where the run's state is saved after every annotated chunk and round, so that an "
            "interrupted run resumes paying only for what was in flight.", fingerprint=False),
    Setting("random_state", None, [Integral, None], "int or None",
            "Seeds the query strategy and the review draw per round."),
    Setting("show_progress", False, ["boolean"], "bool", "tqdm bars over rounds and chunks.",
            fingerprint=False),
    Setting("budget", None, [Budget, None], "Budget or None",
            "Stop before a round would spend more LLM calls, tokens, seconds or money "
            "(:class:`~skmollal.active_learning.budget.Budget`).", fingerprint=False),
    Setting("stopping", None, "no_validation", "rule, list of rules or None",
            "More stopping rules (:mod:`~skmollal.active_learning.stopping`), asked after "
            "every round, after the budget.", fingerprint=False),
    Setting("prices", None, "no_validation", "Price, dict or None",
            "Money per call / token / second, for every annotator or by annotator name "
            "(:func:`~skmollal.annotators.costs.price_for`); a money budget needs it.",
            fingerprint=False),
    Setting("oracle", None, [callable, None], "callable or None",
            "A person: ``oracle(texts, rows, info) -> class index per row`` (-1: skipped), "
            "asked about ``review_size`` annotated rows per round (:mod:`.review`). Their "
            "answers are gold for the mixture and for training.", fingerprint=False),
    Setting("review_size", 0, [Interval(Integral, 0, None, closed="left")], "int",
            "Rows per round sent to ``oracle`` (0: no review).", fingerprint=False,
            cli="review", cli_help="a person labels this many texts per round (those the "
            "panel disputes most): the run writes them to <output>/review.csv and pauses; "
            "fill its 'label' column and run the same command again"),
    Setting("review_strategy", "least_confident", [StrOptions(set(REVIEW_STRATEGIES))],
            '{"least_confident", "panel_split", "random"}',
            "Which annotated rows a person is asked about: lowest fused confidence, most "
            "split LLMs, or at random.", fingerprint=False, cli="review_strategy"),
)

_BY_NAME = {s.name: s for s in LOOP_SETTINGS}


def check_loop_settings(values: dict, caller: str) -> None:
    """Refuse a setting outside its constraint, naming it (scikit-learn's message).

    Parameters
    ----------
    values : dict
        Setting name -> value (names outside :data:`LOOP_SETTINGS` are not checked).
    caller : str
        Who is asking, for the message (e.g. ``"MoLLIALoop"``).

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        A ``ValueError`` (and ``TypeError``) naming the setting, what it may be and what it
        got.
    """
    for name in ("batch_size", "review_size", "annotate_chunk", "random_state"):
        if isinstance(values.get(name), bool):  # an Integral to Python, never meant as one
            raise ValueError(f"The {name!r} parameter of {caller} must be an int; got "
                             f"{values[name]!r}")
    known = {k: v for k, v in values.items() if k in _BY_NAME}
    validate_parameter_constraints({k: _BY_NAME[k].constraints for k in known}, known,
                                   caller_name=caller)
    if "discrepancy_weight" in values and values["discrepancy_weight"] is None:
        import warnings

        warnings.warn(f"{caller}(discrepancy_weight=None) is deprecated: weighting is off with "
                      "discrepancy=None (the default); goes in 0.3", FutureWarning, stacklevel=3)
    if values.get("review_size") and "oracle" in values and values["oracle"] is None:
        raise ValueError("review_size > 0 needs an oracle (a person answering the rows)")


def fingerprint_settings(values: dict) -> dict:
    """The settings that define a run (those that change a decision), by name."""
    return {s.name: values[s.name] for s in LOOP_SETTINGS if s.fingerprint and s.name in values}


def _doc_entries(settings: Iterable[Setting], indent: str = "    ") -> str:
    import textwrap

    lines = []
    for s in settings:
        lines.append(f"{indent}{s.name} : {s.type}, default={s.default!r}")
        lines += textwrap.wrap(s.doc, 92 - len(indent), initial_indent=indent * 2,
                               subsequent_indent=indent * 2)
    return "\n".join(lines)


def with_settings(*, first: list[inspect.Parameter], after: list[inspect.Parameter] = (),
                  for_classifier: bool = False) -> Callable:
    """Give a front door's ``__init__(self, *first, **settings)`` the table's signature and
    docs.

    The decorated class's docstring holds ``{settings}`` where the table's "Parameters"
    entries go. Its ``__init__`` then shows (``inspect.signature``, scikit-learn's
    ``get_params``) the parameters ``first``, every setting of :data:`LOOP_SETTINGS` (those
    :class:`MoLLIAClassifier` takes, with ``for_classifier``) and ``after``, all with their
    defaults.
    """
    chosen = [s for s in LOOP_SETTINGS if s.classifier or not for_classifier]

    def decorate(cls):
        params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *first]
        params += [inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=s.default)
                   for s in chosen]
        params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in after]
        cls.__init__.__signature__ = inspect.Signature(params)
        cls.__doc__ = cls.__doc__.replace("{settings}", _doc_entries(chosen).lstrip())
        cls._setting_names = tuple(s.name for s in chosen) + tuple(p.name for p in after)
        cls._setting_defaults = {**{s.name: s.default for s in chosen},
                                 **{p.name: p.default for p in after}}
        return cls

    return decorate


def store_settings(obj: Any, settings: dict, caller: str) -> None:
    """Set each of ``obj``'s table settings from ``settings`` (defaults for the others),
    unchanged; refuse an unknown keyword as Python would."""
    unknown = sorted(set(settings) - set(obj._setting_names))
    if unknown:
        raise TypeError(f"{caller}.__init__() got an unexpected keyword argument "
                        f"{unknown[0]!r}")
    for name in obj._setting_names:
        setattr(obj, name, settings.get(name, obj._setting_defaults[name]))


def cli_settings() -> dict[str, Setting]:
    """The settings ``skmollal run`` sets, by option name (``"batch"`` for ``--batch``)."""
    return {s.cli: s for s in LOOP_SETTINGS if s.cli}


def cli_argument(setting: Setting, default: Any) -> tuple[str, dict]:
    """``(flag, add_argument keywords)`` of a setting's command-line option: choices from its
    string options (with ``"none"`` where None is allowed), the type from its interval."""
    kwargs: dict[str, Any] = {"default": default, "help": setting.cli_help or setting.doc}
    for c in setting.constraints:
        if isinstance(c, StrOptions):
            kwargs["choices"] = (["none"] if None in setting.constraints else []) + sorted(
                c.options)
        elif isinstance(c, Interval):
            kwargs["type"] = int if c.type is Integral else float
            kwargs["metavar"] = "N" if c.type is Integral else "P"
    return "--" + setting.cli.replace("_", "-"), kwargs
