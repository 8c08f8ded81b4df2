"""Data-parallel training: the same ``factsift train`` under torchrun, two CPU
processes on the gloo backend, against the single-process run."""

import json
import os
import subprocess
import sys

import pytest

from factsift.training.config import ConfigError, load_config
from factsift.training.train import _check_batch, train

from .conftest import small_articles, write_articles


def _write_config(tmp_path, tiny_base, seed_article):
    arts = small_articles(seed_article, 3)
    tr = write_articles(tmp_path / "train.jsonl", arts)
    dv = write_articles(tmp_path / "dev.jsonl", arts[:1])
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        f"model:\n  base_model: {tiny_base}\n  context: 1\n  max_targets: 4\n  max_length: 96\n"
        f"  max_sentence_tokens: 40\n  adapter: none\n"
        f"data:\n  train: [{tr}]\n  dev: [{dv}]\n  test: [{dv}]\n"
        "train:\n  learning_rate: 3.0e-3\n  batch_size: 4\n  epochs: 30\n  early_stopping_patience: 0\n"
        "  evals_per_epoch: 1\n  logging_steps: 5\n  precision: fp32\n  device: cpu\n  threads: 1\n",
        encoding="utf-8")
    return cfg


def _torchrun(cfg, run_dir, cwd, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "factsift.cli", "train", str(cfg), f"--output.dir={run_dir}", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_torchrun_two_processes_one_run_dir_same_metrics(tmp_path, tiny_base, seed_article):
    import torch

    cfg = _write_config(tmp_path, tiny_base, seed_article)
    threads = torch.get_num_threads()
    try:
        single = train(load_config(cfg, [f"--output.dir={tmp_path / 'single'}"]))
    finally:
        torch.set_num_threads(threads)

    run = tmp_path / "ddp"
    proc = _torchrun(cfg, run, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # rank 0 alone reports, writes the run directory and holds its lock
    assert proc.stdout.count("run directory:") == 1, proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "dev.jsonl", "single", "tiny.yaml", "train.jsonl"]
    for name in ("config.yaml", "command.txt", "environment.json", "train.log", "metrics.json",
                 "predictions/test.jsonl", "model/model.safetensors", "model/README.md"):
        assert (run / name).is_file(), name
    assert len((run / "command.txt").read_text().splitlines()) == 1
    assert (run / "config.yaml").read_text() == (single / "config.yaml").read_text().replace(
        str(tmp_path / "single"), str(run))
    assert json.loads((run / "environment.json").read_text())["processes"] == 2
    ckpt = max((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in ckpt.iterdir()}  # exact resume per rank

    one, two = (json.loads((r / "metrics.json").read_text()) for r in (single, run))
    assert one["steps"] == two["steps"]  # batch_size is the global batch: same optimizer steps
    assert two["dev"]["accuracy"] > 0.8
    assert two["dev"]["macro_f1"] == pytest.approx(one["dev"]["macro_f1"], abs=0.1)

    # a second launch into the same directory fails on every rank, and the run is untouched
    before = (run / "metrics.json").stat().st_mtime_ns
    again = _torchrun(cfg, run, tmp_path)
    assert again.returncode != 0
    assert "already holds a run" in again.stderr
    assert (run / "metrics.json").stat().st_mtime_ns == before
    assert len((run / "command.txt").read_text().splitlines()) == 1


def test_global_batch_must_split_over_the_processes(monkeypatch):
    cfg = load_config(None, ["--train.batch_size=16"])
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ConfigError, match=r"batch_size=16 .* 3 processes; use --train.batch_size=15 or 18"):
        _check_batch(cfg)
    monkeypatch.setenv("WORLD_SIZE", "4")
    _check_batch(cfg)


# ------------------------------------------------------------ predict --shard
@pytest.fixture()
def model_dir(tiny_clf, tmp_path):
    return str(tiny_clf.save_pretrained(tmp_path / "model"))


@pytest.fixture()
def many_inputs(tmp_path):
    """153 articles: JSON Lines (blank lines and ids left out included), a
    directory of text files, more JSON Lines: 3 chunks of 64."""
    words = ["The council met on Monday.", "Police said the road was closed.", "It could rain, experts say.",
             "Sign up for our newsletter.", "The mayor reportedly resigned."]

    def text(k):
        return " ".join(words[(k + j) % len(words)] for j in range(1 + k % 4))

    a = tmp_path / "a.jsonl"
    a.write_text("".join(json.dumps({"id": f"a{k}", "text": text(k)} if k % 10 else {"text": text(k)}) + "\n"
                         + ("\n" if k == 40 else "") for k in range(100)), encoding="utf-8")
    d = tmp_path / "dir"
    d.mkdir()
    for k in range(3):
        (d / f"doc{k}.txt").write_text(text(k + 7), encoding="utf-8")
    b = write_articles(tmp_path / "b.jsonl", [{"id": f"b{k}", "sentences": text(k).split(". ")} for k in range(50)])
    return [str(a), str(d), str(b)]


def _predict(model_dir, inputs, *extra):
    from factsift.cli import main

    assert main(["predict", "--model", model_dir, "--dtype", "float32", *extra, *inputs]) == 0


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_shard_outputs_concatenate_to_the_single_process_output(model_dir, many_inputs, tmp_path, capsys, n):
    full = tmp_path / "full.jsonl"
    _predict(model_dir, many_inputs, "--output", str(full))
    parts = []
    for i in range(n):
        part = tmp_path / f"part-{i}.jsonl"
        _predict(model_dir, many_inputs, "--shard", f"{i}/{n}", "--output", str(part))
        parts.append(part.read_bytes())
    assert len(full.read_text().splitlines()) == 153
    assert b"".join(parts) == full.read_bytes()
    # TSV too: the header is in shard 0's output only
    capsys.readouterr()
    _predict(model_dir, many_inputs, "--format", "tsv")
    whole = capsys.readouterr().out
    pieces = []
    for i in range(n):
        _predict(model_dir, many_inputs, "--format", "tsv", "--shard", f"{i}/{n}")
        pieces.append(capsys.readouterr().out)
    assert "".join(pieces) == whole


def test_shards_are_contiguous_blocks_of_whole_chunks(many_inputs):
    from factsift.cli import CHUNK, _expand, _select_shard

    paths = _expand(many_inputs)
    blocks = [_select_shard(paths, (i, 5))[3][:2] for i in range(5)]
    assert blocks == [(0, 0), (0, 64), (64, 64), (64, 128), (128, 153)] and CHUNK == 64
    # files wholly outside a shard are never opened; the first one is entered at the shard's start
    assert _select_shard(paths, (0, 3))[:3] == (paths[:1], 0, 64)
    assert _select_shard(paths, (1, 3))[:3] == (paths, 64, 64)
    assert _select_shard(paths, (2, 3))[:3] == (paths[-1:], 25, 25)  # b.jsonl starts at article 103


def test_a_resumed_shard_is_the_uninterrupted_shard(model_dir, many_inputs, tmp_path):
    whole = tmp_path / "whole.jsonl"
    _predict(model_dir, many_inputs, "--shard", "1/2", "--output", str(whole))
    lines = whole.read_text().splitlines(keepends=True)
    assert len(lines) == 89
    part = tmp_path / "part.jsonl"
    part.write_text("".join(lines[:70]) + lines[70][:25])  # killed in the middle of article 70 of the shard
    _predict(model_dir, many_inputs, "--shard", "1/2", "--output", str(part))
    assert part.read_bytes() == whole.read_bytes()


@pytest.mark.parametrize("shard, extra, message", [
    ("2/2", [], "I must be from 0 to 1"),
    ("1/0", [], "must be at least 1"),
    ("-1/2", [], "expected I/N"),
    ("half", [], "expected I/N"),
    ("0/2", ["--format", "html"], "needs --format jsonl or tsv"),
    ("0/2", ["-"], "cannot split standard input"),
])
def test_bad_shard_is_a_clear_error(model_dir, many_inputs, capsys, shard, extra, message):
    from factsift.cli import main

    inputs = [] if "-" in extra else many_inputs
    assert main(["predict", "--model", model_dir, f"--shard={shard}", *extra, *inputs]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


@pytest.mark.slow
def test_torchrun_resume_uses_the_saved_config_on_every_rank(tmp_path, tiny_base, seed_article):
    cfg = _write_config(tmp_path, tiny_base, seed_article)
    run = tmp_path / "ddp"
    first = _torchrun(cfg, run, tmp_path, "--train.epochs=4")
    assert first.returncode == 0, first.stderr[-3000:]
    before = json.loads((run / "metrics.json").read_text())
    again = _torchrun(cfg, run, tmp_path, "--train.epochs=4", "--train.seed=99", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resuming training from checkpoint" in again.stdout + again.stderr
    assert "differs from this rank's" not in again.stderr
    assert "seed: 13" in (run / "config.yaml").read_text()
    after = json.loads((run / "metrics.json").read_text())
    assert after["dev"]["macro_f1"] == pytest.approx(before["dev"]["macro_f1"])
    assert (run / "command.txt").read_text().count("resume: ") == 1
