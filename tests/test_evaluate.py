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
    for key in ("macro_f1", "accuracy", "per_class", "confusion", "calibration", "per_article_accuracy", "baselines"):
        assert key in saved
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
