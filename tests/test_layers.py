"""The package's layering: the data path annotators -> signals -> aggregation -> label noise
-> learning -> active learning -> experiment / CLI, with no import from a lower layer to a
higher one, and no module over ~400 lines without a reason in its docstring."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skmollal"

#: layer of each module (by dotted-name prefix; the longest prefix wins)
LAYERS = {
    "skmollal._validation": 0,
    "skmollal.annotators": 1,
    "skmollal.datasets": 1,
    "skmollal.demo": 1,
    "skmollal.signals": 2,
    "skmollal.aggregation": 3,
    "skmollal.cascade": 3,  # asks annotators and fuses with aggregation; used by the loop
    "skmollal.label_noise": 4,
    "skmollal.negative_learning": 5,
    "skmollal.finetune": 5,
    "skmollal.featurizers": 5,
    "skmollal.classifiers": 5,
    "skmollal.active_learning": 6,
    "skmollal.experiment": 7,
    "skmollal.own_data": 7,
    "skmollal.label_checks": 7,
    "skmollal.recorded_csv": 7,
    "skmollal.settings": 7,
    "skmollal.outputs": 7,
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


def imported_modules(path: Path, name: str) -> set[str]:
    """Absolute names of the skmollal modules ``path`` imports (at any depth of the file)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("skmollal")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
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


@pytest.mark.parametrize("name,path", modules(), ids=[n for n, _ in modules()])
def test_long_modules_say_why(name, path):
    lines = len(path.read_text().splitlines())
    if lines <= 420:
        return
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert "400 lines" in doc, (
        f"{name} has {lines} lines: split it, or say in its docstring why it is over 400 lines"
    )
