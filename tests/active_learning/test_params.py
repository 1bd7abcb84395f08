"""The loop's settings table: one declaration gives both front doors' signatures, docs,
validation and fingerprint."""
import inspect

import pytest

from skmollal.active_learning import MoLLIAClassifier, MoLLIALoop
from skmollal.active_learning.params import (LOOP_SETTINGS, check_loop_settings,
                                             fingerprint_settings)


def test_every_setting_is_in_both_signatures_with_its_default():
    loop = inspect.signature(MoLLIALoop).parameters
    clf = inspect.signature(MoLLIAClassifier).parameters
    for s in LOOP_SETTINGS:
        assert loop[s.name].default == s.default
        if s.classifier:
            assert clf[s.name].default == s.default
        else:
            assert s.name not in clf


def test_every_setting_is_documented_in_both_front_doors():
    for s in LOOP_SETTINGS:
        assert f"    {s.name} : {s.type}" in MoLLIALoop.__doc__
        assert (f"    {s.name} : {s.type}" in MoLLIAClassifier.__doc__) == s.classifier


def test_classifier_get_params_are_its_signature():
    params = MoLLIAClassifier().get_params()
    assert set(params) == set(inspect.signature(MoLLIAClassifier).parameters)
    assert params["batch_size"] == 50 and params["nl_threshold"] is None


@pytest.mark.parametrize("name,value", [
    ("batch_size", 0), ("batch_size", True), ("discrepancy", "sometimes"),
    ("discrepancy_weight", 1.5), ("nl_threshold", -0.1), ("nl_source", "votes"),
    ("soft_labels", "maybe"), ("review_strategy", "hard"), ("review_size", -1),
    ("discrepancy_update", "never"),
])
def test_a_bad_setting_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        check_loop_settings({name: value}, "MoLLIALoop")


def test_the_defaults_pass_and_review_needs_an_oracle():
    check_loop_settings({s.name: s.default for s in LOOP_SETTINGS}, "MoLLIALoop")
    with pytest.raises(ValueError, match="needs an oracle"):
        check_loop_settings({"review_size": 2, "oracle": None}, "MoLLIALoop")


def test_fingerprint_keeps_only_the_settings_that_change_decisions():
    values = {s.name: s.default for s in LOOP_SETTINGS}
    kept = fingerprint_settings(values)
    assert "batch_size" in kept and "nl_threshold" in kept and "relabel" in kept
    assert not {"show_progress", "output_dir", "annotate_chunk", "budget"} & set(kept)


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="batchsize"):
        MoLLIALoop(None, [], [], [], batchsize=3)
