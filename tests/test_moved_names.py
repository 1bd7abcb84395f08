"""Names and modules that moved keep working for one release, with a FutureWarning."""
import importlib
import sys

import pytest

import skmollal
from skmollal import active_learning, aggregation, annotators

PACKAGES = [skmollal, aggregation, annotators, active_learning]
MOVED = [(pkg, name, home) for pkg in PACKAGES for name, home in pkg._MOVED.items()]


@pytest.mark.parametrize("package,name,home", MOVED,
                         ids=[f"{p.__name__}.{n}" for p, n, _ in MOVED])
def test_a_moved_name_warns_and_is_the_object_at_its_home(package, name, home):
    with pytest.warns(FutureWarning, match=f"import it from {home}"):
        obj = getattr(package, name)
    assert obj is getattr(importlib.import_module(home), name)
    assert name not in package.__all__


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_lists_importable_names_and_unknown_names_still_fail(package):
    for name in package.__all__:
        getattr(package, name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018


def test_from_import_of_a_moved_name_warns():
    with pytest.warns(FutureWarning, match="skmollal.experimental"):
        from skmollal import FusionSelector  # noqa: F401
    with pytest.warns(FutureWarning, match="skmollal.experimental"):
        from skmollal.aggregation import VoteAnchoredMixture  # noqa: F401


@pytest.mark.parametrize("old,new,name", [
    ("skmollal.aggregation.anchored", "skmollal.experimental.anchored", "VoteAnchoredMixture"),
    ("skmollal.aggregation.selection", "skmollal.experimental.selection", "FusionSelector"),
])
def test_a_moved_module_warns_on_import_and_holds_the_same_objects(old, new, name):
    sys.modules.pop(old, None)
    with pytest.warns(FutureWarning, match=f"moved to {new}"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_the_top_level_stays_small():
    assert len(skmollal.__all__) <= 20
