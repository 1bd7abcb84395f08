"""The package's shape: the data path annotators -> signals -> aggregation / cascade -> label
noise -> learning -> active learning -> experiment / CLI, with no import from a lower layer to
a higher one, no import cycle between modules, nothing of the core importing
``skmollal.experimental``, and no module over 400 lines."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skmollal"

#: layer of each module (by dotted-name prefix; the longest prefix wins)
LAYERS = {
    "skmollal._validation": 0,
    "skmollal._deprecation": 0,
    "skmollal.annotators": 1,
    "skmollal.datasets": 1,
    "skmollal.demo": 1,
    "skmollal.signals": 2,
    "skmollal.aggregation": 3,
    "skmollal.cascade": 3,  # asks annotators and fuses with aggregation; used by the loop
    "skmollal.experimental": 7,  # unstable research estimators: nothing below imports them
    "skmollal.label_noise": 4,
    "skmollal.negative_learning": 5,
    "skmollal.finetune": 5,
    "skmollal.featurizers": 5,
    "skmollal.demonstrations": 5,  # few-shot examples chosen per text by embedding
    "skmollal.classifiers": 5,
    "skmollal.active_learning": 6,
    "skmollal.experimental": 7,  # unstable research estimators: nothing below imports them
    "skmollal.experiment": 7,
    "skmollal.experiment_data": 7,
    "skmollal.comparison": 7,  # the run again on majority-vote labels, beside it
    "skmollal._data_rows": 7,
    "skmollal.own_data": 7,
    "skmollal.label_checks": 7,
    "skmollal.recorded_csv": 7,
    "skmollal.settings": 7,
    "skmollal.outputs": 7,
    "skmollal.plan": 7,  # predicts a run from its seed round
    "skmollal.cli": 8,
    "skmollal.__main__": 8,
}
#: may import anything: the lazy top level and test helpers
UNLAYERED = ("skmollal", "skmollal.testing")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(name: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if name == prefix or name.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return None if best is None else best[1]


def import_target(node: ast.ImportFrom, path: Path, name: str) -> str:
    """The absolute module name a ``from ... import`` in module ``name`` (at ``path``) reads."""
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(path: Path, name: str) -> set[str]:
    """Absolute names of the skmollal modules ``path`` imports (at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("skmollal")}
        elif isinstance(node, ast.ImportFrom):
            target = import_target(node, path, name)
            if target.startswith("skmollal"):
                # "from .x import y": y may be a submodule; the module x is what counts here
                found.add(target)
    return found


def modules():
    return sorted((module_name(p), p) for p in PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [name for name, _ in modules()
               if layer_of(name) is None and not name.startswith(UNLAYERED[1])
               and name != UNLAYERED[0]]
    assert not missing, f"modules without a layer in tests/test_layers.py: {missing}"


@pytest.mark.parametrize("name,path", modules(), ids=[n for n, _ in modules()])
def test_no_import_from_a_lower_layer_to_a_higher_one(name, path):
    if name == UNLAYERED[0] or name.startswith(UNLAYERED[1]):
        return
    own = layer_of(name)
    upward = {target: layer_of(target) for target in imported_modules(path, name)
              if layer_of(target) is not None and layer_of(target) > own}
    assert not upward, f"{name} (layer {own}) imports higher layers: {upward}"


def test_layer_check_can_fail(tmp_path):
    """The checker sees a relative upward import (so the test above can fail)."""
    fake = tmp_path / "skmollal" / "signals.py"
    fake.parent.mkdir()
    fake.write_text("from .active_learning import MoLLIALoop\n")
    assert imported_modules(fake, "skmollal.signals") == {"skmollal.active_learning"}


#: the most lines a module may have
MAX_LINES = 400


def too_long(paths) -> dict[str, int]:
    """``{module: lines}`` of the modules over :data:`MAX_LINES`."""
    counts = {module_name(p): len(p.read_text().splitlines()) for p in paths}
    return {name: n for name, n in counts.items() if n > MAX_LINES}


def test_no_module_over_400_lines():
    over = too_long(PACKAGE.rglob("*.py"))
    assert not over, f"modules over {MAX_LINES} lines (split them by concept): {over}"


def test_size_check_can_fail(tmp_path):
    """A docstring that mentions the limit does not exempt a long module."""
    fake = tmp_path / "skmollal" / "long.py"
    fake.parent.mkdir()
    fake.write_text('"""Over 400 lines on purpose."""\n' + "x = 1\n" * MAX_LINES)
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "skmollal"
    try:
        assert too_long([fake]) == {"skmollal.long": MAX_LINES + 1}
    finally:
        PACKAGE = saved


def top_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The skmollal modules ``path`` imports when it is imported (statements at the top of
    the module, not inside functions): ``from . import x`` counts as importing ``x``."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            target = import_target(node, path, name)
            found |= {t for t in [target] + [f"{target}.{a.name}" for a in node.names]
                      if t in known}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    found.discard(name)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycle():
    known = {name for name, _ in modules()}
    graph = {name: top_level_imports(path, name, known) for name, path in modules()}
    assert not import_cycles(graph)


def test_cycle_check_can_fail():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
