"""Benchmark tables rendered from committed result files, so the docs cannot drift.

The benchmark scripts under ``benchmarks/`` write JSON to ``benchmarks/results/`` (not
committed). Copies of the final files are committed to ``docs/benchmarks/results/``; the
``benchmark-results`` directive reads them at build time and renders the command that made
them, the machine they ran on, a table and (if there is one) the plot::

    ```{benchmark-results} mixture_accuracy.json
    :command: python benchmarks/mixture_accuracy.py
    :rows: summary
    :columns: method, accuracy_mean, macro_f1_mean
    :headers: method, accuracy, macro-F1
    :format: .3f
    :figure: mixture_accuracy.png
    ```

Until the JSON file exists the directive renders a "not yet run" note with the command.
``tests/test_docs.py`` imports this module to check that every number written on a
benchmark page also appears in that page's JSON.

Options
-------
command
    The command that regenerates the file. Used when the JSON has no ``command`` entry. A
    file merged from several runs shows them as one chain, ``run1 && run2 && merge``
    (one command per invocation its ``config`` records, then the ``--merge``); each command
    of the chain is shown on its own line.
machine
    What it ran on. Used when the JSON has no ``machine`` entry.
rows
    Dotted path to the table inside the JSON (``a.b.0.c``; ``.`` is the top level). The
    value may be a list of dicts (one row each), a dict of dicts (keys become the column
    ``name``), a dict of dicts of dicts (keys become ``group`` and ``name``) or a dict of
    scalars (columns ``name`` and ``value``). Without it, the first of ``rows``,
    ``table``, ``results``, ``summary`` that exists is used, else the whole file.
columns
    Comma-separated keys to show, in order (default: every scalar key of the first row).
    ``mean±sd`` (two keys joined by ``±``) shows both values in one cell.
headers
    Comma-separated column titles (default: the keys).
format
    Python format spec for floats (default ``.3f``), or a comma-separated list of them, one
    per column.
figure
    A PNG next to the JSON, shown under the table when present.
no-meta
    Flag: do not repeat the command / machine (for a second table from the same file).
"""
from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives

#: Where the committed result files live.
RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
#: Keys tried, in order, when no ``rows`` option is given.
DEFAULT_TABLE_KEYS = ("rows", "table", "results", "summary")
#: A number as written in prose: not part of a word (``F1``, ``v2``, ``L6`` are not numbers).
NUMBER_RE = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


# ------------------------------------------------------------------------------ pure helpers
def load_result(name: str, directory: Path | str = RESULTS_DIR) -> Any | None:
    """Return the parsed JSON file ``directory/name``, or None when it does not exist."""
    path = Path(directory) / name
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def lookup(data: Any, path: str | None) -> Any:
    """Follow a dotted path (``"a.b.0"``; digits index lists; ``"."``: the top) into ``data``."""
    if not path or path == ".":
        return data
    node = data
    for part in path.split("."):
        if isinstance(node, list) and re.fullmatch(r"-?\d+", part):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(f"benchmark result has no {part!r} on the path {path!r}")
    return node


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def records(data: Any, rows: str | None = None, key_name: str = "name") -> list[dict]:
    """Turn the part of ``data`` that ``rows`` points to into a list of row dicts."""
    if rows:
        table = lookup(data, rows)
    else:
        table = data
        if isinstance(data, dict):
            for key in DEFAULT_TABLE_KEYS:
                if key in data:
                    table = data[key]
                    break
    if isinstance(table, list) and all(isinstance(r, dict) for r in table):
        return [dict(r) for r in table]
    if isinstance(table, dict) and table and all(
        isinstance(v, dict) and v and all(isinstance(w, dict) for w in v.values())
        for v in table.values()
    ):  # two levels of keys: {"group": {"name": {...}}}
        return [{"group": g, key_name: k, **w} for g, v in table.items() for k, w in v.items()]
    if isinstance(table, dict) and table and all(isinstance(v, dict) for v in table.values()):
        return [{key_name: k, **v} for k, v in table.items()]
    if isinstance(table, dict):
        return [{key_name: k, "value": v} for k, v in table.items() if _is_scalar(v)]
    raise ValueError(
        "cannot make a table from a benchmark value of type "
        f"{type(table).__name__}; point :rows: at a list or dict"
    )


def format_cell(value: Any, fmt: str = ".3f") -> str:
    """Format one table cell: floats with ``fmt``, everything else as text."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return format(value, fmt)
    if isinstance(value, (list, tuple)):
        return ", ".join(format_cell(v, fmt) for v in value)
    return str(value)


def split_list(text: str | None) -> list[str]:
    """Split a comma-separated option value."""
    if not text:
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


def render_table(
    data: Any,
    rows: str | None = None,
    columns: list[str] | None = None,
    headers: list[str] | None = None,
    fmt: str = ".3f",
) -> tuple[list[str], list[list[str]]]:
    """Return ``(headers, cells)`` of the table the directive shows, all as strings."""
    recs = records(data, rows)
    if not recs:
        raise ValueError("the benchmark table is empty")
    if not columns:
        columns = [k for k, v in recs[0].items() if _is_scalar(v) or isinstance(v, list)]
    keys = [k for c in columns for k in c.split("±")]
    missing = [k for k in keys if not any(k in r for r in recs)]
    if missing:
        raise KeyError(f"benchmark table has no column(s) {missing}; it has {list(recs[0])}")
    if headers and len(headers) != len(columns):
        raise ValueError(f"{len(headers)} headers for {len(columns)} columns")
    fmts = split_list(fmt) if "," in fmt else [fmt] * len(columns)
    if len(fmts) != len(columns):
        raise ValueError(f"{len(fmts)} formats for {len(columns)} columns")
    cells = [
        [" ± ".join(format_cell(r.get(k), f) for k in c.split("±"))
         for c, f in zip(columns, fmts)]
        for r in recs
    ]
    return list(headers or columns), cells


def describe_command(data: Any, fallback: str | None = None) -> str | None:
    """The command that produced ``data``: its own ``command`` entry, else ``fallback``."""
    command = data.get("command") if isinstance(data, dict) else None
    if isinstance(command, list):
        command = shlex.join(str(c) for c in command)
    return command or fallback


def split_commands(command: str) -> list[list[str]]:
    """The commands of a ``a && b && c`` chain, each as its argv.

    A file merged from several runs is made by one chain: one command per invocation, then
    the ``--merge`` of their outputs.
    """
    commands: list[list[str]] = [[]]
    for arg in shlex.split(command):
        if arg == "&&":
            commands.append([])
        else:
            commands[-1].append(arg)
    return [argv for argv in commands if argv]


def display_command(command: str) -> str:
    """``command`` as shown on the page: each command of a ``&&`` chain on its own line."""
    return " \\\n  && ".join(shlex.join(argv) for argv in split_commands(command))


#: Top-level result keys that describe where a benchmark ran.
MACHINE_KEYS = ("device", "device_name", "cpu_count", "gpu", "threads", "torch_threads",
                "python", "torch", "platform")


def describe_machine(data: Any, fallback: str | None = None) -> str | None:
    """The machine ``data`` was measured on.

    Its ``machine`` entry when it has one; otherwise ``fallback`` (the page's description)
    followed by what the file itself recorded about its environment (an ``environment``
    dict and top-level keys such as ``device`` or ``threads``).
    """
    if not isinstance(data, dict):
        return fallback
    machine = data.get("machine")
    if isinstance(machine, dict):
        machine = "; ".join(f"{k}: {format_cell(v)}" for k, v in machine.items())
    if machine:
        return str(machine)
    recorded = {}
    if isinstance(data.get("environment"), dict):
        recorded.update(data["environment"])
    recorded.update({k: data[k] for k in MACHINE_KEYS if k in data and _is_scalar(data[k])})
    note = "; ".join(f"{k}: {format_cell(v)}" for k, v in recorded.items())
    if fallback and note:
        return f"{fallback} (recorded in the file: {note})"
    return fallback or note or None


def numbers_in(data: Any) -> list[float]:
    """Every number in ``data``: numeric leaves and numbers written inside strings/keys."""
    found: list[float] = []
    if isinstance(data, bool):
        return found
    if isinstance(data, (int, float)):
        if not (isinstance(data, float) and math.isnan(data)):
            found.append(float(data))
    elif isinstance(data, str):
        found.extend(float(m) for m in NUMBER_RE.findall(data))
    elif isinstance(data, dict):
        for k, v in data.items():
            found.extend(numbers_in(k))
            found.extend(numbers_in(v))
    elif isinstance(data, (list, tuple)):
        for v in data:
            found.extend(numbers_in(v))
    return found


def number_is_backed(token: str, numbers: list[float]) -> bool:
    """True if the number written as ``token`` equals some number in ``numbers``.

    Equal means: equal after rounding the JSON value to the decimals written (``0.677``
    matches ``0.67712``), or the same as a percentage (``67.7`` matches ``0.677``).
    """
    value = float(token)
    decimals = len(token.split(".")[1]) if "." in token else 0
    tol = 0.5 * 10.0 ** (-decimals) + 1e-12
    for n in numbers:
        if abs(n - value) <= tol or abs(100.0 * n - value) <= tol:
            return True
    return False


# ------------------------------------------------------------------------------- directive
def _paragraph(*children: nodes.Node) -> nodes.paragraph:
    para = nodes.paragraph()
    para.extend(children)
    return para


def _table_node(headers: list[str], cells: list[list[str]]) -> nodes.table:
    table = nodes.table(classes=["benchmark-table"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for _ in headers:
        group += nodes.colspec(colwidth=1)
    thead = nodes.thead()
    group += thead
    row = nodes.row()
    for h in headers:
        row += nodes.entry("", nodes.paragraph(text=h))
    thead += row
    tbody = nodes.tbody()
    group += tbody
    for line in cells:
        row = nodes.row()
        for cell in line:
            row += nodes.entry("", nodes.paragraph(text=cell))
        tbody += row
    return table


try:  # Sphinx is only needed for the build, not for tests that use the helpers above.
    from sphinx.util.docutils import SphinxDirective
except ImportError:  # pragma: no cover
    SphinxDirective = object  # type: ignore[assignment,misc]


class BenchmarkResults(SphinxDirective):  # type: ignore[misc,valid-type]
    """``benchmark-results``: render one committed benchmark result file."""

    required_arguments = 1
    has_content = False
    option_spec = {
        "command": directives.unchanged,
        "machine": directives.unchanged,
        "rows": directives.unchanged,
        "columns": directives.unchanged,
        "headers": directives.unchanged,
        "format": directives.unchanged,
        "figure": directives.unchanged,
        "no-meta": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        path = RESULTS_DIR / name
        self.env.note_dependency(str(path))
        data = load_result(name)
        command_opt = self.options.get("command")
        if data is None:
            if "no-meta" in self.options:  # the first table of the file says "not yet run"
                return []
            note = nodes.admonition(classes=["note"])
            note += nodes.title(text="Not yet run")
            note += _paragraph(
                nodes.Text("No committed results yet (expected in "),
                nodes.literal(text=f"docs/benchmarks/results/{name}"),
                nodes.Text("). They are produced by:"),
            )
            if command_opt:
                note += nodes.literal_block(command_opt, command_opt, language="bash")
            return [note]

        out: list[nodes.Node] = []
        if "no-meta" not in self.options:
            command = describe_command(data, command_opt)
            machine = describe_machine(data, self.options.get("machine"))
            if command:
                command = display_command(command)
                out.append(_paragraph(nodes.strong(text="Command: ")))
                out.append(nodes.literal_block(command, command, language="bash"))
            if machine:
                out.append(_paragraph(nodes.strong(text="Machine: "), nodes.Text(machine)))
            out.append(
                _paragraph(
                    nodes.strong(text="Results file: "),
                    nodes.literal(text=f"docs/benchmarks/results/{name}"),
                )
            )
        try:
            headers, cells = render_table(
                data,
                rows=self.options.get("rows"),
                columns=split_list(self.options.get("columns")),
                headers=split_list(self.options.get("headers")),
                fmt=self.options.get("format", ".3f"),
            )
        except (KeyError, ValueError, IndexError) as exc:
            raise self.error(f"benchmark-results {name}: {exc}") from exc
        out.append(_table_node(headers, cells))
        figure = self.options.get("figure")
        if figure and (RESULTS_DIR / figure).exists():
            # A leading "/" makes Sphinx resolve the image against the source root.
            rel = Path("/") / (RESULTS_DIR / figure).relative_to(Path(self.env.srcdir))
            out.append(nodes.image(uri=rel.as_posix(), alt=figure))
        return out


def setup(app):  # noqa: D103 - Sphinx entry point
    app.add_directive("benchmark-results", BenchmarkResults)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
