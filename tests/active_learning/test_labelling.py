"""The labelling step: chunked annotation with a callback per chunk, the text view, and the
panel's own hooks."""
import numpy as np

from skmollal.active_learning.labelling import PanelHooks, PanelLabeller, hooks_for
from skmollal.active_learning.state import LoopState
from skmollal.aggregation import MajorityVote
from skmollal.cascade import CascadePanel
from skmollal.cascade.loop_hooks import CascadeHooks
from skmollal.testing.pool import MeanProbMixture, counting_panel, make_pool


def test_annotation_saves_after_every_chunk_and_pays_each_text_once():
    X, texts, y = make_pool(30)
    panel = counting_panel()
    labeller = PanelLabeller(panel, MeanProbMixture(), texts, X, 3, chunk=4,
                             show_progress=False)
    state = LoopState(n_rows=30, n_llms=3, n_classes=3, seed_idx=[0, 1], seed_y=y[:2])
    seen = []
    labeller.annotate(state, range(10), "test", lambda costs: seen.append(state.n_annotated))
    assert seen == [4, 8, 10]
    labeller.annotate(state, range(12), "test", lambda costs: seen.append(state.n_annotated))
    assert seen[-1] == 12 and [a.calls for a in panel] == [12, 12, 12]
    labels = labeller.label(state)
    assert labels.pool_rows.tolist() == list(range(2, 12)) and labels.proba.shape == (10, 3)
    assert labeller.label(state, exclude=np.arange(6, 12)).pool_rows.tolist() == [2, 3, 4, 5]


def test_the_text_view_goes_only_to_a_mixture_that_reads_it():
    X, texts, _ = make_pool(10)
    labeller = PanelLabeller([], MajorityVote(), texts, X, 3, 4, False)
    assert labeller.text_view(MajorityVote(), np.arange(3)) == {}
    from skmollal.aggregation import TwoViewMixture

    assert labeller.text_view(TwoViewMixture(), np.arange(3))["X_text"].shape == (3, 3)
    on_texts = PanelLabeller([], None, texts, texts, 3, 4, False)
    assert on_texts.text_view(TwoViewMixture(), np.arange(3)) == {}


def test_a_panel_brings_its_own_hooks():
    assert type(hooks_for(counting_panel())) is PanelHooks
    hooks = hooks_for(CascadePanel(counting_panel()))
    assert isinstance(hooks, CascadeHooks) and not hooks.per_llm_report
    assert set(hooks.fingerprint()) == {"threshold", "order", "cost"}
