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
