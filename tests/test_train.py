import json
import shutil

import pytest

from factsift import SentenceClassifier
from factsift.training.config import load_config
from factsift.training.io import RunLock, RunLockedError
from factsift.training.rundir import RunExistsError, last_checkpoint
from factsift.training.train import train

from .conftest import small_articles, write_articles


def _config(tmp_path, tiny_base, seed_article, **over):
    tmp_path.mkdir(parents=True, exist_ok=True)
    arts = small_articles(seed_article, 3)
    tr = write_articles(tmp_path / "train.jsonl", arts)
    dv = write_articles(tmp_path / "dev.jsonl", arts[:1])
    overrides = [f"--model.base_model={tiny_base}", "--model.context=1", "--model.max_targets=4",
                 "--model.max_length=96", "--model.max_sentence_tokens=40", "--model.adapter=none",
                 f"--data.train={tr}", f"--data.dev={dv}", f"--data.test={dv}",
                 "--train.learning_rate=3e-3", "--train.batch_size=4", "--train.epochs=30",
                 "--train.early_stopping_patience=0", "--train.evals_per_epoch=1", "--train.logging_steps=5",
                 "--train.precision=fp32", "--train.device=cpu", f"--output.dir={tmp_path / 'run'}"]
    overrides += [f"--{k}={v}" for k, v in over.items()]
    return load_config(None, overrides)


def _eval_losses(run_dir):
    state = last_checkpoint(run_dir) / "trainer_state.json"
    return [h["eval_loss"] for h in json.loads(state.read_text())["log_history"] if "eval_loss" in h]


def _losses(run_dir):
    state = last_checkpoint(run_dir) / "trainer_state.json"
    return [h["loss"] for h in json.loads(state.read_text())["log_history"] if "loss" in h]


def test_overfit_then_round_trip(tmp_path, tiny_base, seed_article):
    cfg = _config(tmp_path, tiny_base, seed_article)
    run = train(cfg)
    losses = _losses(run)
    assert losses[-1] < losses[0] * 0.5, losses
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dev"]["accuracy"] > 0.8
    for name in ("config.yaml", "command.txt", "environment.json", "train.log", "metrics.json",
                 "predictions/test.jsonl", "model/config.json", "model/model.safetensors", "model/README.md"):
        assert (run / name).is_file(), name
    env = json.loads((run / "environment.json").read_text())
    assert env["libraries"]["torch"] and "git_revision" in env
    # a temperature fitted on dev, and the training label prior, travel with the model
    fit = metrics["temperature_fit"]
    assert fit["temperature"] > 0 and fit["dev_nll_after"] <= fit["dev_nll_before"]
    meta = json.loads((run / "model" / "config.json").read_text())
    assert meta["calibration"]["temperature"] == fit["temperature"]
    shares = meta["train_label_prior"]
    assert abs(sum(shares.values()) - 1) < 1e-4 and shares["factual_claim"] > 0
    # the saved model predicts what the run's test predictions say
    clf = SentenceClassifier.from_pretrained(run / "model", dtype="float32")
    preds = [json.loads(l) for l in (run / "predictions" / "test.jsonl").read_text().splitlines()]
    art = small_articles(seed_article, 3)[0]
    again = clf.predict_article(sentences=[s["text"] for s in art["sentences"]])
    assert [p["pred"] for p in preds] == again.labels
    assert clf.temperature == fit["temperature"]
    for p, s in zip(preds, again.sentences):  # the run's test probabilities are the calibrated ones
        assert p["probabilities"] == pytest.approx(s.probabilities, abs=1e-5)


def test_refuses_existing_run_and_resumes(tmp_path, tiny_base, seed_article):
    cfg = _config(tmp_path, tiny_base, seed_article, **{"train.epochs": 2})
    run = train(cfg)
    first = json.loads((run / "metrics.json").read_text())
    with pytest.raises(RunExistsError, match="already holds a run; pass --resume"):
        train(cfg)
    # resuming a finished run continues from its last checkpoint and lands on the same result
    train(cfg, resume=True)
    again = json.loads((run / "metrics.json").read_text())
    assert again["dev"]["macro_f1"] == pytest.approx(first["dev"]["macro_f1"])
    assert (run / "command.txt").read_text().count("resume: ") == 1


def test_same_seed_same_metrics(tmp_path, tiny_base, seed_article):
    a = train(_config(tmp_path / "a", tiny_base, seed_article, **{"train.epochs": 3, "model.adapter": "lora",
                                                                  "train.learning_rate": 1e-2}))
    b = train(_config(tmp_path / "b", tiny_base, seed_article, **{"train.epochs": 3, "model.adapter": "lora",
                                                                  "train.learning_rate": 1e-2}))
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    assert ma["dev"]["per_class"] == mb["dev"]["per_class"]
    assert ma["temperature_fit"] == mb["temperature_fit"]


def test_second_process_is_refused(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match="is in use by pid"):
            RunLock(tmp_path).acquire()


def test_label_only_in_test_is_warned(tmp_path, tiny_base, seed_article):
    arts = small_articles(seed_article, 3)
    only_fc = [{**arts[0], "sentences": [s for s in arts[0]["sentences"] if s["label"] != "unverified_report"]}]
    for s in only_fc[0]["sentences"]:
        s.pop("start"), s.pop("end")
    only_fc[0].pop("text")
    tr = write_articles(tmp_path / "tr.jsonl", only_fc)
    te = write_articles(tmp_path / "te.jsonl", arts)
    cfg = _config(tmp_path, tiny_base, seed_article, **{"data.train": tr, "data.dev": tr, "data.test": te,
                                                          "train.max_steps": 1})
    with pytest.warns(UserWarning, match="unverified_report occur in the test split but never in train"):
        train(cfg)


def test_empty_dev_split_is_an_error(tmp_path, tiny_base, seed_article):
    (tmp_path / "empty.jsonl").write_text("")
    cfg = _config(tmp_path, tiny_base, seed_article, **{"data.dev": tmp_path / "empty.jsonl"})
    from factsift.data.articles import ArticleFormatError

    with pytest.raises(ArticleFormatError, match="contains no articles"):
        train(cfg)


def test_resume_skips_a_half_written_checkpoint(tmp_path, tiny_base, seed_article):
    cfg = _config(tmp_path, tiny_base, seed_article, **{"train.epochs": 2})
    run = train(cfg)
    good = last_checkpoint(run)
    broken = run / "checkpoints" / "checkpoint-999"
    broken.mkdir()
    (broken / "trainer_state.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"\x10\x00")  # killed mid-write
    assert last_checkpoint(run) == good


def test_collapsed_training_is_reported_with_what_to_do(caplog):
    """A run whose model predicts one label for the whole dev set gets a warning that says so
    and names a lower learning rate (seen here at 1e-3 with 6 epochs)."""
    import logging
    from types import SimpleNamespace

    import numpy as np

    from factsift.training.train import _compute_metrics

    labels = ["factual_claim", "opinion_quote", "speculation", "promotional_boilerplate", "unverified_report"]
    gold = np.array([[0, 1, 2, 3, 4, 0, 1, 2] for _ in range(5)])
    compute = _compute_metrics(labels, 1e-3)
    collapsed = np.zeros((5, 8, 5))
    collapsed[..., 1] = 1.0  # always opinion_quote
    with caplog.at_level(logging.WARNING, logger="factsift.train"):
        m = compute(SimpleNamespace(predictions=collapsed, label_ids=gold))
    assert m["macro_f1"] < 0.2
    assert "training has collapsed: the model predicts 'opinion_quote' for 100% of the dev sentences" in caplog.text
    assert "--train.learning_rate=0.0005" in caplog.text
    caplog.clear()
    healthy = np.eye(5)[gold]  # predicts the gold label
    with caplog.at_level(logging.WARNING, logger="factsift.train"):
        assert compute(SimpleNamespace(predictions=healthy, label_ids=gold))["macro_f1"] == 1.0
    assert "collapsed" not in caplog.text


def test_head_learning_rate_gets_its_own_groups():
    import torch

    from factsift.training.train import _set_head_rate

    net = torch.nn.ModuleDict({"body": torch.nn.Linear(4, 4), "head": torch.nn.Linear(4, 2)})
    decay = [net["body"].weight, net["head"].weight]
    no_decay = [net["body"].bias, net["head"].bias]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
    _set_head_rate(opt, net["head"], 5e-3)
    rates = {id(p): (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    assert rates[id(net["head"].weight)] == (5e-3, 0.01) and rates[id(net["head"].bias)] == (5e-3, 0.0)
    assert rates[id(net["body"].weight)] == (1e-3, 0.01) and rates[id(net["body"].bias)] == (1e-3, 0.0)
    assert len(rates) == 4


def test_training_with_a_head_learning_rate(tmp_path, tiny_base, seed_article):
    cfg = _config(tmp_path, tiny_base, seed_article, **{"train.head_learning_rate": 0.02, "train.max_steps": 3,
                                                       "train.warmup_ratio": 0})
    run = train(cfg)
    state = json.loads((last_checkpoint(run) / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert (run / "model" / "model.safetensors").is_file()


def test_solo_fraction_adds_sentences_without_context(tiny_base, seed_article):
    from factsift.data.articles import parse_article
    from factsift.model.classifier import ModelConfig
    from factsift.training.train import WindowDataset

    clf = SentenceClassifier.build(ModelConfig(base_model=str(tiny_base), context=1, max_targets=4, max_length=96,
                                               max_sentence_tokens=40, adapter="none"))
    arts = [parse_article(a, f"article {i}") for i, a in enumerate(small_articles(seed_article, 2))]
    n_sent = sum(len(a.sentences) for a in arts)
    plain = WindowDataset(arts, clf)
    assert plain.solo == 0
    every = WindowDataset(arts, clf, solo_fraction=1.0, seed=3)
    assert every.solo == n_sent and len(every) == len(plain) + n_sent
    solo = [it for it in every.items if len(it["window"].targets) == 1]
    assert len(solo) == n_sent
    # a solo window is [CLS] sentence [SEP] with the sentence's gold label
    for it in solo:
        (t,) = it["window"].targets
        assert it["window"].input_ids[0] == clf.tokenizer.cls_token_id
        assert it["window"].input_ids[-1] == clf.tokenizer.sep_token_id
        assert it["labels"][0] in range(len(clf.labels))
    first = solo[:len(arts[0].sentences)]
    assert all(clf.labels[it["labels"][0]] == arts[0].sentences[it["window"].targets[0]].label for it in first)
    seen = sorted(it["window"].targets[0] for it in first)
    assert seen == list(range(len(arts[0].sentences)))
    some = WindowDataset(arts, clf, solo_fraction=0.5, seed=3)
    assert 0 < some.solo < n_sent
    assert some.solo == WindowDataset(arts, clf, solo_fraction=0.5, seed=3).solo  # the seed decides


def test_noise_trains_scraped_variants_with_the_same_labels(tmp_path, tiny_base, seed_article):
    from factsift.data.articles import parse_article
    from factsift.model.classifier import ModelConfig
    from factsift.training.train import WindowDataset

    clf = SentenceClassifier.build(ModelConfig(base_model=str(tiny_base), context=1, max_targets=4, max_length=96,
                                               max_sentence_tokens=40, adapter="none"))
    arts = [parse_article(a, f"article {i}") for i, a in enumerate(small_articles(seed_article, 2))]
    plain = WindowDataset(arts, clf, solo_fraction=0.5, seed=3)
    noisy = WindowDataset(arts, clf, solo_fraction=0.5, seed=3, noise=1.0)
    assert plain.noisy == 0 and noisy.noisy > 0.8 * sum(len(a.sentences) for a in arts)
    assert noisy.solo == plain.solo  # the noise draws leave the solo draws alone
    assert [it["labels"] for it in noisy.items] == [it["labels"] for it in plain.items]
    assert [it["input_ids"] for it in noisy.items] != [it["input_ids"] for it in plain.items]
    half = WindowDataset(arts, clf, seed=3, noise=0.5)
    assert 0 < half.noisy < noisy.noisy and half.noisy == WindowDataset(arts, clf, seed=3, noise=0.5).noisy
    with pytest.raises(Exception, match="train.noise must be between 0 and 1"):
        _config(tmp_path, tiny_base, seed_article, **{"train.noise": 2})


def test_token_mask_masks_sentence_tokens_afresh_in_every_epoch(tmp_path, tiny_base, seed_article):
    from factsift.data.articles import parse_article
    from factsift.model.classifier import ModelConfig
    from factsift.training.train import WindowDataset

    clf = SentenceClassifier.build(ModelConfig(base_model=str(tiny_base), context=1, max_targets=4, max_length=96,
                                               max_sentence_tokens=40, adapter="none"))
    arts = [parse_article(a, f"article {i}") for i, a in enumerate(small_articles(seed_article, 2))]
    plain = WindowDataset(arts, clf, seed=3)
    assert all(plain[i] is plain.items[i] for i in range(len(plain)))  # 0: the windows as built
    masked = WindowDataset(arts, clf, seed=3, token_mask=0.3)
    mask_id = masked.mask_id
    assert mask_id is not None and mask_id not in {clf.tokenizer.cls_token_id, clf.tokenizer.sep_token_id}
    first = [masked[i]["window"] for i in range(len(masked))]
    assert [masked[i]["window"].input_ids for i in range(len(masked))] == [w.input_ids for w in first]
    masked.epoch = 1
    second = [masked[i]["window"] for i in range(len(masked))]
    n_sentence = n_masked = 0
    for item, w1, w2 in zip(masked.items, first, second):
        built = item["window"]
        assert w1.sentence_ids == built.sentence_ids and len(w1.input_ids) == len(built.input_ids)
        for t, m, s in zip(built.input_ids, w1.input_ids, built.sentence_ids):
            assert m == t or (m == mask_id and s >= 0)  # only sentence tokens, never [CLS] or [SEP]
            n_sentence += s >= 0
            n_masked += m != t
        assert item["window"].input_ids == built.input_ids  # the stored window is never changed
    assert 0.2 < n_masked / n_sentence < 0.4
    assert [w.input_ids for w in first] != [w.input_ids for w in second]  # each epoch masks afresh
    again = WindowDataset(arts, clf, seed=3, token_mask=0.3)
    assert [again[i]["window"].input_ids for i in range(len(again))] == [w.input_ids for w in first]  # the seed decides
    with pytest.raises(Exception, match="train.token_mask must be at least 0 and under 1"):
        _config(tmp_path, tiny_base, seed_article, **{"train.token_mask": 1})


def test_training_with_token_mask_sets_the_epoch_and_resumes_alike(tmp_path, tiny_base, seed_article):
    from types import SimpleNamespace

    from factsift.training.train import WindowDataset, _epoch_setter

    ds = SimpleNamespace(epoch=0)
    setter = _epoch_setter(ds)
    for epoch, want in ((0, 0), (1.0, 1), (2.9999999, 3), (1.5, 1)):  # 1.5: a run resumed inside its second epoch
        setter.on_epoch_begin(None, SimpleNamespace(epoch=epoch), None)
        assert ds.epoch == want
    over = {"train.token_mask": 0.2, "train.epochs": 4, "train.save_total_limit": 10}
    whole = train(_config(tmp_path / "a", tiny_base, seed_article, **over))
    assert "masked afresh in each epoch (train.token_mask)" in (whole / "train.log").read_text()
    # the same run stopped after epoch 2 (its later checkpoints and outputs gone), then resumed
    cfg = _config(tmp_path / "b", tiny_base, seed_article, **over)
    run = train(cfg)
    for ckpt in sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[2:]:
        shutil.rmtree(ckpt)
    shutil.rmtree(run / "model")
    (run / "metrics.json").unlink()
    train(cfg, resume=True)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (whole, run))
    assert a["dev"]["macro_f1"] == pytest.approx(b["dev"]["macro_f1"])
    # the resumed epochs masked the same tokens: the same training loss over steps 11-15 (the loss logged at
    # step 10 covers steps 6-10 in one run and 9-10 in the other) and the same dev loss after epochs 3 and 4
    assert _losses(whole)[-1] == pytest.approx(_losses(run)[-1], rel=1e-5)
    assert _eval_losses(whole)[-2:] == pytest.approx(_eval_losses(run)[-2:], rel=1e-5)


def test_solo_fraction_is_checked(tmp_path, tiny_base, seed_article):
    with pytest.raises(Exception, match="solo_fraction must be between 0 and 1"):
        _config(tmp_path, tiny_base, seed_article, **{"train.solo_fraction": 1.5})


def test_label_smoothing_reaches_the_loss_and_is_checked(tmp_path, tiny_base, seed_article):
    import torch
    from factsift import SentenceClassifier

    with pytest.raises(Exception, match="label_smoothing must be at least 0 and below 1"):
        _config(tmp_path, tiny_base, seed_article, **{"train.label_smoothing": 1.0})
    cfg = _config(tmp_path, tiny_base, seed_article, **{"train.label_smoothing": 0.2})
    assert cfg.train.label_smoothing == 0.2
    net = SentenceClassifier.build(cfg.model).network
    ids = torch.randint(5, 50, (2, 12))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "sentence_ids": torch.tensor([[0] * 6 + [1] * 6] * 2), "labels": torch.tensor([[0, 1], [2, 3]])}
    net.eval()
    with torch.no_grad():
        plain = net(**batch)
        net.label_smoothing = 0.2
        smooth = net(**batch)
    logp = torch.log_softmax(plain["logits"].reshape(-1, plain["logits"].shape[-1]).float(), -1)
    want = (0.8 * -logp[torch.arange(4), batch["labels"].reshape(-1)] - 0.2 * logp.mean(-1)).mean()
    assert torch.isclose(smooth["loss"], want, atol=1e-5) and not torch.isclose(smooth["loss"], plain["loss"])


def test_collapse_is_seen_in_the_training_loss_before_the_first_evaluation(caplog):
    """The loss of a collapsed model sits at the entropy of the label mix; the
    watch warns once, past the warm-up, without waiting for an evaluation."""
    import logging
    from types import SimpleNamespace

    from factsift.training.train import _collapse_watch, prior_loss

    h = prior_loss([0.3, 0.2, 0.2, 0.2, 0.1])
    assert 1.5 < h < 1.6

    def feed(losses, start=0, every=20):
        watch = _collapse_watch(h, 1e-3, warmup_steps=40)
        with caplog.at_level(logging.WARNING, logger="factsift.train"):
            for i, loss in enumerate(losses):
                watch.on_log(None, SimpleNamespace(global_step=start + (i + 1) * every), None, logs={"loss": loss})
        return watch.warned

    caplog.clear()
    assert not feed([1.6, 1.2, 0.9, 0.8, 0.7, 0.6, 0.6, 0.5, 0.5, 0.4, 0.4, 0.4])  # learning
    assert not feed([1.6] * 6)  # still in the warm-up, and 100 steps after it: too early to tell
    assert feed([1.3, 2.0, 1.7, 1.6, 1.6, 1.55, 1.6, 1.58, 1.6, 1.6, 1.57, 1.6])  # the b1-b15 collapse
    assert caplog.text.count("training has probably collapsed") == 1
    assert "--train.learning_rate=0.0005" in caplog.text


def test_attention_dropout_is_set_in_every_attention_block(tiny_clf, tmp_path, tiny_base, seed_article):
    from torch import nn

    from factsift.training.train import set_attention_dropout

    encoder = tiny_clf.network.encoder
    assert set_attention_dropout(encoder, 0.0) == 2  # the test encoder has two layers
    rates = {n: m.p for n, m in encoder.named_modules() if isinstance(m, nn.Dropout)}
    assert all(p == 0.0 for n, p in rates.items() if n.endswith("attention.self.dropout"))
    assert any(p > 0 for n, p in rates.items() if n.endswith("output.dropout"))  # hidden-state dropout stays
    assert encoder.config.attention_probs_dropout_prob == 0.0
    # through a training run: the key is read, logged and kept in the run's config
    run = train(_config(tmp_path, tiny_base, seed_article, **{"train.attention_dropout": 0, "train.epochs": 1}))
    assert "attention dropout set to 0 in 2 modules" in (run / "train.log").read_text()
    assert "attention_dropout: 0.0" in (run / "config.yaml").read_text()


def test_hidden_dropout_is_set_after_embeddings_and_every_block(tiny_clf, tmp_path, tiny_base, seed_article):
    from torch import nn

    from factsift.training.train import set_hidden_dropout

    encoder = tiny_clf.network.encoder
    # the embeddings, and each of the two layers' attention output and feed-forward output
    assert set_hidden_dropout(encoder, 0.0) == 5
    rates = {n: m.p for n, m in encoder.named_modules() if isinstance(m, nn.Dropout)}
    assert all(p == 0.0 for n, p in rates.items() if n.endswith(("output.dropout", "embeddings.dropout")))
    assert any(p > 0 for n, p in rates.items() if n.endswith("attention.self.dropout"))  # the attention's own stays
    assert encoder.config.hidden_dropout_prob == 0.0
    run = train(_config(tmp_path, tiny_base, seed_article, **{"train.hidden_dropout": 0, "train.epochs": 1}))
    assert "hidden-state dropout set to 0 in 5 modules" in (run / "train.log").read_text()
    assert "hidden_dropout: 0.0" in (run / "config.yaml").read_text()


def test_train_speed_benchmark_runs_its_variants(tmp_path, tiny_base, seed_article, capsys):
    """bench/train_speed.py on the tiny encoder: every variant timed, ratios against the first."""
    import importlib.util
    from pathlib import Path

    import yaml

    tr = write_articles(tmp_path / "train.jsonl", small_articles(seed_article, 3))
    cfg = {"model": {"base_model": tiny_base, "context": 1, "max_targets": 4, "max_length": 96,
                     "max_sentence_tokens": 40, "lora_r": 4, "lora_alpha": 8.0},
           "data": {"train": [str(tr)], "dev": [str(tr)]}, "train": {"batch_size": 2, "solo_fraction": 0.5}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    path = Path(__file__).resolve().parent.parent / "bench" / "train_speed.py"
    spec = importlib.util.spec_from_file_location("train_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    assert bench.main(["--config", str(tmp_path / "c.yaml"), "--articles", "3", "--steps", "3", "--rounds", "2",
                       "--variant", "base=", "--variant", "noattn=--train.attention_dropout=0",
                       "--variant", "top1=--model.lora_layers=1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["variants"]
    assert [r["variant"] for r in rows] == ["base", "noattn", "top1"]
    assert rows[0]["ratio_best"] == 1.0 and all(r["step_s_best"] > 0 for r in rows)
    assert rows[2]["trainable"] < rows[0]["trainable"]  # adapters in one of the two layers
    assert "| noattn |" in capsys.readouterr().out
    assert bench.main(["--config", str(tmp_path / "c.yaml"), "--variant", "bad=--train.attention_dropout=2"]) == 2


def test_init_seed_fixes_the_starting_weights_apart_from_the_seed(tmp_path, tiny_base, seed_article):
    """Runs that share train.init_seed start from the same head and adapter; train.seed alone decides it by default."""
    import torch

    from factsift.training.train import build_classifier

    def start(**over):
        cfg = _config(tmp_path / "c", tiny_base, seed_article, **{"model.adapter": "lora", **over})
        return build_classifier(cfg, []).network.state_dict()

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a if k.startswith("head.") or "lora_A" in k)

    assert same(start(**{"train.seed": 7, "train.init_seed": 13}), start(**{"train.seed": 21, "train.init_seed": 13}))
    assert same(start(**{"train.seed": 13}), start(**{"train.seed": 5, "train.init_seed": 13}))
    assert not same(start(**{"train.seed": 7}), start(**{"train.seed": 21}))
    with pytest.raises(Exception, match="init_seed: expected an integer"):
        _config(tmp_path / "d", tiny_base, seed_article, **{"train.init_seed": "x"})


def test_a_missing_input_file_is_named_and_leaves_no_run_behind(tmp_path, tiny_base, seed_article):
    """A typo in a data path fails before the run directory exists, so the corrected command runs."""
    from factsift.training.config import ConfigError

    for key, fix in (("data.train", "article set"), ("data.teacher", "factsift teach --model")):
        over = {key: str(tmp_path / "typo.jsonl")}
        if key == "data.teacher":
            over["train.distill_weight"] = 0.5
        cfg = _config(tmp_path / key, tiny_base, seed_article, **over)
        with pytest.raises(ConfigError, match=f"{key}: .*typo.jsonl does not exist.*{fix}"):
            train(cfg)
        assert not (tmp_path / key / "run").exists()


def test_probe_head_fits_the_head_on_frozen_features(tmp_path, tiny_base, seed_article):
    """LP-FT: the head becomes the logistic regression of the frozen encoder's features, the same for every
    seed (a convex fit), and fits the training sentences better than the random head it replaces."""
    import torch

    from factsift.data.articles import load_articles
    from factsift.training.probe import features, probe_head
    from factsift.training.train import Collator, WindowDataset, build_classifier

    def probed(seed):
        cfg = _config(tmp_path / f"p{seed}", tiny_base, seed_article,
                      **{"model.adapter": "lora", "train.seed": seed, "train.solo_fraction": 0.5})
        train_arts = load_articles(cfg.data.train, labels=cfg.model.labels)
        clf = build_classifier(cfg, train_arts)
        ds = WindowDataset(train_arts, clf)
        collator = Collator(clf.tokenizer.pad_token_id)
        clf.network.train()
        x, y = features(clf.network, ds, collator, autocast=False)
        assert clf.network.training  # put back as it was found
        masked = WindowDataset(train_arts, clf, token_mask=0.5)
        assert (features(clf.network, masked, collator, autocast=False)[0] == x).all()  # the text as written
        assert len(x) == len(y) == sum(len(a.sentences) for a in train_arts)
        before = clf.network.head.weight.detach().clone()
        info = probe_head(clf.network, ds, ds, collator, len(clf.labels), autocast=False)
        return clf, x, y, before, info

    clf, x, y, before, info = probed(7)
    assert info["fitted"] and info["C"] in (0.1, 1.0, 10.0) and info["train_sentences"] == len(y)
    head = clf.network.head
    assert not torch.equal(head.weight.detach(), before)
    logits = head(torch.from_numpy(x).float())
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
    assert info["dev_macro_f1"] > 0.5 and loss.item() < 1.0
    clf2, *_ = probed(21)
    assert torch.allclose(clf2.network.head.weight, head.weight, atol=1e-5)


def test_training_with_a_probed_head_records_it_and_resumes(tmp_path, tiny_base, seed_article):
    cfg = _config(tmp_path, tiny_base, seed_article, **{"train.epochs": 2, "model.adapter": "lora",
                                                       "train.learning_rate": 1e-2, "train.probe_head": True})
    run = train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["probe"]["fitted"] and set(metrics["probe"]["dev_nll_by_C"]) == {"0.1", "1.0", "10.0"}
    assert "linear probe: head fitted on" in (run / "train.log").read_text()
    assert "linear probe, then fine-tuning" in (run / "model" / "README.md").read_text()
    assert json.loads((run / "probe.json").read_text()) == metrics["probe"]
    train(cfg, resume=True)  # the checkpoint holds the head: no second probe, and the record is kept
    again = json.loads((run / "metrics.json").read_text())
    assert again["probe"] == metrics["probe"] and again["dev"]["macro_f1"] == pytest.approx(metrics["dev"]["macro_f1"])
    assert (run / "train.log").read_text().count("linear probe: head fitted on") == 1
