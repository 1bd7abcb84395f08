"""Tests of NegativeLearningClassifier: the skorch classifier, sklearn compatibility."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit

from skmollal.negative_learning import (
    MASK_KEY,
    TARGET_KEY,
    WEIGHT_KEY,
    NegativeLearningClassifier,
)

from .test_loss import reference_loss

#: check_estimator checks that fail by design, with the reason.
CHECK_ESTIMATOR_XFAILS = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_ and "
        "stores dunder kwargs (iterator_train__shuffle) as attributes"
    ),
    "check_set_params": (
        "skorch's set_params interprets callbacks / optimizer params and re-initialises "
        "components, so arbitrary values (a float for callbacks) raise"
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch stochastic training: weight 2 scales a row's loss inside its batch, "
        "a repeated row changes the batches and the number of optimiser steps"
    ),
}


def make_blobs3(n=240, seed=0, noise=0.0):
    """Three well separated Gaussian blobs in 4-d, labels optionally flipped at random."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=float)
    X = (centers[y] + rng.normal(0, 1.0, (n, 4))).astype(np.float32)
    flip = rng.random(n) < noise
    y_noisy = np.where(flip, rng.integers(0, 3, n), y)
    return X, y, y_noisy


def small(**kw):
    params = dict(max_epochs=8, random_state=0, module__hidden_units=(16,), batch_size=32, lr=1e-2)
    params.update(kw)
    return NegativeLearningClassifier(**params)


# --------------------------------------------------------------------------- the classifier
def test_fit_predict_with_string_labels_and_hard_targets():
    X, y, _ = make_blobs3()
    names = np.array(["loc", "hum", "num"])[y]
    clf = small().fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["hum", "loc", "num"])
    assert set(clf.predict(X)) <= set(names)
    assert clf.score(X, names) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(1), 1)


def test_soft_targets():
    X, y, _ = make_blobs3()
    soft = np.full((len(y), 3), 0.1)
    soft[np.arange(len(y)), y] = 0.8
    clf = small().fit(X, soft)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.score(X, y) > 0.9
    named = small(classes=["a", "b", "c"]).fit(X, soft)
    assert set(named.predict(X)) <= {"a", "b", "c"}
    with pytest.raises(ValueError, match="sum to 1"):
        small().fit(X, soft * 1.5)
    with pytest.raises(ValueError, match="columns"):
        small(classes=["a", "b"]).fit(X, soft)


def test_soft_targets_are_learned_not_argmaxed():
    # every row has target (0.7, 0.3): a calibrated net predicts about 0.7 / 0.3
    X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32) * 0.01
    soft = np.tile([0.7, 0.3], (200, 1))
    clf = small(max_epochs=30, lr=1e-2).fit(X, soft)
    np.testing.assert_allclose(clf.predict_proba(X).mean(0), [0.7, 0.3], atol=0.05)


class RecordBatches(Callback):
    """Stores every batch's row ids, labels, weights and masks, per phase."""

    def initialize(self):
        self.seen = {True: [], False: []}
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        Xi, yi = batch
        self.seen[training].append({
            "id": Xi["X"][:, 0].numpy().round().astype(int),
            "y": yi.numpy(),
            "w": Xi[WEIGHT_KEY].numpy(),
            "m": Xi[MASK_KEY].numpy(),
            "t": Xi[TARGET_KEY].numpy(),
        })


def test_weights_and_masks_follow_rows_through_valid_split_and_batching():
    n = 150
    rng = np.random.default_rng(3)
    ids = np.arange(n)
    X = np.column_stack([ids, rng.normal(size=(n, 3))]).astype(np.float32)
    y = rng.integers(0, 3, n)
    w = 0.01 + ids / 1000.0
    mask = np.zeros((n, 3), bool)
    mask[ids, (y + 1 + ids % 2) % 3] = True  # a non-label class that depends on the row
    rec = RecordBatches()
    clf = small(max_epochs=2, batch_size=16, callbacks=[("rec", rec)],
                train_split=ValidSplit(5, stratified=True))
    clf.fit(X, y, sample_weight=w, negative_mask=mask)
    for phase in (True, False):
        assert rec.seen[phase], "no batches recorded"
        for b in rec.seen[phase]:
            np.testing.assert_array_equal(b["y"], y[b["id"]])
            np.testing.assert_allclose(b["w"], w[b["id"]], rtol=1e-6)
            np.testing.assert_array_equal(b["m"], mask[b["id"]])
            np.testing.assert_array_equal(b["t"].argmax(1), y[b["id"]])
    train_ids = np.concatenate([b["id"] for b in rec.seen[True]])
    valid_ids = np.concatenate([b["id"] for b in rec.seen[False]])
    assert len(valid_ids) == 2 * 30 and len(train_ids) == 2 * 120  # 2 epochs, 20% valid
    assert set(train_ids) | set(valid_ids) == set(ids) and not set(train_ids) & set(valid_ids)
    # shuffled training batches: the first epoch's order is not the row order
    assert not np.array_equal(train_ids[:120], np.sort(train_ids[:120]))


def test_recorded_train_loss_is_the_weighted_nl_loss():
    X, y, _ = make_blobs3(n=64)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.1, 2, 64)
    mask = np.zeros((64, 3), bool)
    mask[np.arange(64), (y + 1) % 3] = True
    clf = small(max_epochs=1, batch_size=64, lr=0.0, module__dropout=0.0, nl_weight=0.8)
    clf.fit(X, y, sample_weight=w, negative_mask=mask)
    with torch.no_grad():
        logits = clf.module_(torch.tensor(X)).double().numpy()
    onehot = np.eye(3)[y]
    expected = reference_loss(logits, onehot, w, mask, 0.8)
    assert clf.history[-1, "train_loss"] == pytest.approx(expected, rel=1e-5)
    plain = small(max_epochs=1, batch_size=64, lr=0.0, module__dropout=0.0).fit(X, y)
    assert plain.history[-1, "train_loss"] != pytest.approx(expected, rel=1e-3)


def test_negative_labels_lower_probability_of_those_classes():
    X, y, y_noisy = make_blobs3(n=300, noise=0.5, seed=4)
    rng = np.random.default_rng(4)
    # each row: one wrong class (w.r.t. the true label) is a known negative
    neg_class = (y + rng.integers(1, 3, len(y))) % 3
    mask = np.zeros((len(y), 3), bool)
    mask[np.arange(len(y)), neg_class] = True
    kw = dict(max_epochs=20, lr=5e-3)
    base = small(nl_weight=0.0, **kw).fit(X, y_noisy, negative_mask=mask)
    nl = small(nl_weight=1.0, **kw).fit(X, y_noisy, negative_mask=mask)
    p_base = base.predict_proba(X)[np.arange(len(y)), neg_class].mean()
    p_nl = nl.predict_proba(X)[np.arange(len(y)), neg_class].mean()
    assert p_nl < 0.8 * p_base


def test_sample_weights_change_the_fit():
    # the same inputs carry label 0 (rows 0..99) and label 1 (rows 100..199)
    rng = np.random.default_rng(5)
    X1 = rng.normal(size=(100, 2)).astype(np.float32)
    X = np.vstack([X1, X1])
    y = np.repeat([0, 1], 100)
    w = np.repeat([1.0, 0.1], 100)
    unweighted = small(max_epochs=15).fit(X, y).predict_proba(X1)[:, 0].mean()
    weighted = small(max_epochs=15).fit(X, y, sample_weight=w).predict_proba(X1)[:, 0].mean()
    assert abs(unweighted - 0.5) < 0.1
    assert weighted > 0.75


def test_nl_weight_is_one_number_schedules_belong_to_the_loop():
    X, y, _ = make_blobs3(n=60)
    with pytest.raises(ValueError, match="not a callable.*MoLLIALoop"):
        small(max_epochs=1, nl_weight=lambda e: 0.1 * e).fit(X, y)
    for bad in (-0.5, float("nan"), True, "0.4"):
        with pytest.raises(ValueError, match="nl_weight"):
            small(max_epochs=1, nl_weight=bad).fit(X, y)


def test_pipeline_routes_weights_and_negative_labels_by_default():
    """The classifier requests sample_weight / negative_mask, so a Pipeline routes them."""
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, _ = make_blobs3(n=90)
    w = np.linspace(0.1, 1.0, len(y))
    mask = np.zeros((len(y), 3), bool)
    mask[np.arange(len(y)), (y + 1) % 3] = True
    direct = small(max_epochs=3, random_state=0).fit(StandardScaler().fit_transform(X), y,
                                                     sample_weight=w, negative_mask=mask)
    with sklearn.config_context(enable_metadata_routing=True):
        scaler = StandardScaler().set_fit_request(sample_weight=False)  # sklearn's rule
        pipe = make_pipeline(scaler, small(max_epochs=3, random_state=0))
        pipe.fit(X, y, sample_weight=w, negative_mask=mask)
    np.testing.assert_allclose(pipe.predict_proba(X), direct.predict_proba(
        StandardScaler().fit_transform(X)), rtol=1e-5, atol=1e-6)


def test_partial_fit_with_classes_and_warm_start():
    X, y, _ = make_blobs3()
    clf = small(max_epochs=2)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert clf.predict_proba(X).shape == (len(X), 3)
    clf.partial_fit(X, y)
    assert len(clf.history) == 4
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, y + 5)
    # fit re-initialises unless warm_start
    clf.fit(X, y)
    assert len(clf.history) == 2


def test_random_state_reproducible_and_leaves_global_rng_alone():
    X, y, _ = make_blobs3(n=80)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = small().fit(X, y)
    after = torch.rand(1)  # fit restored the global RNG state (predicting draws from it)
    p1 = first.predict_proba(X)
    p2 = small().fit(X, y).predict_proba(X)
    np.testing.assert_allclose(p1, p2)
    assert before.item() == after.item()


def test_dict_input_and_custom_module():
    class TwoInput(torch.nn.Module):
        def __init__(self, n_classes=3):
            super().__init__()
            self.a = torch.nn.Linear(2, n_classes)
            self.b = torch.nn.Linear(2, n_classes)

        def forward(self, left, right):
            return self.a(left) + self.b(right)

    X, y, _ = make_blobs3()
    data = {"left": X[:, :2], "right": X[:, 2:]}
    clf = NegativeLearningClassifier(TwoInput, max_epochs=10, lr=1e-2, random_state=0)
    clf.fit(data, y, sample_weight=np.ones(len(y)))
    assert clf.score(data, y) > 0.8
    assert clf.module_.a.out_features == 3  # n_classes filled in from the data


def test_sklearn_pipeline_clone_set_params_gridsearch_pickle():
    X, y, _ = make_blobs3(n=120)
    mask = np.zeros((len(y), 3), bool)
    mask[np.arange(len(y)), (y + 1) % 3] = True
    pipe = make_pipeline(StandardScaler(), small(max_epochs=4))
    pipe.fit(X, y, negativelearningclassifier__negative_mask=mask,
             negativelearningclassifier__sample_weight=np.ones(len(y)))
    assert pipe.score(X, y) > 0.8
    clf = clone(small()).set_params(nl_weight=0.2, module__hidden_units=(8,), max_epochs=3)
    assert clf.get_params()["module__hidden_units"] == (8,)
    clf.fit(X, y)
    assert clf.module_.net[0].out_features == 8
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X))
    grid = GridSearchCV(small(max_epochs=3), {"nl_weight": [0.0, 0.5]}, cv=2)
    grid.fit(X, y, negative_mask=mask)
    assert grid.best_params_["nl_weight"] in (0.0, 0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sample_weight": np.ones(10)}, "sample_weight"),
        ({"sample_weight": -np.ones(60)}, "non-negative"),
        ({"negative_mask": np.zeros((60, 2), bool)}, "negative_mask"),
        ({"negative_mask": np.ones((60, 3), bool)}, "every class"),
        ({"negative_mask": np.full((60, 3), 0.5)}, "boolean"),
    ],
)
def test_bad_fit_params(kwargs, match):
    X, y, _ = make_blobs3(n=60)
    with pytest.raises(ValueError, match=match):
        small(max_epochs=1).fit(X, y, **kwargs)


def test_bad_features_and_targets():
    X, y, _ = make_blobs3(n=60)
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        small(max_epochs=1).fit(Xnan, y)
    with pytest.raises(ValueError, match="rows"):
        small(max_epochs=1).fit(X, y[:10])
    with pytest.raises(ValueError, match="continuous|Unknown label"):
        small(max_epochs=1).fit(X, y + 0.5)
    clf = small(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="reserved"):
        small(max_epochs=1).fit({"X": X, MASK_KEY: X}, y)


@parametrize_with_checks(
    [NegativeLearningClassifier(max_epochs=5, random_state=0)],
    expected_failed_checks=lambda est: CHECK_ESTIMATOR_XFAILS,
)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", ["NegativeLearningClassifier", "MLPModule", "_index_accuracy"])
def test_names_a_classifier_pickled_before_the_split_refers_to_still_load(name):
    import skmollal.negative_learning as package

    old_reference = b"cskmollal.negative_learning\n" + name.encode() + b"\n."
    assert pickle.loads(old_reference) is getattr(package, name)
