"""Ensembles of trained models: built from model directories, loaded like any model."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from factsift import SentenceClassifier
from factsift.cli import main
from factsift.model.base import ModelNotFoundError
from factsift.model.ensemble import EnsembleClassifier, build_ensemble
from factsift.training.io import OutputError

from .conftest import write_articles


@pytest.fixture()
def members(tiny_config, tmp_path):
    """Two tiny models with different random heads and adapters, saved; the second reads one more neighbour."""
    paths = []
    for seed, cfg in ((1, tiny_config), (2, dataclasses.replace(tiny_config, context=2))):
        torch.manual_seed(seed)
        clf = SentenceClassifier.build(cfg)
        with torch.no_grad():  # LoRA B starts at zero: make the adapters matter
            for name, p in clf.network.named_parameters():
                if name.endswith("lora_B"):
                    p.normal_(0, 0.2)
        clf.set_temperature(1.0 + seed / 4)
        clf.train_prior = {l: (0.6 if l == "factual_claim" else 0.1) for l in clf.labels}
        paths.append(clf.save_pretrained(tmp_path / f"m{seed}"))
    return paths


def _probs(clf, text):
    return np.array([[s.probabilities[l] for l in clf.labels] for s in clf.predict_article(text).sentences])


def test_an_ensemble_averages_its_members(members, tmp_path, seed_article):
    build_ensemble(tmp_path / "ens", members)
    ens = SentenceClassifier.from_pretrained(tmp_path / "ens", dtype="float32")
    assert isinstance(ens, EnsembleClassifier) and len(ens.members) == 2
    singles = [SentenceClassifier.from_pretrained(m, dtype="float32") for m in members]
    text = seed_article["text"]
    expected = (_probs(singles[0], text) + _probs(singles[1], text)) / 2  # each at its own temperature, own window
    got = ens.predict_article(text)
    assert np.allclose(_probs(ens, text), expected, atol=1e-6)
    assert [s.label for s in got.sentences] == [ens.labels[i] for i in expected.argmax(1)]
    assert got.composition and len(got.sentences) == len(expected)
    assert ens.predict(["One sentence alone.", "Another one."])[0].label in ens.labels
    assert ens.train_prior["factual_claim"] == pytest.approx(0.6)


def test_temperature_prior_and_batch_budget_apply_to_the_mean(members, tmp_path, seed_article):
    build_ensemble(tmp_path / "ens", members)
    ens = SentenceClassifier.from_pretrained(tmp_path / "ens", dtype="float32")
    text = seed_article["text"]
    plain = _probs(ens, text)
    ens.set_temperature(2.0)
    sharp = _probs(ens, text)
    assert np.allclose(sharp.argmax(1), plain.argmax(1))
    assert sharp.max(1).mean() < plain.max(1).mean()
    ens.set_temperature(1.0)
    ens.set_prior({l: (0.96 if l == "unverified_report" else 0.01) for l in ens.labels})
    shifted = _probs(ens, text)
    assert shifted[:, ens.labels.index("unverified_report")].mean() > plain[:, ens.labels.index("unverified_report")].mean()
    ens.set_prior(None)
    ens.max_batch_tokens = 64
    assert all(m.max_batch_tokens == 64 for m in ens.members)
    assert np.allclose(_probs(ens, text), plain, atol=1e-6)


def test_calibration_and_round_trip(members, tmp_path, seed_path, seed_article):
    ens = build_ensemble(tmp_path / "ens", members, calibrate=[seed_path])
    meta = json.loads((tmp_path / "ens" / "config.json").read_text())
    assert meta["model_type"] == "factsift-ensemble" and meta["members"] == ["members/0", "members/1"]
    assert meta["calibration"]["temperature"] == ens.temperature and meta["calibration"]["sentences"] == 28
    assert "members/1" in (tmp_path / "ens" / "README.md").read_text()
    loaded = SentenceClassifier.from_pretrained(tmp_path / "ens", dtype="float32")
    assert loaded.temperature == ens.temperature
    loaded.save_pretrained(tmp_path / "again")
    again = SentenceClassifier.from_pretrained(tmp_path / "again", dtype="float32")
    text = seed_article["text"]
    assert np.allclose(_probs(again, text), _probs(loaded, text), atol=1e-5)


def test_bad_ensembles_are_refused_with_the_fix(members, tmp_path, tiny_config):
    with pytest.raises(ValueError, match="at least 2"):
        build_ensemble(tmp_path / "one", members[:1])
    with pytest.raises(ModelNotFoundError, match="not a factsift model directory"):
        build_ensemble(tmp_path / "x", [members[0], tmp_path])
    build_ensemble(tmp_path / "ens", members)
    with pytest.raises(OutputError, match="already exists"):
        build_ensemble(tmp_path / "ens", members)
    with pytest.raises(ValueError, match="itself an ensemble"):
        build_ensemble(tmp_path / "nested", [members[0], tmp_path / "ens"])
    other = SentenceClassifier.build(dataclasses.replace(tiny_config, labels=("a", "b")))
    other.save_pretrained(tmp_path / "ab")
    with pytest.raises(ValueError, match="share one label set"):
        build_ensemble(tmp_path / "mixed", [members[0], tmp_path / "ab"])
    assert not (tmp_path / "mixed").exists() and not (tmp_path / "one").exists()
    cfg = tmp_path / "ens" / "config.json"
    meta = json.loads(cfg.read_text())
    cfg.write_text(json.dumps({**meta, "members": ["members/0", "../m1"]}))
    with pytest.raises(ModelNotFoundError, match="outside the ensemble directory"):
        SentenceClassifier.from_pretrained(tmp_path / "ens")
    cfg.write_text(json.dumps({**meta, "members": ["members/0"]}))
    with pytest.raises(ModelNotFoundError, match="at least 2 member"):
        SentenceClassifier.from_pretrained(tmp_path / "ens")


def test_ensemble_through_the_cli(members, tmp_path, seed_path, seed_article, capsys):
    out = tmp_path / "ens"
    assert main(["ensemble", str(out), *map(str, members), "--calibrate", str(seed_path)]) == 0
    assert "ensemble of 2 models" in capsys.readouterr().out
    assert main(["ensemble", str(out), *map(str, members)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(out), "--data", str(seed_path), "--output", str(tmp_path / "ev"),
                 "--no-baselines", "--dtype", "float32"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n"] == 28 and 0 <= metrics["macro_f1"] <= 1
    src = write_articles(tmp_path / "in.jsonl", [{"id": "a", "text": seed_article["text"]}])
    assert main(["predict", "--model", str(out), "--dtype", "float32", "--output", str(tmp_path / "p.jsonl"),
                 str(src)]) == 0
    row = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert len(row["sentences"]) > 5
    assert all(math.isclose(sum(s["probabilities"].values()), 1, abs_tol=1e-4) for s in row["sentences"])
