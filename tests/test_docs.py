"""Checks that keep the documentation honest.

* every public class and function has an API page (listed in ``docs/api/index.rst``);
* the getting-started page gives the README's two commands, and ``make test`` builds the
  docs with warnings as errors;
* every example script is shown on a docs page (pytest runs them: ``docs/examples``);
* Python snippets on the docs pages compile, import only names that exist, and call
  skmollal classes and functions with keyword arguments they accept;
* every number written on a benchmark page appears in the committed result JSON that the
  page renders, and the command the page names exists in ``benchmarks/`` and takes the
  options it is given.

The Sphinx build itself runs in ``make test`` after pytest.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import shlex
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

sys.path.insert(0, str(REPO / "benchmarks"))

import benchtables  # noqa: E402  (docs/_ext/benchtables.py)
import result_merge  # noqa: E402  (benchmarks/result_merge.py)

#: Modules whose ``__all__`` is not API: the command line.
NOT_API_MODULES = {"skmollal.__main__", "skmollal.cli"}

FENCE_RE = re.compile(r"^(`{3,}|~{3,}|:{3,})(.*)$")


# ----------------------------------------------------------------------------- helpers
def public_modules() -> list[str]:
    """Modules whose ``__all__`` is the public API.

    That is the package, every public subpackage (its ``__init__`` curates what it
    exports) and every public module directly under ``skmollal``. Modules inside a
    subpackage are covered by their package's ``__all__``.
    """
    import skmollal

    names = ["skmollal"]
    for info in pkgutil.walk_packages(skmollal.__path__, "skmollal."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or info.name in NOT_API_MODULES:
            continue
        if info.ispkg or len(parts) == 2:
            names.append(info.name)
    return names


def public_api() -> dict[str, object]:
    """``"module.name" -> object`` for every class / function in a public ``__all__``."""
    api = {}
    for modname in public_modules():
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                api[f"{modname}.{name}"] = obj
    return api


def import_dotted(path: str):
    """Import ``a.b.C`` (module part as long as it imports, then attributes)."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def api_page_entries() -> dict[str, object]:
    """``"module.name" -> object`` for every autosummary entry of ``docs/api/index.rst``."""
    entries = {}
    module = None
    in_autosummary = False
    for line in (DOCS / "api" / "index.rst").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(".. currentmodule::"):
            module = stripped.split("::", 1)[1].strip()
            in_autosummary = False
        elif stripped.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary:
            if not line.startswith(" ") and stripped:
                in_autosummary = False
            elif stripped and not stripped.startswith(":"):
                assert module, f"autosummary entry {stripped!r} before any currentmodule"
                entries[f"{module}.{stripped}"] = import_dotted(f"{module}.{stripped}")
    return entries


def markdown_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def split_fences(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Return ``(prose, blocks)``: text outside fenced blocks, and ``(info, body)`` per block."""
    prose, blocks = [], []
    fence = None
    info, body = "", []
    for line in text.splitlines():
        m = FENCE_RE.match(line.strip())
        if fence is None and m:
            fence, info, body = m.group(1), m.group(2).strip(), []
        elif fence is not None and line.strip() == fence:
            blocks.append((info, "\n".join(body)))
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            prose.append(line)
    assert fence is None, "unclosed fenced block"
    return "\n".join(prose), blocks


def strip_markup(prose: str) -> str:
    """Drop inline code, link targets, MyST roles' targets and labels from prose."""
    prose = re.sub(r"`[^`]*`", " ", prose)  # inline code and role targets
    prose = re.sub(r"\]\([^)]*\)", "]", prose)  # link targets
    prose = re.sub(r"^\(.*\)=$", " ", prose, flags=re.M)  # (label)=
    return prose


def directive_options(body: str) -> dict[str, str]:
    options = {}
    for line in body.splitlines():
        m = re.match(r"^:([\w-]+):\s*(.*)$", line.strip())
        if m:
            options[m.group(1)] = m.group(2)
    return options


def benchmark_directives(page: Path) -> list[tuple[str, dict[str, str]]]:
    _, blocks = split_fences(page.read_text())
    found = []
    for info, body in blocks:
        m = re.match(r"^\{benchmark-results\}\s+(\S+)$", info)
        if m:
            found.append((m.group(1), directive_options(body)))
    return found


BENCHMARK_PAGES = sorted(
    p for p in (DOCS / "benchmarks").glob("*.md") if benchmark_directives(p)
)


# ------------------------------------------------------------------------------ API pages
def test_every_public_name_has_an_api_page():
    documented = {id(obj) for obj in api_page_entries().values()}
    missing = sorted(name for name, obj in public_api().items() if id(obj) not in documented)
    assert not missing, (
        "public classes/functions without an API page; add them to docs/api/index.rst: "
        f"{missing}"
    )


def test_top_level_exports_are_documented():
    import skmollal

    documented = {id(obj) for obj in api_page_entries().values()}
    missing = []
    for name in skmollal.__all__:
        obj = getattr(skmollal, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and id(obj) not in documented:
            missing.append(name)
    assert not missing, f"skmollal.__all__ names without an API page: {missing}"


def test_api_page_lists_each_object_once():
    entries = api_page_entries()
    seen: dict[int, str] = {}
    for name, obj in entries.items():
        assert id(obj) not in seen, f"{name} and {seen[id(obj)]} document the same object"
        seen[id(obj)] = name


# ------------------------------------------------------------------ commands and examples
def test_getting_started_gives_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    page = (DOCS / "getting_started.md").read_text()
    for command in ("make demo", "make test"):
        assert command in readme, f"README no longer says {command!r}; update the docs"
        assert command in page, f"getting_started.md does not show {command!r}"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_make_test_builds_the_docs_with_warnings_as_errors():
    makefile = (REPO / "Makefile").read_text()
    target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "sphinx" in target and " -W" in target and " docs " in target


def test_every_example_is_shown_in_the_docs():
    examples = sorted((DOCS / "examples").glob("example_*.py"))
    assert examples, "docs/examples has no example_*.py"
    pages = "\n".join(p.read_text() for p in markdown_pages())
    for example in examples:
        assert f"examples/{example.name}" in pages, f"{example.name} is on no docs page"


def test_required_examples_exist():
    names = {p.stem for p in (DOCS / "examples").glob("example_*.py")}
    for needed in ("example_pipeline", "example_grid_search", "example_custom_annotator"):
        assert needed in names, f"docs/examples/{needed}.py is missing"


# ---------------------------------------------------------------- pages for users, not notes
#: A reference to the project's issue tracker: "issue 15", "issues 7 and 9", "#12", "§2".
ISSUE_RE = re.compile(r"\bissues?[\s-]*#?\d+|(?<![\w&])#\d+\b|§", re.I)


def issue_references(text: str) -> list[str]:
    """The issue-tracker references in ``text`` (see :data:`ISSUE_RE`)."""
    return ISSUE_RE.findall(text)


def test_issue_references_are_found():
    assert issue_references("as in issue 15 §2, issue-7 and #12") == [
        "issue 15", "§", "issue-7", "#12"]
    assert issue_references("the issue's target; 12 issues; F1 0.5 #fff; &#160;") == []


def test_pages_cite_no_issues():
    """Pages say what to do and why; the tracker's history stays in the tracker."""
    pages = [REPO / "README.md", *markdown_pages()]
    found = {str(p.relative_to(REPO)): refs for p in pages
             if (refs := issue_references(p.read_text()))}
    assert not found, f"pages that cite issues (say what and why instead): {found}"


def docstrings(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of the module's, its classes' and its functions' docstrings."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.append((node.body[0].lineno, doc))
    return out


def test_docstrings_cite_no_issues():
    found = [
        f"{path.relative_to(REPO)}:{line}: {refs}"
        for path in sorted((REPO / "skmollal").rglob("*.py"))
        for line, doc in docstrings(path)
        if (refs := issue_references(doc))
    ]
    assert not found, f"docstrings that cite issues: {found}"


# ------------------------------------------------------------------------------- snippets
def python_snippets() -> list[tuple[str, str]]:
    snippets = []
    for page in markdown_pages():
        _, blocks = split_fences(page.read_text())
        for i, (info, body) in enumerate(blocks):
            if info in ("python", "{code-block} python", "py"):
                snippets.append((f"{page.relative_to(DOCS)}#{i}", body))
    return snippets


def _resolve(module: str, name: str):
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("where,code", python_snippets(), ids=[w for w, _ in python_snippets()])
def test_python_snippet_compiles_and_matches_the_api(where, code):
    tree = ast.parse(code, filename=where)  # a SyntaxError fails the test
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skmollal"):
            for alias in node.names:
                obj = _resolve(node.module, alias.name)  # AttributeError: no such name
                imported[alias.asname or alias.name] = obj
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skmollal"):
                    importlib.import_module(alias.name)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        obj = imported.get(node.func.id)
        if obj is None or not callable(obj):
            continue
        sig = inspect.signature(obj)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        for kw in node.keywords:
            if kw.arg is not None and not takes_any:
                assert kw.arg in sig.parameters, (
                    f"{where}: {node.func.id}() has no parameter {kw.arg!r}"
                )


# ----------------------------------------------------------------------------- benchmarks
def test_benchmark_pages_exist_and_use_the_directive():
    assert len(BENCHMARK_PAGES) >= 4, "expected one page per benchmark under docs/benchmarks/"


@pytest.mark.parametrize("page", BENCHMARK_PAGES, ids=lambda p: p.stem)
def test_benchmark_page_numbers_come_from_its_results(page):
    text = page.read_text()
    prose, _ = split_fences(text)
    numbers: list[float] = []
    for name, options in benchmark_directives(page):
        data = benchtables.load_result(name)
        if data is not None:
            numbers.extend(benchtables.numbers_in(data))
    unbacked = [
        tok for tok in benchtables.NUMBER_RE.findall(strip_markup(prose))
        if not benchtables.number_is_backed(tok, numbers)
    ]
    assert not unbacked, (
        f"{page.name} states numbers that are not in its committed results JSON: {unbacked}"
    )


@pytest.mark.parametrize("page", BENCHMARK_PAGES, ids=lambda p: p.stem)
def test_benchmark_page_names_a_real_command(page):
    for name, options in benchmark_directives(page):
        if "no-meta" in options:  # a further table of a file already introduced
            continue
        data = benchtables.load_result(name)
        command = benchtables.describe_command(data, options.get("command"))
        assert command, f"{page.name}: {name} names no command"
        argv = shlex.split(command)
        scripts = [a for a in argv if a.endswith(".py")]
        assert scripts, f"{page.name}: command {command!r} runs no script"
        script = REPO / scripts[0]
        assert script.exists(), f"{page.name}: {scripts[0]} does not exist"
        assert script.parent == REPO / "benchmarks", f"{scripts[0]} is not in benchmarks/"
        source = script.read_text()
        for flag in (a.split("=", 1)[0] for a in argv if a.startswith("--")):
            assert f'"{flag}"' in source or f"'{flag}'" in source, (
                f"{page.name}: {scripts[0]} has no option {flag}"
            )
        if data is not None and isinstance(data, dict) and data.get("command"):
            # the committed JSON must come from the script the page names
            assert Path(scripts[0]).name in command


@pytest.mark.parametrize("page", BENCHMARK_PAGES, ids=lambda p: p.stem)
def test_benchmark_tables_render_from_their_json(page):
    rendered = 0
    for name, options in benchmark_directives(page):
        data = benchtables.load_result(name)
        if data is None:
            continue
        headers, cells = benchtables.render_table(
            data,
            rows=options.get("rows"),
            columns=benchtables.split_list(options.get("columns")),
            headers=benchtables.split_list(options.get("headers")),
            fmt=options.get("format", ".3f"),
        )
        numbers = benchtables.numbers_in(data)
        for row in cells:
            for cell in row:
                for tok in benchtables.NUMBER_RE.findall(cell):
                    assert benchtables.number_is_backed(tok, numbers)
        if "no-meta" not in options:
            assert machine_named(data, options), f"{page.name}: {name} names no machine"
        rendered += 1
    if rendered == 0:
        pytest.skip(f"{page.name}: no committed results yet (page says 'not yet run')")


def recorded_config(data):
    """The script's own record of its arguments: a ``config`` dict, else its top level."""
    if isinstance(data, dict):
        for key in ("config", "args", "arguments"):
            if isinstance(data.get(key), dict):
                return data[key]
        return data
    return None


def parse_flags(argv: list[str]) -> dict[str, list[str]]:
    """``--name value ...`` options of a command line, values as written."""
    flags: dict[str, list[str]] = {}
    current = None
    for arg in argv:
        if arg.startswith("--"):
            if "=" in arg:
                name, value = arg[2:].split("=", 1)
                flags[name], current = [value], None
            else:
                current = arg[2:]
                flags[current] = []
        elif current is not None:
            flags[current].append(arg)
    return flags


def same_value(recorded, written: list[str]) -> bool:
    if isinstance(recorded, bool):
        return recorded is True and not written
    values = recorded if isinstance(recorded, list) else [recorded]
    if len(values) != len(written):
        return False
    for v, w in zip(values, written):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                if float(w) != float(v):
                    return False
            except ValueError:
                return False
        elif str(v) != w:
            return False
    return True


def script_defaults(script: Path) -> dict[str, object]:
    """``dest -> default`` of the script's argparse options whose default is a literal."""
    defaults: dict[str, object] = {}
    for node in ast.walk(ast.parse(script.read_text())):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"):
            continue
        flags = [a.value for a in node.args
                 if isinstance(a, ast.Constant) and str(a.value).startswith("--")]
        if not flags:
            continue
        kw = {k.arg: k.value for k in node.keywords}
        dest = flags[0][2:].replace("-", "_")
        if isinstance(kw.get("dest"), ast.Constant):
            dest = kw["dest"].value
        action = kw["action"].value if isinstance(kw.get("action"), ast.Constant) else None
        if "default" in kw:
            try:
                defaults[dest] = ast.literal_eval(kw["default"])
            except ValueError:  # computed default (a path, an environment variable)
                pass
        elif action == "store_true":
            defaults[dest] = False
        elif action == "store_false":
            defaults[dest] = True
        else:
            defaults[dest] = None
    return defaults


def same_default(recorded, default) -> bool:
    if isinstance(default, tuple):
        default = list(default)
    if isinstance(recorded, (int, float)) and isinstance(default, (int, float)):
        return float(recorded) == float(default)
    return recorded == default


def check_command_against_config(argv: list[str], config: dict, where: str) -> int:
    """Assert that one command, with its script's defaults, is what ``config`` records.

    Every option written must have the recorded value, every option left out must have been
    left at the script's default; options that do not change a result (where it is written,
    how many processes run it: :data:`result_merge.BOOKKEEPING`) are not compared. Returns
    how many options were compared.
    """
    script = REPO / next(a for a in argv if a.endswith(".py"))
    written = {k.replace("-", "_"): v for k, v in parse_flags(argv).items()}
    checked = 0
    for key, default in script_defaults(script).items():
        if key not in config or key in result_merge.BOOKKEEPING:
            continue
        if key in written:
            assert same_value(config[key], written[key]), (
                f"{where}: the page runs --{key} {' '.join(written[key])} but the file was "
                f"made with {key}={config[key]!r}"
            )
        elif default is not None:  # None: decided at run time (e.g. "auto")
            assert same_default(config[key], default), (
                f"{where}: the file was made with {key}={config[key]!r}, not the "
                f"default {default!r}; add that option to the page's command"
            )
        checked += 1
    return checked


def outputs_of(argv: list[str]) -> list[str]:
    return parse_flags(argv).get("output", [])


@pytest.mark.parametrize("page", BENCHMARK_PAGES, ids=lambda p: p.stem)
def test_benchmark_command_matches_the_recorded_config(page):
    """The command on the page, with the script's defaults, is what made the JSON.

    Where the script records its arguments (``config`` in the JSON), the command is checked
    against them (:func:`check_command_against_config`). A file merged from several runs
    records one grid per invocation (``config["invocations"]``, rebuilt from its runs by
    ``benchmarks/result_merge.py``); its page shows them as one chain, a command per
    invocation in that order and then the ``--merge`` of exactly their outputs.
    """
    checked = 0
    for name, options in benchmark_directives(page):
        if "no-meta" in options:
            continue
        data = benchtables.load_result(name)
        config = recorded_config(data) if data is not None else None
        if config is None:
            continue
        command = benchtables.describe_command(data, options.get("command"))
        chain = benchtables.split_commands(command)
        runs = [argv for argv in chain if "--merge" not in argv]
        merges = [argv for argv in chain if "--merge" in argv]
        grids = config.get("invocations") or [{}]
        assert len(runs) == len(grids), (
            f"{page.name}: {name} holds the runs of {len(grids)} invocation(s) "
            f"({grids}) but the page shows {len(runs)} command(s) that run something"
        )
        for i, (argv, grid) in enumerate(zip(runs, grids)):
            checked += check_command_against_config(
                argv, {**config, **grid}, f"{page.name}: {name}, command {i + 1}")
        if len(runs) > 1:
            assert len(merges) == 1 and chain[-1] is merges[0], (
                f"{page.name}: {name} is made by several runs; end the chain with their "
                "--merge"
            )
            merged = parse_flags(merges[0])["merge"]
            assert sorted(merged) == sorted(o for argv in runs for o in outputs_of(argv)), (
                f"{page.name}: the --merge of {name} must read the outputs of the commands "
                "before it"
            )
    if checked == 0:
        pytest.skip(f"{page.name}: no recorded configuration to compare with")


def grid_result_files() -> list[Path]:
    """Committed result files whose runs are one per (seed, strategy, method)."""
    found = []
    for path in sorted((DOCS / "benchmarks" / "results").glob("*.json")):
        data = benchtables.load_result(path.name)
        runs = data.get("runs") if isinstance(data, dict) else None
        if (isinstance(data.get("config"), dict) and isinstance(runs, list) and runs
                and all(isinstance(r, dict) and set(result_merge.GRID_KEYS) <= set(r)
                        for r in runs)):
            found.append(path)
    return found


def test_active_learning_results_are_grid_files():
    names = {p.name for p in grid_result_files()}
    assert "active_learning.json" in names and "active_learning_noise_mlp.json" in names


@pytest.mark.parametrize("path", grid_result_files(), ids=lambda p: p.name)
def test_result_config_is_rebuilt_from_its_runs(path):
    """A result file's recorded seeds, strategies and methods (and, for runs that are not
    one grid, its invocations) are those of the runs it holds."""
    data = benchtables.load_result(path.name)
    runs = data["runs"]
    rebuilt = result_merge.config_from_runs(data["config"], runs)
    for key in ("seeds", "strategies", "methods", "invocations"):
        assert data["config"].get(key) == rebuilt.get(key), (
            f"{path.name}: config[{key!r}] is {data['config'].get(key)!r} but its runs hold "
            f"{rebuilt.get(key)!r}; rebuild it: python benchmarks/result_merge.py rebuild "
            f"docs/benchmarks/results/{path.name}"
        )


def test_a_method_name_means_one_thing_in_every_result_file():
    """Each run's recorded loop settings are what its method runs with today.

    ``benchmarks/active_learning.py`` names the settings of each method (``mollia``: the
    loop's defaults; ``mollia-ref``: the paper's method; the baselines: no noise handling);
    a method whose meaning changed is renamed in the older files (``renamed_methods``). Runs
    that recorded no settings are checked by their file's rename record only.
    """
    import active_learning as bench  # benchmarks/active_learning.py

    defaults = bench.loop_defaults()
    checked = 0
    for path in grid_result_files():
        data = benchtables.load_result(path.name)
        for run in data["runs"]:
            recorded = run.get("settings")
            if not recorded:
                continue
            method = run["method"]
            expected = ({**defaults, **bench.MOLLIA_VARIANTS[method]}
                        if method in bench.MOLLIA_VARIANTS else bench.PLAIN)
            differ = {k: (v, expected[k]) for k, v in recorded.items()
                      if k in expected and v != expected[k]}
            assert not differ, (
                f"{path.name}: {method!r} (seed {run['seed']}) ran with settings that "
                f"{method!r} no longer means (recorded, today): {differ}; rename it with "
                "benchmarks/result_merge.py rename"
            )
            checked += 1
    assert checked, "no result file records its runs' settings"


def test_every_result_file_is_shown_on_a_page():
    shown = set()
    for page in (DOCS / "benchmarks").glob("*.md"):
        for name, options in benchmark_directives(page):
            shown.add(name)
            shown.update(benchtables.split_list(options.get("figure")))
    committed = {p.name for p in (DOCS / "benchmarks" / "results").iterdir()
                 if p.suffix in (".json", ".png")}
    assert not committed - shown, (
        f"result files no benchmark page shows (delete or show them): {sorted(committed - shown)}"
    )


def test_script_defaults_are_read_from_argparse(tmp_path):
    script = tmp_path / "b.py"
    script.write_text(
        "import argparse, os\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])\n"
        "p.add_argument('--max-epochs', type=int, default=None)\n"
        "p.add_argument('--no-nl', action='store_true')\n"
        "p.add_argument('--out', default=os.path.join('a', 'b'))\n"
    )
    assert script_defaults(script) == {"seeds": [0, 1, 2], "max_epochs": None, "no_nl": False}


def test_command_option_parsing():
    argv = shlex.split("python b.py --seeds 0 1 2 --rounds=3 --no-nl --task trec")
    flags = parse_flags(argv)
    assert flags == {"seeds": ["0", "1", "2"], "rounds": ["3"], "no-nl": [], "task": ["trec"]}
    assert same_value([0, 1, 2], flags["seeds"]) and same_value(3, flags["rounds"])
    assert same_value(True, flags["no-nl"]) and not same_value([0, 1], flags["seeds"])


def machine_named(data, options) -> bool:
    return bool(benchtables.describe_machine(data, options.get("machine")))


# -------------------------------------------------------------- the benchtables helpers
def test_benchtables_renders_and_checks_numbers(tmp_path):
    import json

    result = {
        "command": ["python", "benchmarks/x.py", "--seeds", "5"],
        "machine": {"cpus": 2, "gpu": None},
        "rows": [
            {"method": "ours", "accuracy": 0.80612, "n": 50},
            {"method": "vote", "accuracy": 0.7301, "n": 50},
        ],
    }
    (tmp_path / "x.json").write_text(json.dumps(result))
    data = benchtables.load_result("x.json", tmp_path)
    assert benchtables.load_result("missing.json", tmp_path) is None
    headers, cells = benchtables.render_table(data, columns=["method", "accuracy"])
    assert headers == ["method", "accuracy"]
    assert cells == [["ours", "0.806"], ["vote", "0.730"]]
    assert benchtables.describe_command(data) == "python benchmarks/x.py --seeds 5"
    assert benchtables.describe_machine(data) == "cpus: 2; gpu: n/a"
    no_machine = {"device": "cpu", "threads": 1, "environment": {"torch": "2.13.0+cpu"}}
    assert benchtables.describe_machine(no_machine, "2-core CPU") == (
        "2-core CPU (recorded in the file: torch: 2.13.0+cpu; device: cpu; threads: 1)"
    )
    numbers = benchtables.numbers_in(data)
    assert benchtables.number_is_backed("0.806", numbers)
    assert benchtables.number_is_backed("80.6", numbers)  # as a percentage
    assert benchtables.number_is_backed("5", numbers)  # from the command line
    assert not benchtables.number_is_backed("0.807", numbers)
    assert benchtables.number_is_backed("0.81", numbers)  # 0.80612 rounded to 2 places
    assert not benchtables.number_is_backed("0.95", numbers)
    with pytest.raises(KeyError):
        benchtables.render_table(data, columns=["nope"])


def test_benchtables_mean_sd_column():
    data = {"rows": [{"m": "a", "acc": 0.81234, "acc_sd": 0.0123}]}
    headers, cells = benchtables.render_table(data, columns=["m", "acc±acc_sd"],
                                              headers=["method", "accuracy"])
    assert headers == ["method", "accuracy"] and cells == [["a", "0.812 ± 0.012"]]
    headers, cells = benchtables.render_table(data, columns=["m", "acc"], fmt=".3f, .1f")
    assert cells == [["a", "0.8"]]


def test_benchtables_table_shapes():
    nested = {"summary": {"ours": {"acc": 0.5}, "vote": {"acc": 0.25}}}
    headers, cells = benchtables.render_table(nested, fmt=".2f")
    assert headers == ["name", "acc"] and cells == [["ours", "0.50"], ["vote", "0.25"]]
    flat = {"speedup": 8.5, "texts_per_s": 12.0}
    headers, cells = benchtables.render_table({"results": flat}, fmt=".1f")
    assert cells == [["speedup", "8.5"], ["texts_per_s", "12.0"]]
    nested2 = {"500": {"ce": {"acc": 0.5}}, "all": {"ce": {"acc": 0.75}}}
    headers, cells = benchtables.render_table(nested2, rows=".", fmt=".2f")
    assert headers == ["group", "name", "acc"]
    assert cells == [["500", "ce", "0.50"], ["all", "ce", "0.75"]]
    assert benchtables.lookup({"a": [{"b": 3}]}, "a.0.b") == 3
    with pytest.raises(KeyError):
        benchtables.lookup({"a": 1}, "b")


def test_prose_number_extraction_ignores_code_and_names():
    text = (
        "Accuracy 0.806 with `--seeds 5` on MiniLM-L6-v2, macro-F1 on 2-core CPU.\n"
        "```bash\npython benchmarks/x.py --n 1000\n```\n"
    )
    prose, blocks = split_fences(text)
    tokens = benchtables.NUMBER_RE.findall(strip_markup(prose))
    assert tokens == ["0.806", "2"]
    assert blocks == [("bash", "python benchmarks/x.py --n 1000")]


def test_benchtables_command_chains():
    chain = ("python b.py --seeds 0 1 --output a.json && python b.py --seeds 2 --output b.json"
             " && python b.py --merge a.json b.json --output c.json")
    argvs = benchtables.split_commands(chain)
    assert [parse_flags(a).get("output") for a in argvs] == [["a.json"], ["b.json"], ["c.json"]]
    assert benchtables.display_command(chain).splitlines() == [
        "python b.py --seeds 0 1 --output a.json \\",
        "  && python b.py --seeds 2 --output b.json \\",
        "  && python b.py --merge a.json b.json --output c.json",
    ]
    assert benchtables.split_commands("python b.py --methods 'a b'") == [
        ["python", "b.py", "--methods", "a b"]]
