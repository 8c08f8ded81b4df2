"""The lexical expert (model/lexical.py): its own TF-IDF transform against
scikit-learn's, its files, its weight, and its place in the classifier and
in training."""

import json
import logging
import random

import numpy as np
import pytest

from factsift.data.labels import LABELS
from factsift.model.base import ModelNotFoundError
from factsift.model.lexical import (LEXICAL_VOCAB, LEXICAL_WEIGHTS, LexicalError, LexicalExpert, fit_weight, mix,
                                    tfidf_features)
from factsift.training.config import ConfigError

from .conftest import small_articles, write_articles
from .test_train import _config

CUES = {
    "factual_claim": "The council approved {n} new homes on {d}.",
    "opinion_quote": "\"We will not back down,\" {p} told reporters.",
    "speculation": "The deal could collapse if {p} walks away.",
    "promotional_boilerplate": "Subscribe to our newsletter for more {d} news.",
    "unverified_report": "Sources say {p} is reportedly considering a bid.",
}
PEOPLE = ["the mayor", "Ms Okafor", "the union", "Mr Beaulieu", "a minister", "the board"]
DAYS = ["Monday", "Tuesday", "Friday", "local", "weekend", "business"]


def _sentences(n=200, seed=0, labels=LABELS):
    rng = random.Random(seed)
    texts, gold = [], []
    for i in range(n):
        label = labels[i % len(labels)]
        texts.append(CUES[label].format(n=rng.randint(2, 400), d=rng.choice(DAYS), p=rng.choice(PEOPLE))
                     + ("  Odd  spacing\tand CAPS ÉTÉ!" if i % 7 == 0 else ""))
        gold.append(label)
    return texts, gold


def test_the_transform_is_scikit_learns(tmp_path):
    from sklearn.linear_model import LogisticRegression

    texts, gold = _sentences()
    expert = LexicalExpert.fit(texts, gold, LABELS)
    features = tfidf_features()
    ref = LogisticRegression(max_iter=2000, C=4.0, random_state=0).fit(features.fit_transform(texts), gold)
    unseen = ["The union told reporters it could walk away on Friday.", "", "!!!", "Subscribe  now\n\nfor news",
              "reportedly reportedly reportedly the the the"]
    want = ref.predict_log_proba(features.transform(unseen))[:, [list(ref.classes_).index(l) for l in LABELS]]
    assert expert.log_proba(unseen) == pytest.approx(want, abs=1e-9)
    assert expert.log_proba(unseen) == pytest.approx(want, abs=1e-9)  # again, from the word cache
    assert expert.log_proba([]).shape == (0, 5)

    # saved and read back: the same scores (float32 on disk)
    expert.save(tmp_path)
    again = LexicalExpert.load(tmp_path, LABELS)
    assert again.log_proba(unseen) == pytest.approx(want, abs=1e-4)
    assert json.loads((tmp_path / LEXICAL_VOCAB).read_text())["labels"] == list(LABELS)


def test_labels_the_training_sentences_lack_score_lowest():
    texts, gold = _sentences(labels=LABELS[:3])
    expert = LexicalExpert.fit(texts, gold, LABELS)
    lp = expert.log_proba(["Sources say the deal is reportedly off.", "The council approved 40 homes."])
    assert np.isfinite(lp).all()
    assert np.exp(lp).sum(axis=1) == pytest.approx([1, 1])
    assert (lp[:, 3:] <= lp[:, :3].min(axis=1, keepdims=True) + 1e-12).all()
    # two labels: scikit-learn's one-row binary model becomes two rows
    two = LexicalExpert.fit(*_sentences(labels=LABELS[:2]), LABELS)
    assert two.log_proba(["We will not back down, the mayor told reporters."]).argmax() == 1

    with pytest.raises(LexicalError, match="at least two labels"):
        LexicalExpert.fit(["One sentence.", "Another."], ["factual_claim"] * 2, LABELS)
    with pytest.raises(LexicalError, match="no usable terms"):
        LexicalExpert.fit(["a", "b"], ["factual_claim", "speculation"], LABELS)


def test_damaged_files_are_refused_with_the_fix(tmp_path):
    expert = LexicalExpert.fit(*_sentences(), LABELS)
    expert.save(tmp_path)
    with pytest.raises(LexicalError, match="labels"):
        LexicalExpert.load(tmp_path, LABELS[::-1])
    (tmp_path / LEXICAL_WEIGHTS).write_bytes(b"\0" * 10)
    with pytest.raises(LexicalError, match="cannot be read.*re-copy"):
        LexicalExpert.load(tmp_path, LABELS)
    (tmp_path / LEXICAL_WEIGHTS).unlink()
    with pytest.raises(LexicalError, match="missing"):
        LexicalExpert.load(tmp_path, LABELS)


def test_the_weight_is_the_one_of_lowest_log_loss():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 5, 400)
    # a network that is right 70% of the time, sure of itself either way
    net = np.full((400, 5), 0.02)
    guess = np.where(rng.random(400) < 0.7, gold, (gold + 1) % 5)
    net[np.arange(400), guess] = 0.92
    useless = np.log(np.full((400, 5), 0.2))
    w, info = fit_weight(net, useless, gold)
    assert w > 0  # a flat expert still tempers an overconfident network
    helpful = np.log(np.where(np.eye(5)[gold] > 0, 0.6, 0.1))
    w_help, info_help = fit_weight(net, helpful, gold)
    assert w_help > w and info_help["nll_with"] < info_help["nll_without"]
    harmful = np.log(np.where(np.eye(5)[(gold + 2) % 5] > 0, 0.96, 0.01))
    calibrated = np.where(np.eye(5)[gold] > 0, 0.9, 0.025)
    assert fit_weight(calibrated, harmful, gold)[0] == 0.0
    # the mix is a product of experts, row by row
    p = mix(np.log(calibrated[:2]), helpful[:2], 0.3)
    q = calibrated[:2] ** 0.7 * np.exp(helpful[:2]) ** 0.3
    assert p == pytest.approx(q / q.sum(axis=1, keepdims=True))


def test_the_classifier_mixes_saves_and_loads_the_expert(tmp_path, tiny_clf, seed_article):
    from factsift import SentenceClassifier

    sents = [s["text"] for s in seed_article["sentences"]]
    alone = tiny_clf.predict_article(sentences=sents)
    expert = LexicalExpert.fit(*_sentences(), LABELS)
    tiny_clf.set_lexical(expert, 0.4, weight_fitted_on="dev")
    mixed = tiny_clf.predict_article(sentences=sents)
    lex = expert.log_proba(sents)
    for k in (0, 5, 11):
        net = np.log([alone.sentences[k].probabilities[l] for l in LABELS])
        want = mix(net[None], lex[k][None], 0.4)[0]
        assert [mixed.sentences[k].probabilities[l] for l in LABELS] == pytest.approx(want, abs=1e-6)
    # independent sentences are mixed too; removing the expert undoes it
    with_expert = tiny_clf.predict(sents[:2])[0].probabilities
    tiny_clf.set_lexical(None, 0)
    assert tiny_clf.lexical is None and tiny_clf.predict_article(sentences=sents) == alone
    assert tiny_clf.predict(sents[:2])[0].probabilities != pytest.approx(with_expert)
    tiny_clf.set_lexical(expert, 0.4, weight_fitted_on="dev")

    path = tiny_clf.save_pretrained(tmp_path / "m")
    meta = json.loads((path / "config.json").read_text())
    assert meta["lexical"] == {"weight": 0.4, "weight_fitted_on": "dev"}
    loaded = SentenceClassifier.from_pretrained(path, dtype="float32")
    assert loaded.lexical_weight == 0.4
    again = loaded.predict_article(sentences=sents)
    assert [s.label for s in again.sentences] == [s.label for s in mixed.sentences]
    assert again.sentences[3].probabilities["speculation"] == pytest.approx(
        mixed.sentences[3].probabilities["speculation"], abs=1e-4)

    # a prior re-reads the mixed probabilities
    loaded.train_prior = {l: 0.2 for l in LABELS}
    loaded.set_prior({"factual_claim": 0.6, "opinion_quote": 0.1, "speculation": 0.1,
                      "promotional_boilerplate": 0.1, "unverified_report": 0.1})
    assert loaded.predict_article(sentences=sents).sentences[0].probabilities != again.sentences[0].probabilities

    with pytest.raises(ValueError, match="from 0 to 1"):
        loaded.set_lexical(expert, 1.5)
    with pytest.raises(ValueError, match="labels"):
        loaded.set_lexical(LexicalExpert.fit(*_sentences(), LABELS[::-1]), 0.2)

    (path / LEXICAL_VOCAB).unlink()
    with pytest.raises(ModelNotFoundError, match="entry 'lexical'.*missing"):
        SentenceClassifier.from_pretrained(path)


def test_training_fits_the_expert_and_its_weight(tmp_path, tiny_base, seed_article, caplog):
    arts = small_articles(seed_article, 3)
    # enough distinct sentences for the document-frequency cuts: the seed article and the synthetic ones
    texts, gold = _sentences(60)
    arts.append({"id": "synthetic", "sentences": [{"text": t, "label": g} for t, g in zip(texts, gold)]})
    data = write_articles(tmp_path / "train-lex.jsonl", arts)
    cfg = _config(tmp_path / "lex", tiny_base, seed_article, **{
        "data.train": str(data), "train.lexical_expert": "true", "train.max_steps": 3})
    from factsift import SentenceClassifier
    from factsift.training.train import train

    with caplog.at_level(logging.INFO, logger="factsift"):
        run = train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["lexical"]["weight_fitted_on"] == "dev"
    assert 0 <= metrics["lexical"]["weight"] <= 0.6
    assert metrics["lexical"]["sentences"] == sum(len(a["sentences"]) for a in arts)
    assert "lexical expert:" in caplog.text and "fitted on dev" in caplog.text
    assert (run / "model" / LEXICAL_WEIGHTS).is_file()
    assert "Lexical expert: TF-IDF" in (run / "model" / "README.md").read_text()
    clf = SentenceClassifier.from_pretrained(run / "model")
    assert clf.lexical is not None and clf.lexical_weight == metrics["lexical"]["weight"]

    # a fixed weight skips the fit
    fixed = _config(tmp_path / "lex-fixed", tiny_base, seed_article, **{
        "data.train": str(data), "train.lexical_expert": "true", "train.lexical_weight": 0.2, "train.max_steps": 2})
    run = train(fixed)
    assert json.loads((run / "metrics.json").read_text())["lexical"]["weight"] == 0.2


def test_a_corpus_too_small_for_the_expert_trains_without_it(tmp_path, tiny_base, seed_article, caplog):
    cfg = _config(tmp_path, tiny_base, seed_article, **{"train.lexical_expert": "true", "train.max_steps": 2})
    from factsift.training.train import fit_lexical

    class Stub:
        labels = LABELS

        def set_lexical(self, *a, **k):
            raise AssertionError("no expert should be set")

    art = type("A", (), {"sentences": [type("S", (), {"text": "x", "label": "factual_claim"})()]})()
    with caplog.at_level(logging.WARNING, logger="factsift"):
        assert fit_lexical(Stub(), [art], [], None)["fitted"] is False
    assert "no lexical expert" in caplog.text
    assert cfg.train.lexical_expert is True


def test_the_weight_setting_is_checked(tmp_path, tiny_base, seed_article):
    with pytest.raises(ConfigError, match="lexical_weight"):
        _config(tmp_path, tiny_base, seed_article, **{"train.lexical_weight": 1.5})


def test_ensemble_members_keep_their_experts(tmp_path, tiny_clf, tiny_config, seed_article):
    import torch

    from factsift import SentenceClassifier
    from factsift.model.ensemble import build_ensemble

    expert = LexicalExpert.fit(*_sentences(), LABELS)
    tiny_clf.set_lexical(expert, 0.5)
    a = tiny_clf.save_pretrained(tmp_path / "a")
    torch.manual_seed(1)
    b = SentenceClassifier.build(tiny_config).save_pretrained(tmp_path / "b")
    build_ensemble(tmp_path / "ens", [a, b])
    ens = SentenceClassifier.from_pretrained(tmp_path / "ens", dtype="float32")
    assert ens.members[0].lexical_weight == 0.5 and ens.members[1].lexical is None
    sents = [s["text"] for s in seed_article["sentences"]][:6]
    got = ens.predict_article(sentences=sents).sentences[2].probabilities
    one, two = (SentenceClassifier.from_pretrained(p, dtype="float32").predict_article(sentences=sents)
                for p in (a, b))
    want = [(one.sentences[2].probabilities[l] + two.sentences[2].probabilities[l]) / 2 for l in LABELS]
    assert [got[l] for l in LABELS] == pytest.approx(want, abs=1e-4)
    with pytest.raises(ValueError, match="members carry their own"):
        ens.set_lexical(expert, 0.2)
    ens.set_lexical(None)
    assert all(m.lexical is None for m in ens.members)


def test_the_cli_can_leave_the_expert_out(tmp_path, tiny_clf, seed_path, capsys):
    from factsift.cli import main

    tiny_clf.set_lexical(LexicalExpert.fit(*_sentences(), LABELS), 0.6)
    model = tiny_clf.save_pretrained(tmp_path / "m")
    out = {}
    for flag in ([], ["--no-lexical"]):
        assert main(["evaluate", "--model", str(model), "--data", str(seed_path), "--output",
                     str(tmp_path / f"ev{len(flag)}"), "--no-baselines", "--dtype", "float32", *flag]) == 0
        out[bool(flag)] = json.loads((tmp_path / f"ev{len(flag)}" / "metrics.json").read_text())
        assert main(["predict", str(seed_path), "--model", str(model), "--dtype", "float32", "--output",
                     str(tmp_path / f"p{len(flag)}.jsonl"), *flag]) == 0
    assert out[True]["lexical"].startswith("left out") and "lexical" not in out[False]
    assert out[True]["calibration"] != out[False]["calibration"]
    first = [json.loads(line) for line in (tmp_path / "p0.jsonl").read_text().splitlines()]
    second = [json.loads(line) for line in (tmp_path / "p1.jsonl").read_text().splitlines()]
    assert first[0]["sentences"][0]["probabilities"] != second[0]["sentences"][0]["probabilities"]
