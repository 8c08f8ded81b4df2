import json

import pytest

from factsift.cli import main

from .conftest import small_articles, write_articles


@pytest.fixture()
def model_dir(tiny_clf, tmp_path):
    return str(tiny_clf.save_pretrained(tmp_path / "model"))


def test_train_through_the_cli(tmp_path, tiny_base, seed_article, capsys):
    arts = write_articles(tmp_path / "a.jsonl", small_articles(seed_article, 3))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"model:\n  base_model: {tiny_base}\n  context: 1\n  max_length: 96\n  max_sentence_tokens: 40\n"
        f"data:\n  train: [{arts}]\n  dev: [{arts}]\n  test: [{arts}]\n"
        f"train:\n  max_steps: 3\n  batch_size: 2\n  precision: fp32\n"
        f"output:\n  dir: {tmp_path / 'run'}\n", encoding="utf-8")
    assert main(["train", str(cfg), "--train.learning_rate=1e-3"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"dev", "test", "train_seconds", "best_dev_macro_f1"} <= set(metrics)
    assert "--train.learning_rate=1e-3" in (tmp_path / "run" / "command.txt").read_text()
    assert "dev macro-F1" in capsys.readouterr().out
    # a second run into the same directory is refused with a clear message
    assert main(["train", str(cfg)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_train_rejects_bad_overrides(capsys):
    with pytest.raises(SystemExit):
        main(["train", "configs/default.yaml", "--lr", "3"])
    assert main(["train", "configs/default.yaml", "--train.lr=3"]) == 2
    assert "unknown key(s) 'lr'" in capsys.readouterr().err


def test_evaluate_through_the_cli(model_dir, tmp_path, seed_path, capsys):
    assert main(["evaluate", "--model", model_dir, "--data", str(seed_path), "--output", str(tmp_path / "ev"),
                 "--no-baselines", "--dtype", "float32"]) == 0
    assert "macro-F1" in capsys.readouterr().out
    assert (tmp_path / "ev" / "report.md").is_file()


@pytest.mark.parametrize("fmt", ["jsonl", "tsv", "html"])
def test_predict_formats(model_dir, tmp_path, seed_article, fmt):
    src = tmp_path / "article.txt"
    src.write_text(seed_article["text"], encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    assert main(["predict", "--model", model_dir, "--format", fmt, "--output", str(out), str(src)]) == 0
    body = out.read_text(encoding="utf-8")
    if fmt == "jsonl":
        rec = json.loads(body.splitlines()[0])
        assert len(rec["sentences"]) == 28 and set(rec["composition"]) == set(rec["sentences"][0]["probabilities"])
    elif fmt == "tsv":
        assert len(body.splitlines()) == 29
    else:
        assert body.startswith("<!doctype html>") and "title='" in body and "unverified_report" in body


def test_predict_jsonl_articles_keyed_by_id(model_dir, tmp_path, capsys):
    src = write_articles(tmp_path / "in.jsonl", [{"id": "a", "text": "One. Two."}, {"id": "b", "sentences": ["Three."]}])
    assert main(["predict", "--model", model_dir, str(src), "--dtype", "float32"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["id"] for l in lines] == ["a", "b"] and len(lines[1]["sentences"]) == 1


def test_predict_token_budget_option(model_dir, tmp_path, seed_article, capsys):
    src = tmp_path / "article.txt"
    src.write_text(seed_article["text"], encoding="utf-8")
    outs = []
    for budget in ("0", "40", "4096"):
        assert main(["predict", "--model", model_dir, "--dtype", "float32", "--max-batch-tokens", budget, str(src)]) == 0
        outs.append([s["label"] for s in json.loads(capsys.readouterr().out.splitlines()[0])["sentences"]])
    assert outs[0] == outs[1] == outs[2] and len(outs[0]) == 28
    assert main(["predict", "--model", model_dir, "--max-batch-tokens", "-5", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--max-batch-tokens" in err and "Traceback" not in err


def test_seed_article_end_to_end_from_a_directory(model_dir, tmp_path, seed_article, capsys):
    d = tmp_path / "dir"
    d.mkdir()
    (d / "seed.txt").write_text(seed_article["text"], encoding="utf-8")
    assert main(["predict", "--model", model_dir, "--format", "tsv", str(d)]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split("\t")[-1] for r in rows] == [s["text"] for s in seed_article["sentences"]]


def _file(name, data):
    def make(p):
        path = p / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        return path

    return make


def _empty_dir(p):
    (p / "empty").mkdir()
    return p / "empty"


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p / "missing.txt", "no such file or directory"),
        (_file("bin.txt", b"\xff\xfe\x00bad"), "not UTF-8"),
        (_file("e.jsonl", ""), "empty JSON Lines file"),
        (_file("x.jsonl", "[1, 2]\n"), "not an article"),
        (_file("y.jsonl", "{oops\n"), "invalid JSON"),
        (_empty_dir, "directory holds no files"),
    ],
)
def test_predict_bad_input_is_a_clear_error(model_dir, tmp_path, capsys, setup, message):
    path = setup(tmp_path)
    assert main(["predict", "--model", model_dir, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path / "none"), "-"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_jsonl_output_resumes_after_the_last_complete_article(model_dir, tmp_path):
    arts = [{"id": f"a{i}", "text": f"Sentence number {i}. Another one."} for i in range(5)]
    src = write_articles(tmp_path / "in.jsonl", arts)
    full = tmp_path / "full.jsonl"
    assert main(["predict", "--model", model_dir, "--output", str(full), str(src), "--dtype", "float32"]) == 0
    lines = full.read_text().splitlines(keepends=True)
    assert len(lines) == 5
    # an interrupted run: two complete lines and half of the third
    part = tmp_path / "part.jsonl"
    part.write_text(lines[0] + lines[1] + lines[2][:20])
    assert main(["predict", "--model", model_dir, "--output", str(part), str(src), "--dtype", "float32"]) == 0
    assert part.read_text() == full.read_text()


def test_unwritable_output_is_a_clear_error_and_the_input_is_untouched(model_dir, tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_text("The council met on Monday.", encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "out.tsv"  # a path under a regular file cannot be created
    assert main(["predict", "--model", model_dir, "--format", "tsv", "--output", str(out), str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and "Traceback" not in err
    assert src.read_text(encoding="utf-8") == "The council met on Monday."


@pytest.fixture()
def prior_model_dir(tiny_clf, tmp_path):
    tiny_clf.train_prior = {l: 0.2 for l in tiny_clf.labels}
    return str(tiny_clf.save_pretrained(tmp_path / "model-prior"))


def test_prior_estimate_then_predict_and_evaluate_with_it(prior_model_dir, tmp_path, seed_path, seed_article, capsys):
    arts = write_articles(tmp_path / "in.jsonl", small_articles(seed_article, 3))
    prior_file = tmp_path / "prior.json"
    assert main(["prior", str(arts), "--model", prior_model_dir, "--output", str(prior_file), "--dtype", "float32"]) == 0
    saved = json.loads(prior_file.read_text())
    assert abs(sum(saved["prior"].values()) - 1) < 1e-4 and saved["train_prior"]
    # --prior adapt on the same input estimates the same prior and uses it
    capsys.readouterr()
    assert main(["predict", "--model", prior_model_dir, str(arts), "--prior", "adapt", "--dtype", "float32"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.err.split("label prior estimated on the input: ", 1)[1].splitlines()[0]) == saved["prior"]
    adapted = [json.loads(l) for l in captured.out.splitlines()]
    assert main(["predict", "--model", prior_model_dir, str(arts), "--prior", str(prior_file), "--dtype", "float32"]) == 0
    assert [json.loads(l) for l in capsys.readouterr().out.splitlines()] == adapted
    assert main(["evaluate", "--model", prior_model_dir, "--data", str(seed_path), "--output", str(tmp_path / "ev"),
                 "--no-baselines", "--dtype", "float32", "--prior", "adapt"]) == 0
    assert "label prior estimated on these articles" in capsys.readouterr().out


@pytest.mark.parametrize("setup, args, message", [
    (None, ["--prior", "nowhere.json"], "no such file"),
    ("{not json", ["--prior", "{file}"], "not valid JSON"),
    ('["a"]', ["--prior", "{file}"], "expected a JSON object of label shares"),
    ('{"factual_claim": 1}', ["--prior", "{file}"], "must give a share for each of the model's labels"),
    (None, ["--prior", "adapt", "--prior-sample", "0"], "give a positive number of articles"),
])
def test_bad_prior_is_a_clear_error(prior_model_dir, tmp_path, capsys, setup, args, message):
    src = tmp_path / "a.txt"
    src.write_text("One sentence. Another one.", encoding="utf-8")
    f = tmp_path / "p.json"
    if setup is not None:
        f.write_text(setup, encoding="utf-8")
    args = [a.replace("{file}", str(f)) for a in args]
    assert main(["predict", "--model", prior_model_dir, str(src), *args]) == 2
    assert message in capsys.readouterr().err


def test_adapt_cannot_read_stdin_twice(prior_model_dir, capsys):
    assert main(["predict", "--model", prior_model_dir, "-", "--prior", "adapt"]) == 2
    assert "standard input cannot be read twice" in capsys.readouterr().err


def test_prior_command_checks_its_sample_size(prior_model_dir, tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_text("One sentence. Another one.", encoding="utf-8")
    assert main(["prior", str(src), "--model", prior_model_dir, "--max-articles", "0"]) == 2
    assert "--max-articles 0: give a positive number" in capsys.readouterr().err
