import json

import pytest

from factsift.training.evaluate import LabelMismatchError, evaluate

from .conftest import small_articles, write_articles


@pytest.fixture()
def saved_model(tiny_clf, tmp_path):
    return tiny_clf.save_pretrained(tmp_path / "model")


def test_evaluate_writes_every_report_file(saved_model, tmp_path, seed_path, seed_article):
    train = write_articles(tmp_path / "train.jsonl", small_articles(seed_article, 3))
    m = evaluate(saved_model, [seed_path], tmp_path / "out", baseline_train=[train], dtype="float32")
    for name in ("metrics.json", "report.md", "confusion.png", "reliability.png", "predictions.jsonl", "errors.tsv"):
        assert (tmp_path / "out" / name).is_file(), name
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("macro_f1", "accuracy", "per_class", "confusion", "calibration", "per_article_accuracy", "baselines",
                "macro_f1_interval"):
        assert key in saved
    ci = saved["macro_f1_interval"]
    assert ci["groups"] == 1 and ci["low"] == ci["high"] == pytest.approx(saved["macro_f1"])  # one article
    assert set(saved["baselines"]) == {"majority", "tfidf_lr", "keyword_rules"}
    assert sum(map(sum, m["confusion"])) == 28
    report = (tmp_path / "out" / "report.md").read_text()
    assert "side by side" in report and "Most confident errors" in report
    assert (tmp_path / "out" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_raw_mode_reports_segmentation(saved_model, tmp_path, seed_path):
    m = evaluate(saved_model, [seed_path], tmp_path / "raw", mode="raw", baselines=(), dtype="float32")
    assert m["segmentation"]["sentences"]["f1"] == 1.0
    assert m["n"] == 28


def test_label_set_mismatch(saved_model, tmp_path):
    from factsift.data.articles import ArticleFormatError

    bad = write_articles(tmp_path / "bad.jsonl", [{"id": "x", "sentences": [{"text": "Hi.", "label": "rumour"}]}])
    with pytest.raises(ArticleFormatError, match="unknown label 'rumour'"):
        evaluate(saved_model, [bad], tmp_path / "o")


def test_model_with_other_labels(tiny_config, tmp_path, seed_path):
    from dataclasses import replace

    from factsift import SentenceClassifier

    clf = SentenceClassifier.build(replace(tiny_config, labels=("factual_claim", "opinion_quote")))
    with pytest.raises(LabelMismatchError, match="that the model does not know"):
        evaluate(clf, [seed_path], tmp_path / "o", baselines=())


def test_bootstrap_interval_resamples_articles():
    from factsift.training.metrics import bootstrap_macro_f1, classification_metrics

    labels = ["a", "b", "c"]
    gold = ["a", "b", "c", "a"] * 30
    pred = ["a", "b", "c", "b"] * 30
    groups = [i // 8 for i in range(len(gold))]
    ci = bootstrap_macro_f1(gold, pred, groups, labels, n=200)
    point = classification_metrics(gold, pred, labels)["macro_f1"]
    assert ci["groups"] == 15 and ci["resamples"] == 200
    assert ci["low"] <= point <= ci["high"]
    # every article alike: no spread
    assert ci["high"] - ci["low"] < 1e-9
    noisy = [p if i % 8 or g != 3 else "c" for i, (p, g) in enumerate(zip(pred, groups))]
    ci2 = bootstrap_macro_f1(gold, noisy, groups, labels, n=200)
    assert ci2["high"] - ci2["low"] > 0
    with pytest.raises(ValueError, match="same length"):
        bootstrap_macro_f1(gold, pred, groups[:-1], labels)


@pytest.fixture()
def model_with_prior(tiny_clf, tmp_path):
    tiny_clf.train_prior = {l: 0.2 for l in tiny_clf.labels}
    return tiny_clf.save_pretrained(tmp_path / "model-prior")


def test_adapting_the_prior_to_the_evaluated_articles(model_with_prior, tmp_path, seed_path):
    plain = evaluate(model_with_prior, [seed_path], tmp_path / "plain", baselines=(), dtype="float32")
    m = evaluate(model_with_prior, [seed_path], tmp_path / "adapt", baselines=(), dtype="float32", prior="adapt")
    assert "prior" not in plain
    p = m["prior"]
    assert p["mode"] == "adapt" and abs(sum(p["prior"].values()) - 1) < 1e-4
    assert p["train_prior"] == {l: 0.2 for l in p["prior"]} and abs(sum(p["gold_shares"].values()) - 1) < 1e-4
    # the records hold the re-read probabilities, and the labels follow them
    recs = [json.loads(l) for l in (tmp_path / "adapt" / "predictions.jsonl").read_text().splitlines()]
    assert all(r["pred"] == max(r["probabilities"], key=r["probabilities"].get) for r in recs)
    assert "Label prior adapted to these articles" in (tmp_path / "adapt" / "report.md").read_text()
    # a given prior is used as given
    given = {l: (0.6 if i == 0 else 0.1) for i, l in enumerate(p["prior"])}
    g = evaluate(model_with_prior, [seed_path], None, baselines=(), dtype="float32", prior=given)
    assert g["prior"]["mode"] == "given" and g["prior"]["prior"] == pytest.approx(given)


def test_adapting_needs_the_training_prior(saved_model, tmp_path, seed_path):
    with pytest.raises(ValueError, match="does not record the label distribution"):
        evaluate(saved_model, [seed_path], None, baselines=(), prior="adapt")
