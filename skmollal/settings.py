"""The settings of an experiment: their names, defaults and checks.

:data:`RUN_DEFAULTS` names every setting of :func:`skmollal.experiment.run_experiment` (the
command line's options) with its default; :func:`check_settings` refuses a bad one with a
:class:`ConfigError` naming it, before anything is loaded or any LLM is called.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .active_learning.params import cli_settings
from .annotators.server_options import HTTP_DEFAULTS
from .aggregation.registry import AGGREGATORS
from .classifiers import CLASSIFIERS
from .datasets import default_recordings_path
from .featurizers import FEATURIZERS

__all__ = [
    "AGGREGATORS", "ALL_GOLD_SPLIT", "CLI_LOOP_SETTINGS", "FEATURIZERS", "NO_TEST",
    "RUN_DEFAULTS", "ConfigError",
    "check_settings", "complete_settings", "loop_stopping",
]

#: The settings of :func:`run_experiment` and their defaults (the command line's options).
#: ``seed_size`` None: every labelled row of a CSV, :data:`ALL_GOLD_SPLIT` for the demo and
#: recorded sets; ``test_size`` None: no test split for a CSV, :data:`ALL_GOLD_SPLIT` else.
RUN_DEFAULTS = {
    "task": "trec", "recordings": str(default_recordings_path()), "data": None,
    "labels": None, "annotator": None, "strategy": "random", "mixture": "molam",
    "rounds": 9, "seed_size": None, "pool_size": None, "test_size": None,
    "seed": 0, "featurizer": "minilm", "classifier": "mlp", "max_epochs": None,
    "no_discrepancy": False, "negative_learning": False, "no_negative_learning": False,
    "output": "skmollal-run", "no_progress": False, "refresh_cache": False,
    "cascade": None,  # a threshold: ask only the LLMs a text needs (CascadePanel)
    "budget": None, "price": None, "stop": None,
    "examples": None, "label_descriptions": None,  # seed demonstrations, class meanings
    "compare_majority": False,  # also train on majority-vote labels of the same answers
    "cache": None,  # the annotation cache file; None: <output>/annotations.sqlite
    **HTTP_DEFAULTS,  # the server annotators' settings
}
#: Command-line settings that are loop settings: option -> the loop's name for it. Declared
#: with the loop's (:data:`~skmollal.active_learning.params.LOOP_SETTINGS`, ``cli=``), whose
#: defaults and constraints they take.
CLI_LOOP_SETTINGS = {option: s.name for option, s in cli_settings().items()}
RUN_DEFAULTS.update({option: s.default for option, s in cli_settings().items()})
#: Seed and test sizes of the all-gold demo and recorded sets when none are given.
ALL_GOLD_SPLIT = {"seed_size": 50, "test_size": 0.2}
#: What ``results.json`` says when no labelled row was held out.
NO_TEST = "no held-out gold: accuracy not measured"


class ConfigError(ValueError):
    """A setting or an input file is wrong; found before any LLM is called."""


def complete_settings(config: Mapping | Any) -> dict:
    """``config`` (a mapping or an ``argparse.Namespace``) completed with :data:`RUN_DEFAULTS`.

    Parameters
    ----------
    config : mapping or argparse.Namespace
        Some of the settings named as the keys of :data:`RUN_DEFAULTS`.

    Returns
    -------
    dict
        Every setting: the given ones, the defaults for the others.
    """
    given = dict(config) if isinstance(config, Mapping) else dict(vars(config))
    given.pop("func", None)
    return {**given, **{k: v for k, v in RUN_DEFAULTS.items() if k not in given}}


def check_settings(cfg: Mapping) -> None:
    """Refuse bad settings before anything is loaded or any LLM is called.

    Parameters
    ----------
    cfg : mapping
        Settings named as :data:`RUN_DEFAULTS`.

    Raises
    ------
    ConfigError
        Naming the setting, the value and what is allowed.
    """
    from .active_learning.strategies import STRATEGIES

    def whole(name: str, low: int, none_ok: bool = False) -> None:
        value = cfg[name]
        if none_ok and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"--{name.replace('_', '-')} must be a whole number >= {low}; "
                              f"got {value!r}")

    whole("rounds", 0)
    whole("seed_size", 1, none_ok=True)
    whole("pool_size", 1, none_ok=True)
    whole("max_epochs", 1, none_ok=True)
    if cfg["labels"] and not cfg["data"]:
        raise ConfigError("--labels names the classes of your CSV (--data); the "
                          f"{cfg['task']!r} task has its own: drop --labels or give --data")
    check_cli_loop_settings(cfg)
    test_size = cfg["test_size"]
    if test_size is not None and not (0 <= test_size < 1 or float(test_size).is_integer()):
        raise ConfigError(f"--test-size must be a fraction in [0, 1) or a whole number of "
                          f"labelled rows; got {test_size!r}")
    for name, known in (("mixture", AGGREGATORS), ("featurizer", FEATURIZERS),
                        ("classifier", CLASSIFIERS)):
        if cfg[name] not in known:
            raise ConfigError(f"unknown --{name} {cfg[name]!r}; choose one of {sorted(known)}")
    strategy = cfg["strategy"]
    if not callable(strategy) and str(strategy).lower().replace("-", "_") not in STRATEGIES:
        raise ConfigError(f"unknown --strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    cascade = cfg.get("cascade")
    number = isinstance(cascade, (int, float)) and not isinstance(cascade, bool)
    if cascade not in (None, "auto") and not (number and 0 < cascade <= 1):
        raise ConfigError(f"--cascade must be 'auto' or a threshold in (0, 1]; got {cascade!r}")
    loop_stopping(cfg)


def loop_settings(cfg: Mapping) -> dict:
    """The loop settings the command line sets, by the loop's names (see
    :data:`CLI_LOOP_SETTINGS`), with the deprecated switches resolved.

    ``--no-discrepancy`` means ``--discrepancy none``; ``--negative-learning`` means
    ``--nl-threshold 0.001`` and ``--no-negative-learning`` no negative labels.
    """
    values = {loop: cfg[cli] for cli, loop in CLI_LOOP_SETTINGS.items()}
    for flag, instead in (("no_discrepancy", "--discrepancy none"),
                          ("negative_learning", "--nl-threshold 0.001"),
                          ("no_negative_learning", "no --nl-threshold")):
        if cfg.get(flag):
            warnings.warn(f"--{flag.replace('_', '-')} is deprecated: use {instead} (goes "
                          "in 0.3)", FutureWarning, stacklevel=2)
    if values["discrepancy"] == "none" or cfg.get("no_discrepancy"):
        values["discrepancy"] = None
    if cfg.get("negative_learning") and values["nl_threshold"] is None:
        values["nl_threshold"] = 0.001
    if cfg.get("no_negative_learning"):
        values["nl_threshold"] = None
    return values


def check_cli_loop_settings(cfg: Mapping) -> None:
    """Refuse a loop setting given on the command line that breaks the loop's constraint,
    naming the option (the one declaration in
    :data:`~skmollal.active_learning.params.LOOP_SETTINGS` is the rule).

    Raises
    ------
    ConfigError
    """
    from .active_learning.params import check_loop_settings

    values = loop_settings(cfg)
    for option, name in CLI_LOOP_SETTINGS.items():
        try:
            check_loop_settings({name: values[name]}, "skmollal run")
        except ValueError as exc:
            raise ConfigError(f"--{option.replace('_', '-')}: {exc}") from None


def loop_stopping(cfg: Mapping) -> dict:
    """The loop's ``budget``, ``prices`` and ``stopping`` from the settings' strings.

    Parameters
    ----------
    cfg : mapping
        Settings with ``budget`` (``"calls=2000,money=1.5"``, see
        :meth:`Budget.parse <skmollal.active_learning.Budget.parse>`), ``price`` (a list of
        ``[NAME:]per_call=X,per_token=Y``, see :func:`~skmollal.annotators.costs.parse_prices`)
        and ``stop`` (a list of rule specs, see
        :func:`~skmollal.active_learning.stopping.make_stopping_rule`); each may be None.

    Returns
    -------
    dict
        ``budget``, ``prices`` and ``stopping``, as
        :class:`~skmollal.active_learning.MoLLIALoop` takes them.

    Raises
    ------
    ConfigError
        If a spec is malformed, or a money budget comes without a price.
    """
    from .active_learning.budget import Budget
    from .active_learning.stopping import make_stopping_rule
    from .annotators.costs import parse_prices

    try:
        budget = Budget.parse(cfg["budget"]) if cfg.get("budget") else None
        prices = parse_prices(cfg.get("price")) or None
        stopping = [make_stopping_rule(s) for s in cfg.get("stop") or []]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if budget is not None and budget.money is not None and prices is None:
        raise ConfigError("--budget money=... needs --price (per call, token or second)")
    return {"budget": budget, "prices": prices, "stopping": stopping}
