"""Calibration from gold rows and the label report, on synthetic data with known answers."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.special import softmax  # noqa: E402

from skmollal.aggregation import (  # noqa: E402
    MixtureAggregator, TwoViewMixture, expected_calibration_error, fit_view_weights,
    format_label_report, label_report, plot_label_report,
)
from skmollal.aggregation.calibration import combine_views, safe_log  # noqa: E402
from skmollal.aggregation.report import wilson_interval  # noqa: E402
from skmollal.testing import hide_labels, make_signals  # noqa: E402


def _sampled(n=4000, seed=0):
    """Logits z and labels drawn from softmax(z): softmax(z) is calibrated by design."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, (n, 4))
    p = softmax(z, axis=1)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return z, y


def test_fit_view_weights_recovers_the_temperature():
    z, y = _sampled()
    overconfident = np.log(softmax(3.0 * z, axis=1))  # temperature 1/3
    w = fit_view_weights([overconfident], y)
    assert w[0] == pytest.approx(1 / 3, rel=0.1)


def test_fit_view_weights_ignores_a_useless_view():
    z, y = _sampled(seed=1)
    noise = np.log(softmax(np.random.default_rng(2).normal(0, 2, z.shape), axis=1))
    w = fit_view_weights([np.log(softmax(z, axis=1)), noise], y)
    assert w[0] == pytest.approx(1.0, abs=0.1)
    assert w[1] < 0.05
    with pytest.raises(ValueError, match="n_gold"):
        fit_view_weights([z[:10]], y[:9])


def test_expected_calibration_error():
    z, y = _sampled(n=20000, seed=3)
    calibrated = softmax(z, axis=1)
    assert expected_calibration_error(y, calibrated) < 0.02
    assert expected_calibration_error(y, softmax(3 * z, axis=1)) > 0.08
    # by hand: two rows at confidence 0.9, one right -> |0.5 - 0.9| = 0.4
    proba = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert expected_calibration_error([0, 1], proba) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, calibrated, n_bins=0)


def test_temperature_from_gold_rows_lowers_held_out_ece():
    # an overconfident fusion: a deterministic meta-learner (hard pseudo-labels, weak
    # regularisation) on a weak panel
    from sklearn.linear_model import LogisticRegression

    S, y = make_signals(n=1500, noise=(0.6, 0.6, 0.7, 0.7), seed=5)
    yl = hide_labels(y, 100, seed=5)
    held = yl < 0
    mix = MixtureAggregator(estimator=LogisticRegression(C=100, max_iter=2000))
    tv = TwoViewMixture(mixture=mix).fit(S, yl)
    raw = expected_calibration_error(y[held], tv.mixture_.predict_proba(S[held]))
    cal = expected_calibration_error(y[held], tv.predict_proba(S[held]))
    assert cal < raw
    np.testing.assert_array_equal(tv.predict(S), tv.mixture_.predict(S))


def test_wilson_interval():
    lo, hi = wilson_interval(40, 50)
    assert lo < 0.8 < hi and 0.6 < lo and hi < 0.95
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.fixture(scope="module")
def report_case():
    # LLM 0 is right 90 % of the time, LLM 3 answers at random
    S, y = make_signals(n=800, noise=(0.1, 0.4, 0.6, 1.0), seed=7)
    yl = hide_labels(y, 80, seed=7)
    E = np.eye(3)[y] + np.random.default_rng(7).normal(0, 1.5, (800, 3))
    tv = TwoViewMixture().fit(S, yl, X_text=E)
    return S, y, yl, E, tv, label_report(tv, S, yl, E, annotator_names=list("abcd"))


def test_report_llms(report_case):
    S, y, yl, E, tv, rep = report_case
    acc = rep.llm_gold_accuracy
    assert acc[0] > acc[1] > acc[3] and acc[0] > 0.8 and acc[3] < 0.55
    assert rep.llm_confusion.shape == (4, 3, 3)
    assert rep.llm_confusion[0].sum() == (yl >= 0).sum()
    assert np.trace(rep.llm_confusion[0]) == pytest.approx(acc[0] * (yl >= 0).sum())
    assert rep.llm_influence.argmax() == 0 and rep.llm_influence[3] < rep.llm_influence[0]
    assert rep.view_weights.shape == (2,)


def test_report_accuracy_interval_and_suspects(report_case):
    S, y, yl, E, tv, rep = report_case
    held = yl < 0
    true_acc = np.mean(rep.labels[held] == y[held])
    lo, hi = rep.accuracy_interval
    assert lo <= true_acc <= hi
    assert rep.n_cv == (yl >= 0).sum()
    assert not np.isin(rep.suspects, np.flatnonzero(yl >= 0)).any()
    err_suspects = np.mean(rep.labels[rep.suspects] != y[rep.suspects])
    assert err_suspects > 2 * (1 - true_acc)
    assert np.all(np.diff(rep.suspect_confidence) >= 0)
    assert rep.suspect_views_disagree.shape == rep.suspects.shape
    text = format_label_report(rep)
    assert "estimated label accuracy" in text and "\nd " in text
    fig = plot_label_report(rep)
    assert len(fig.axes) == 2


def test_report_of_a_plain_mixture_cross_validates():
    S, y = make_signals(n=300, seed=9)
    yl = np.full_like(y, -1)
    yl[:40] = y[:40]
    mix = MixtureAggregator(max_iter=1).fit(S, yl)
    rep = label_report(mix, S, yl, n_suspects=5)
    assert rep.n_cv == 40 and rep.view_weights is None
    assert rep.suspect_views_disagree is None and len(rep.suspects) == 5
    with pytest.raises(ValueError, match="annotator_names"):
        label_report(mix, S, yl, annotator_names=["x"])
    np.testing.assert_allclose(
        combine_views([safe_log(np.full((2, 3), 1 / 3))], [2.0]), 1 / 3)
