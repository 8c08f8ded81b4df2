"""Distillation: teacher files (factsift teach), their checks, and the mixed loss."""

import json
import logging

import pytest

from factsift.cli import main
from factsift.training.config import ConfigError
from factsift.training.distill import TeacherFileError, digest, load_teacher, teacher_rows
from factsift.training.train import WindowDataset, train

from .conftest import small_articles, write_articles
from .test_train import _config


def _net_batch(tiny_clf):
    import torch

    ids = torch.randint(5, 50, (2, 12))
    return tiny_clf.network, {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                              "sentence_ids": torch.tensor([[0] * 4 + [1] * 4 + [2] * 4] * 2),
                              "labels": torch.tensor([[0, 1, -100], [2, 3, 4]])}


def test_the_loss_mixes_gold_and_teacher_at_the_temperature(tiny_clf):
    import torch

    net, batch = _net_batch(tiny_clf)
    net.eval()
    with torch.no_grad():
        plain = net(**batch)
        logits = plain["logits"].float()
        teacher = torch.softmax(torch.randn(2, 3, 5), -1)
        teacher[0, 2] = 0  # a context sentence: no teacher row, and no gold label
        net.distill_weight, net.distill_temperature = 0.0, 2.0
        assert torch.equal(net(**batch, teacher=teacher)["loss"], plain["loss"])  # weight 0: gold only
        net.distill_weight = 0.4
        mixed = net(**batch, teacher=teacher)["loss"]
        # by hand: KL(teacher_T || student_T) * T^2 over the five labelled sentences
        rows = batch["labels"].reshape(-1) != -100
        t = torch.softmax(torch.log(teacher.reshape(-1, 5)[rows]) / 2, -1)
        s = torch.log_softmax(logits.reshape(-1, 5)[rows] / 2, -1)
        kl = (t * (t.log() - s)).sum(-1).mean() * 4
        assert torch.isclose(mixed, 0.6 * plain["loss"] + 0.4 * kl, atol=1e-5)
        # a teacher that agrees with the student costs nothing in its share of the loss
        net.distill_weight, net.distill_temperature = 1.0, 1.0
        own = torch.softmax(logits, -1)
        assert net(**batch, teacher=own)["loss"].abs() < 1e-5
        # a batch of unlabelled (transfer) sentences learns from the teacher alone
        net.distill_weight, net.distill_temperature = 0.4, 2.0
        unlabelled = dict(batch, labels=torch.full_like(batch["labels"], -100))
        alone = net(**unlabelled, teacher=teacher)["loss"]
        every = torch.ones(6, dtype=torch.bool)
        every[2] = False
        t = torch.softmax(torch.log(teacher.reshape(-1, 5)[every]) / 2, -1)
        s = torch.log_softmax(logits.reshape(-1, 5)[every] / 2, -1)
        assert torch.isclose(alone, 0.4 * (t * (t.log() - s)).sum(-1).mean() * 4, atol=1e-5)


def test_teach_writes_rows_that_training_reads(tmp_path, tiny_clf, tiny_base, seed_article, caplog):
    arts = small_articles(seed_article, 3)
    data = write_articles(tmp_path / "train.jsonl", arts)
    model = tiny_clf.save_pretrained(tmp_path / "teacher")
    out = tmp_path / "teacher.jsonl"
    assert main(["teach", "--model", str(model), "--data", str(data), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [a["id"] for a in arts]
    assert rows[0]["labels"] == list(tiny_clf.labels)
    assert len(rows[0]["probs"]) == len(arts[0]["sentences"])
    assert all(abs(sum(p) - 1) < 1e-4 for r in rows for p in r["probs"])
    # the rows are the teacher's probabilities for the gold sentences, as the saved model predicts them
    from factsift import SentenceClassifier

    again = SentenceClassifier.from_pretrained(model).predict_article(sentences=[s["text"] for s in arts[0]["sentences"]])
    assert rows[0]["probs"][0] == pytest.approx([again.sentences[0].probabilities[l] for l in tiny_clf.labels],
                                                abs=1e-5)
    # an existing output is refused, not overwritten
    before = out.read_text()
    assert main(["teach", "--model", str(model), "--data", str(data), "--output", str(out)]) == 2
    assert out.read_text() == before

    # the training windows carry each target sentence's row, nothing for context sentences
    from factsift.data.articles import load_articles

    loaded = load_articles([data])
    teacher = load_teacher([out], loaded, tiny_clf.labels)
    ds = WindowDataset(loaded, tiny_clf, teacher=teacher)
    for item in ds.items[:5]:
        w = item["window"]
        assert [r is None for r in item["teacher"]] == [t < 0 for t in w.targets]
    from factsift.training.train import Collator

    batch = Collator(tiny_clf.tokenizer.pad_token_id)(ds.items[:3])
    assert batch["teacher"].shape == (*batch["labels"].shape, 5)

    # unlabelled transfer articles get teacher rows too (teach reads unlabelled sets)
    unlabelled = [{"id": "t-1", "sentences": [{"text": s["text"]} for s in arts[1]["sentences"]]}]
    transfer = write_articles(tmp_path / "transfer.jsonl", unlabelled)
    t_out = tmp_path / "teacher-transfer.jsonl"
    assert main(["teach", "--model", str(model), "--data", str(transfer), "--output", str(t_out)]) == 0

    # and a distilled run, with the transfer set, trains and logs what it used
    cfg = _config(tmp_path / "kd", tiny_base, seed_article, **{
        "data.train": str(data), "data.teacher": f"[{out}, {t_out}]", "data.transfer": str(transfer),
        "train.distill_weight": 0.5, "train.distill_temperature": 2.0, "train.max_steps": 4})
    with caplog.at_level(logging.INFO, logger="factsift"):
        run = train(cfg)
    assert (run / "model" / "model.safetensors").is_file()
    assert "distillation: 3 training articles with teacher probabilities" in caplog.text
    assert "1 unlabelled transfer articles" in caplog.text
    assert "distilled: 0.5 of the loss" in (run / "model" / "README.md").read_text()


def test_teacher_files_that_do_not_fit_are_refused_with_the_fix(tmp_path, tiny_clf, tiny_base, seed_article):
    from factsift.data.articles import load_articles

    arts = load_articles([write_articles(tmp_path / "train.jsonl", small_articles(seed_article, 2))])
    rows = teacher_rows(tiny_clf, arts)
    labels = tiny_clf.labels

    def refused(rows_or_text, match):
        path = tmp_path / "t.jsonl"
        path.write_text(rows_or_text if isinstance(rows_or_text, str)
                        else "".join(json.dumps(r) + "\n" for r in rows_or_text))
        with pytest.raises(TeacherFileError, match=match) as info:
            load_teacher([path], arts, labels)
        assert "factsift teach" in str(info.value)

    assert set(load_teacher_ok(tmp_path, rows, arts, labels)) == {a.id for a in arts}
    with pytest.raises(TeacherFileError, match="does not exist"):
        load_teacher([tmp_path / "nowhere.jsonl"], arts, labels)
    refused(rows[:1], r"no row for 1 training article\(s\): " + arts[1].id)
    with pytest.raises(TeacherFileError, match="occurs twice in the training and transfer sets"):
        load_teacher_ok(tmp_path, rows, arts + arts[:1], labels)
    refused("{not json\n", "line 1: not valid JSON")
    refused([{"id": arts[0].id}], "needs the fields id, digest, labels and probs")
    changed = dict(rows[0], digest=digest(["another sentence"]))
    refused([changed, rows[1]], f"article '{arts[0].id}' has changed since")
    refused([dict(rows[0], labels=list(reversed(labels))), rows[1]], "are not the model's")
    refused([dict(rows[0], labels=["a", "b", "c", "d", "e"]), rows[1]], "a teacher trained on this label set")
    refused([dict(rows[0], probs=rows[0]["probs"][:-1]), rows[1]], "needs .* rows of 5 probabilities")
    refused([dict(rows[0], probs=[[0.5] * 5] + rows[0]["probs"][1:]), rows[1]], "summing to 2.500")
    refused([dict(rows[0], probs=[[float("nan")] * 5] + rows[0]["probs"][1:]), rows[1]], "not a finite number")


def load_teacher_ok(tmp_path, rows, arts, labels):
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_teacher([path], arts, labels)


def test_distillation_settings_are_checked(tmp_path, tiny_base, seed_article):
    with pytest.raises(ConfigError, match="data.teacher names no teacher file; write one with `factsift teach"):
        _config(tmp_path, tiny_base, seed_article, **{"train.distill_weight": 0.5})
    with pytest.raises(ConfigError, match="distill_weight must be between 0 and 1"):
        _config(tmp_path, tiny_base, seed_article, **{"train.distill_weight": 1.5, "data.teacher": "t.jsonl"})
    with pytest.raises(ConfigError, match="data.transfer \\(unlabelled articles\\) needs teacher probabilities"):
        _config(tmp_path, tiny_base, seed_article, **{"data.transfer": "u.jsonl"})
    with pytest.raises(ConfigError, match="distill_temperature must be positive"):
        _config(tmp_path, tiny_base, seed_article, **{"train.distill_temperature": 0})


def test_unlabelled_source_text_builds_articles_without_labels(tmp_path):
    from factsift.data.authoring import AuthoringError, parse_unlabelled

    arts = parse_unlabelled("=== ARTICLE id=u-1 outlet=wire register=politics\nHeadline\nBy A Writer\n\n"
                            "First sentence.\nSecond one.\n=== ARTICLE id=u-2 outlet=local register=crime\nOnly\n")
    assert [a["id"] for a in arts] == ["u-1", "u-2"]
    a = arts[0]
    assert [s["text"] for s in a["sentences"]] == ["Headline", "By A Writer", "First sentence.", "Second one."]
    assert all("label" not in s and a["text"][s["start"]:s["end"]] == s["text"] for s in a["sentences"])
    assert a["text"] == "Headline\nBy A Writer\n\nFirst sentence.\nSecond one."
    with pytest.raises(AuthoringError, match="text before the first"):
        parse_unlabelled("stray line\n")
    with pytest.raises(AuthoringError, match="has no sentences"):
        parse_unlabelled("=== ARTICLE id=u-1 outlet=wire register=x\n\n")


def test_transfer_articles_learn_from_the_teacher_alone(seed_article, caplog):
    from factsift.data.articles import parse_article
    from factsift.training.train import _unlabelled

    art = parse_article(small_articles(seed_article, 1)[0], "seed")
    with caplog.at_level(logging.INFO, logger="factsift"):
        out = _unlabelled([art])
    assert [s.text for s in out[0].sentences] == [s.text for s in art.sentences]
    assert all(s.label is None for s in out[0].sentences)
    assert f"{len(art.sentences)} labelled sentences there train on the teacher alone" in caplog.text
