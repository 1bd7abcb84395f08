"""Query strategies: shapes, what they pick, and failure messages."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmollal.active_learning import (
    ActiveLearner,
    STRATEGIES,
    badge_sampling,
    bemps_kmeans_sampling,
    bemps_sampling,
    coreset_sampling,
    get_strategy,
    least_confidence,
    margin_sampling,
    max_entropy,
    mc_dropout_proba,
    noise_stability_sampling,
    random_sampling,
)


class FixedProba:
    """A 'classifier' returning given probabilities."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, float)

    def predict_proba(self, X):
        return self.proba[: len(X)]


PROBA = np.array([
    [0.98, 0.01, 0.01],  # confident
    [0.34, 0.33, 0.33],  # max entropy, least confident
    [0.452, 0.450, 0.098],  # smallest margin
    [0.70, 0.20, 0.10],
])


def test_uncertainty_strategies_pick_expected_rows():
    clf, X = FixedProba(PROBA), np.zeros((4, 1))
    assert max_entropy(clf, X)[0].tolist() == [1]
    assert least_confidence(clf, X)[0].tolist() == [1]
    assert margin_sampling(clf, X)[0].tolist() == [2]
    idx, scores = max_entropy(clf, X, n_instances=4)
    assert idx[-1] == 0 and np.all(np.diff(scores) <= 0)


def test_random_sampling_is_seeded_and_unique():
    X = np.zeros((50, 2))
    a, _ = random_sampling(None, X, 10, random_state=3)
    b, _ = random_sampling(None, X, 10, random_state=3)
    c, _ = random_sampling(None, X, 10, random_state=4)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 10


def test_unfitted_classifier_falls_back_to_random():
    idx, _ = max_entropy(LogisticRegression(), np.zeros((20, 2)), 5, random_state=0)
    assert len(set(idx.tolist())) == 5


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"bemps", "bemps_kmeans",
                                                           "noise_stability"}))
def test_batch_larger_than_pool_is_a_clear_error(name):
    clf = FixedProba(PROBA)
    with pytest.raises(ValueError, match="pool of 4 rows"):
        STRATEGIES[name](clf, np.zeros((4, 2)), n_instances=5)


def test_get_strategy():
    assert get_strategy("max-entropy") is max_entropy
    assert get_strategy(margin_sampling) is margin_sampling
    assert get_strategy("noise-stability") is noise_stability_sampling
    assert get_strategy("bemps") is bemps_sampling
    with pytest.raises(ValueError, match="unknown query strategy"):
        get_strategy("nope")


def test_registry_and_package_import_without_torch():
    code = ("import sys, skmollal.active_learning as al; "
            "al.get_strategy('bemps'); al.STRATEGIES['noise_stability']; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_coreset_picks_far_points_first():
    X = np.array([[0.0, 0], [0.1, 0], [10, 10], [5, 5], [0, 0.2], [-8, 9]])
    learner = ActiveLearner(LogisticRegression(), query_strategy=coreset_sampling,
                            X_training=np.array([[0.0, 0], [0.05, 0.05]]),
                            y_training=np.array([0, 1]))
    idx, X_q = learner.query(X, n_instances=2)
    assert idx.tolist() == [2, 5]
    # nothing labeled: still n distinct points, greedy spread
    idx, scores = coreset_sampling(None, X, 3, X_labeled=None, random_state=0)
    assert len(set(idx.tolist())) == 3


def test_coreset_uses_pipeline_embedding():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3)) * np.array([1000.0, 1.0, 1.0])
    y = (X[:, 1] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    learner = ActiveLearner(pipe, coreset_sampling, X_training=X[:10], y_training=y[:10])
    idx, _ = learner.query(X[10:], n_instances=3)
    E = learner.transform_without_estimating(X)
    idx2, _ = coreset_sampling(None, X[10:], 3, embeddings=E[10:], labeled_embeddings=E[:10])
    assert idx.tolist() == idx2.tolist()


def test_coreset_rejects_texts_without_embedding():
    with pytest.raises(TypeError, match="numeric features"):
        coreset_sampling(None, ["a", "b"], 1)


# --------------------------------------------------------------------------- torch-based
@pytest.fixture(scope="module")
def dropout_net():
    torch = pytest.importorskip("torch")
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
                                           torch.nn.Dropout(0.3), torch.nn.Linear(16, 3))

        def forward(self, X):
            return self.seq(X)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("int64") + (X[:, 1] > 1)
    net = NeuralNetClassifier(Net, criterion=torch.nn.CrossEntropyLoss, max_epochs=15,
                              lr=0.1, train_split=None, verbose=0)
    net.fit(X, y)
    return net, X


def test_mc_dropout_committee_varies(dropout_net):
    net, X = dropout_net
    P = mc_dropout_proba(net, X, n_samples=5, random_state=0)
    assert P.shape == (5, 120, 3)
    np.testing.assert_allclose(P.sum(-1), 1, atol=1e-5)
    assert P.std(axis=0).max() > 1e-3  # dropout really was active
    # the net is back in eval mode: predictions are deterministic
    np.testing.assert_allclose(net.predict_proba(X), net.predict_proba(X))


def test_bemps_prefers_rows_the_committee_disagrees_on():
    # committee of 2: agree on rows 0-2, disagree strongly on row 3
    P = np.array([
        [[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.99, 0.01]],
        [[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.01, 0.99]],
    ])
    idx, scores = bemps_sampling(None, np.zeros((4, 1)), 1, committee_proba=P,
                                 random_state=0)
    assert idx.tolist() == [3]
    assert scores[0] > 0


def test_bemps_and_noise_stability_on_a_net(dropout_net):
    net, X = dropout_net
    idx, _ = bemps_sampling(net, X, 7, n_committee=4, n_estimation=50, random_state=0)
    assert len(set(idx.tolist())) == 7
    before = net.predict_proba(X)
    idx, scores = noise_stability_sampling(net, X, 7, n_perturbations=3, noise_scale=0.05,
                                           random_state=0)
    assert len(set(idx.tolist())) == 7 and np.all(scores > 0)
    np.testing.assert_allclose(net.predict_proba(X), before)  # weights restored


def test_torch_strategies_reject_non_networks():
    clf = LogisticRegression().fit(np.eye(3), [0, 1, 2])
    with pytest.raises(TypeError, match="skorch network"):
        noise_stability_sampling(clf, np.eye(3), 1)
    with pytest.raises(TypeError, match="skorch network"):
        bemps_sampling(clf, np.eye(3), 1)


# --------------------------------------------------------------------------- diverse batches
def duplicated_uncertain_pool(n_dup=30, n_other=30):
    """``n_dup`` copies of the most uncertain row, plus distinct, slightly surer rows."""
    rng = np.random.default_rng(0)
    X = np.vstack([np.tile([0.0, 5.0], (n_dup, 1)), rng.normal(size=(n_other, 2)) * 4])
    proba = np.vstack([np.tile([0.5, 0.5], (n_dup, 1)),
                       np.column_stack([np.full(n_other, 0.6), np.full(n_other, 0.4)])])
    return X, proba


def test_kmeans_pp_select_never_repeats_a_duplicate_while_others_remain():
    from skmollal.active_learning.strategies import kmeans_pp_select

    V = np.repeat(np.eye(5) * 3, 10, axis=0)  # 5 distinct points, 10 copies each
    for seed in range(5):
        picked = kmeans_pp_select(V, 5, random_state=seed)
        assert len({tuple(v) for v in V[picked]}) == 5
    assert len(set(kmeans_pp_select(V, 12, random_state=0).tolist())) == 12  # then duplicates


def test_badge_avoids_near_duplicates_that_top_k_buys():
    X, proba = duplicated_uncertain_pool()
    clf = FixedProba(proba)
    top_idx, _ = max_entropy(clf, X, 10)
    assert (top_idx < 30).all()  # plain top-k: ten copies of the same row
    idx, scores = badge_sampling(clf, X, 10, random_state=0)
    assert len(set(idx.tolist())) == 10 and (idx < 30).sum() == 1  # one copy, nine others
    assert (scores > 0).all()
    assert get_strategy("badge") is badge_sampling


def test_badge_without_a_fitted_classifier_spreads_over_the_features():
    X, _ = duplicated_uncertain_pool()
    idx, _ = badge_sampling(LogisticRegression(), X, 8, random_state=0)
    assert len({tuple(x) for x in X[idx]}) == 8


def test_bemps_kmeans_spreads_a_batch_that_top_k_spends_on_copies():
    rng = np.random.default_rng(1)
    # committee of 3 on 40 rows: rows 0-19 identical and most disputed, 20-39 each disputed
    # in its own way, a little less
    base = np.tile([[0.95, 0.05], [0.05, 0.95], [0.5, 0.5]], (1, 1))
    P = np.empty((3, 40, 2))
    P[:, :20] = base[:, None, :]
    p = rng.uniform(0.15, 0.85, size=(3, 20))
    P[:, 20:, 0], P[:, 20:, 1] = p, 1 - p
    top_idx, _ = bemps_sampling(None, np.zeros((40, 1)), 5, committee_proba=P, random_state=0)
    assert (top_idx < 20).all()
    idx, scores = bemps_kmeans_sampling(None, np.zeros((40, 1)), 5, committee_proba=P,
                                        random_state=0, n_candidates=40)
    assert len(set(idx.tolist())) == 5 and (idx < 20).sum() <= 1
    assert get_strategy("bemps-kmeans") is bemps_kmeans_sampling
