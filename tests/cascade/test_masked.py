"""MaskedAggregator: one model per set of asked LLMs, the default mixture included."""
import numpy as np

from skmollal.aggregation import MixtureAggregator
from skmollal.cascade import MaskedAggregator
from skmollal.testing.signals import make_signals


def test_the_default_fusion_is_the_mixture_and_fits_partial_panels():
    S, y = make_signals(n=120, n_llms=3, n_classes=2, noise=(0.2, 0.3, 0.4), seed=0)
    S = np.array(S, dtype=float)
    S[60:, 2] = np.nan  # the third LLM was not asked about half the texts
    y_seed = np.where(np.arange(120) % 4 == 0, y, -1)
    model = MaskedAggregator().fit(S, y_seed)
    assert all(isinstance(m, MixtureAggregator) for m in model.estimators_)
    proba = model.predict_proba(S)
    assert proba.shape == (120, 2) and np.allclose(proba.sum(1), 1)
