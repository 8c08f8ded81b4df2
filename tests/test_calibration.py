import json

import numpy as np
import pytest

from factsift import SentenceClassifier
from factsift.model.base import ModelNotFoundError
from factsift.model.calibration import (as_vector, estimate_prior, fit_temperature, nll, reweight, rescale,
                                        softmax)

LABELS = ("a", "b", "c")


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 4))
    true = softmax(logits, 2.0)
    gold = [rng.choice(4, p=p) for p in true]
    t = fit_temperature(logits, gold)
    assert 1.85 < t < 2.15
    assert nll(softmax(logits, t), gold) <= nll(softmax(logits, 1.0), gold)


def test_rescale_keeps_the_argmax_and_equals_softmax_of_scaled_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(50, 5))
    p = softmax(logits)
    np.testing.assert_allclose(rescale(p, 1.7), softmax(logits, 1.7), atol=1e-9)
    assert (rescale(p, 1.7).argmax(1) == p.argmax(1)).all()


def _posteriors(rng, prior_train, prior_data, n=20000):
    """A calibrated classifier over 1-D Gaussian classes: posteriors under the
    training prior, for sentences drawn under ``prior_data``."""
    means = np.array([-2.0, 0.0, 2.0])
    y = rng.choice(3, size=n, p=prior_data)
    x = rng.normal(means[y], 1.0)
    lik = np.exp(-0.5 * (x[:, None] - means[None, :]) ** 2)
    post = lik * prior_train
    return post / post.sum(1, keepdims=True), y


def test_estimate_prior_recovers_a_shifted_label_distribution():
    rng = np.random.default_rng(2)
    train, data = np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.3, 0.1])
    post, y = _posteriors(rng, train, data)
    est, iters = estimate_prior(post, train)
    np.testing.assert_allclose(est, data, atol=0.02)
    assert iters < 1000
    # re-read under the estimate, more sentences are right than under the training prior
    assert (reweight(post, train, est).argmax(1) == y).mean() > (post.argmax(1) == y).mean()


def test_estimate_prior_leaves_an_unshifted_distribution_alone():
    rng = np.random.default_rng(3)
    train = np.array([0.2, 0.3, 0.5])
    post, _ = _posteriors(rng, train, train)
    est, _ = estimate_prior(post, train)
    np.testing.assert_allclose(est, train, atol=0.02)
    np.testing.assert_allclose(reweight(post, train, train), post)


@pytest.mark.parametrize("prior, match", [
    ({"a": 0.5, "b": 0.5}, "missing: c"),
    ({"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.1}, "unknown: d"),
    ({"a": 0.5, "b": 0.5, "c": 0.0}, "share of 0"),
    ({"a": 0.5, "b": -0.5, "c": 1.0}, "non-negative"),
    ({"a": "x", "b": 0.5, "c": 0.5}, "must be numbers"),
])
def test_bad_priors_are_explained(prior, match):
    with pytest.raises(ValueError, match=match):
        as_vector(prior, LABELS)


def test_a_prior_is_normalised():
    np.testing.assert_allclose(as_vector({"a": 2, "b": 1, "c": 1}, LABELS), [0.5, 0.25, 0.25])


def _probs(pred):
    return np.array([[s.probabilities[l] for l in s.probabilities] for s in pred.sentences])


def test_temperature_changes_scores_not_labels(tiny_clf, seed_article):
    sents = [s["text"] for s in seed_article["sentences"]]
    before = tiny_clf.predict_article(sentences=sents)
    tiny_clf.set_temperature(3.0)
    after = tiny_clf.predict_article(sentences=sents)
    assert before.labels == after.labels
    np.testing.assert_allclose(_probs(after), rescale(_probs(before), 3.0), atol=1e-5)
    for bad in (0, -1, float("inf"), "warm"):
        with pytest.raises(ValueError, match="positive number"):
            tiny_clf.set_temperature(bad)


def test_prior_needs_the_training_prior(tiny_clf):
    with pytest.raises(ValueError, match="does not record the label distribution"):
        tiny_clf.set_prior({l: 0.2 for l in tiny_clf.labels})


def test_prior_round_trip_and_estimate(tiny_clf, seed_article, tmp_path):
    labels = tiny_clf.labels
    tiny_clf.train_prior = {l: 0.2 for l in labels}
    tiny_clf.set_temperature(1.5, fitted_on="dev")
    sents = [s["text"] for s in seed_article["sentences"]]
    plain = tiny_clf.predict_article(sentences=sents)
    # the training prior itself changes nothing
    tiny_clf.set_prior(tiny_clf.train_prior)
    np.testing.assert_allclose(_probs(tiny_clf.predict_article(sentences=sents)), _probs(plain), atol=1e-6)
    # a prior that favours one label re-reads the probabilities by Bayes' rule
    skew = {l: (0.6 if i == 0 else 0.1) for i, l in enumerate(labels)}
    tiny_clf.set_prior(skew)
    skewed = tiny_clf.predict_article(sentences=sents)
    expected = reweight(_probs(plain), as_vector(tiny_clf.train_prior, labels), as_vector(skew, labels))
    np.testing.assert_allclose(_probs(skewed), expected, atol=1e-5)
    assert [s.label for s in skewed.sentences] == [labels[i] for i in expected.argmax(1)]
    # the estimate ignores the prior set and sums to one
    est = tiny_clf.estimate_prior([sents, sents[:5]])
    assert set(est) == set(labels) and abs(sum(est.values()) - 1) < 1e-4
    assert tiny_clf.estimate_prior([sents[:5], sents], max_articles=1) == tiny_clf.estimate_prior([sents[:5]])
    with pytest.raises(ValueError, match="max_articles must be a positive whole number"):
        tiny_clf.estimate_prior([sents], max_articles=0)
    tiny_clf.set_prior("train")
    assert tiny_clf.prior is None
    # temperature and training prior are saved; a prior set for one collection is not
    path = tiny_clf.save_pretrained(tmp_path / "m")
    meta = json.loads((path / "config.json").read_text())
    assert meta["calibration"] == {"temperature": 1.5, "fitted_on": "dev"}
    assert meta["train_label_prior"] == tiny_clf.train_prior
    again = SentenceClassifier.from_pretrained(path, dtype="float32")
    assert again.temperature == 1.5 and again.train_prior == tiny_clf.train_prior and again.prior is None
    np.testing.assert_allclose(_probs(again.predict_article(sentences=sents)), _probs(plain), atol=1e-5)


def test_damaged_calibration_entry_is_reported(tiny_clf, tmp_path):
    path = tiny_clf.save_pretrained(tmp_path / "m")
    meta = json.loads((path / "config.json").read_text())
    meta["calibration"] = {"temperature": -2}
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelNotFoundError, match="temperature must be a positive number"):
        SentenceClassifier.from_pretrained(path)
    meta["calibration"] = {"temperature": 1.0}
    meta["train_label_prior"] = {"nope": 1.0}
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelNotFoundError, match="training prior must give a share"):
        SentenceClassifier.from_pretrained(path)
