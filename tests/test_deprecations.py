"""Old names keep working for one release, each with a FutureWarning naming the new one."""
import importlib
import sys

import numpy as np
import pytest

from skmollal.active_learning import MoLLIAClassifier, MoLLIALoop
from skmollal.cascade import CascadePanel, MaskedAggregator
from skmollal.settings import complete_settings, loop_settings
from skmollal.testing.pool import MeanProbMixture, SpyClassifier, counting_panel, make_pool, seed_y


def test_moved_aggregation_names_warn_and_are_the_new_objects():
    import skmollal.aggregation as agg

    with pytest.warns(FutureWarning, match="skmollal.cascade.masked"):
        assert agg.MaskedAggregator is MaskedAggregator
    for module in ("skmollal.aggregation.masked", "skmollal.aggregation.cascade_seed"):
        sys.modules.pop(module, None)
        with pytest.warns(FutureWarning, match="moved to skmollal.cascade"):
            importlib.import_module(module)


def test_classifier_old_parameter_names_warn_and_work():
    X, texts, y = make_pool(60)
    clf = MoLLIAClassifier(annotators=counting_panel(), classifier=SpyClassifier(),
                           featurizer=_Identity(X, texts), mixture=MeanProbMixture(),
                           n_rounds=1, batch_size=5)
    with pytest.warns(FutureWarning, match="use panel="):
        clf.fit(texts, seed_y(y))
    assert clf.estimator_.calls_
    with pytest.warns(FutureWarning, match="use estimator_"):
        assert clf.classifier_ is clf.estimator_


def test_cascade_aggregator_and_loop_estimator_in_warn():
    with pytest.warns(FutureWarning, match="use mixture="):
        CascadePanel(counting_panel(), aggregator=MeanProbMixture())._fusion()
    X, texts, y = make_pool(30)
    spy = SpyClassifier()
    loop = MoLLIALoop(spy, counting_panel(), X, seed_y(y), texts=texts)
    with pytest.warns(FutureWarning, match="`estimator`"):
        assert loop.estimator_in is spy


@pytest.mark.parametrize("flag,expected", [
    ("negative_learning", {"nl_threshold": 0.001}),
    ("no_discrepancy", {"discrepancy": None}),
])
def test_old_command_line_switches_warn_and_map_to_the_loop_settings(flag, expected):
    cfg = complete_settings({flag: True, "discrepancy": "reference"})
    with pytest.warns(FutureWarning, match="deprecated"):
        values = loop_settings(cfg)
    for key, value in expected.items():
        assert values[key] == value


class _Identity:
    """Texts -> the pool's features (a featurizer that is a lookup)."""

    def __init__(self, X, texts):
        self.X, self.texts = X, texts

    def get_params(self, deep=True):
        return {"X": self.X, "texts": self.texts}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit_transform(self, texts):
        return self.transform(texts)

    def transform(self, texts):
        index = {t: i for i, t in enumerate(self.texts)}
        return np.asarray([self.X[index[t]] for t in texts])
