"""The settings of the OpenAI-compatible server annotators, as the command line gives them.

An ``--annotator http(s)://HOST:PORT/v1#MODEL`` is an
:class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator`; these settings
(:data:`HTTP_DEFAULTS`) reach every such annotator of a run: the deadline of a request
(``--http-timeout``), the sampled answers per text (``--http-votes``), the texts in flight at
once (``--http-concurrency``), extra JSON fields of every request (``--extra-body``) and the
API key, read from the environment variable ``--api-key-env`` names, so that the key itself
never appears on a command line, in a shell history or in ``results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["HTTP_DEFAULTS", "add_http_arguments", "http_options"]

#: The server annotators' settings of :func:`skmollal.experiment.run_experiment` (None: the
#: annotator's own default).
HTTP_DEFAULTS = {"http_timeout": None, "http_votes": None, "http_concurrency": None,
                 "api_key_env": None, "extra_body": None}


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server annotators' options to ``parser`` (``skmollal run`` and ``demo``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    group = parser.add_argument_group(
        "server annotators (--annotator http(s)://HOST:PORT/v1#MODEL)")
    group.add_argument("--http-timeout", type=float, metavar="SECONDS",
                       help="deadline of one request, from sending it to its last byte "
                            "(default 30); a slow server needs more")
    group.add_argument("--http-votes", type=int, metavar="N",
                       help="sampled answers per text, asked as 'n' (default 10)")
    group.add_argument("--http-concurrency", type=int, metavar="N",
                       help="texts in flight at once (default 4)")
    group.add_argument("--api-key-env", metavar="VARIABLE",
                       help="the environment variable holding the server's API key (sent "
                            "as 'Authorization: Bearer'), e.g. OPENAI_API_KEY; the key itself "
                            "is never an option")
    group.add_argument("--extra-body", metavar="JSON",
                       help="a JSON object of extra fields for every request, e.g. "
                            "'{\"seed\": 0, \"top_k\": 20}'")


def _positive(cfg: Mapping, key: str, kind: type) -> Any:
    value = cfg.get(key)
    if value is None:
        return None
    option = "--" + key.replace("_", "-")
    whole = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not whole or value <= 0 or (kind is int and int(value) != value):
        raise ValueError(f"{option} must be a {'whole ' if kind is int else ''}number > 0; "
                         f"got {value!r}")
    return kind(value)


def _extra_body(text: Any) -> dict | None:
    if text is None or isinstance(text, Mapping):
        return None if text is None else dict(text)
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--extra-body is not valid JSON ({exc}); give an object, e.g. "
                         "'{\"seed\": 0}'") from None
    if not isinstance(body, dict):
        raise ValueError(f"--extra-body must be a JSON object ({{...}}); got {text!r}")
    return body


def _api_key(variable: str | None) -> str | None:
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        raise ValueError(f"--api-key-env {variable}: the environment variable {variable} is "
                         "not set or empty; export it with the server's API key")
    return key


def http_options(cfg: Mapping) -> dict[str, Any]:
    """The keyword arguments of the server annotators from the settings.

    Parameters
    ----------
    cfg : mapping
        Settings named as :data:`HTTP_DEFAULTS` (missing ones: the annotator's default).

    Returns
    -------
    dict
        Only the given ones, as :class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator`
        names them: ``timeout``, ``n_votes``, ``max_concurrency``, ``api_key`` (read from
        the environment), ``extra_body``.

    Raises
    ------
    ValueError
        If a number is not positive, ``extra_body`` is not a JSON object, or the API key's
        environment variable is not set (the message names the option, never the key).
    """
    options = {"timeout": _positive(cfg, "http_timeout", float),
               "n_votes": _positive(cfg, "http_votes", int),
               "max_concurrency": _positive(cfg, "http_concurrency", int),
               "api_key": _api_key(cfg.get("api_key_env")),
               "extra_body": _extra_body(cfg.get("extra_body"))}
    return {k: v for k, v in options.items() if v is not None}
