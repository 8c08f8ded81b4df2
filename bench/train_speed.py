"""Training-speed benchmark: optimizer steps of training recipes side by side,
in one process, on the same windows of the training corpus.

    .venv/bin/python bench/train_speed.py [--config configs/default.yaml] [--articles 40] [--steps 0] [--context-only]
                                          [--rounds 3] [--variant NAME=OVERRIDES ...] [--json FILE]

Each variant is the config with some overrides (``--train.attention_dropout=0.1``
and so on, as on the ``factsift train`` command line), built by the same code
as ``factsift train`` (``training/train.py: build_classifier``) from the same
seed. Every variant trains on the same batches: by default one epoch over
``--articles`` training articles, that is every window of them (solo
windows included, as ``train.solo_fraction`` says), grouped by length as the
Trainer's sampler groups them; ``--steps N`` draws N of those batches at
random instead (a few batches misrepresent an epoch: most of a step's time
goes to the long windows, and a draw of a dozen batches may hold none), and
``--context-only`` leaves out the single-sentence windows. One timed pass is a forward and backward pass and
an AdamW step per batch, under the config's precision (bf16 autocast on CPUs
with AMX or AVX512-BF16). Passes are interleaved, one of each variant in turn,
``--rounds`` times, because this machine's speed drifts by up to 1.4x over
minutes; the ratios to the first variant (best against best, and the median
of each round's ratio) are what to read, not the absolute seconds.

Default variants: ``default`` (the config as written), ``attention-dropout-0.1``
(the base model's own attention dropout, the recipe before session 10),
``lora-layers-4`` (adapters in the top four layers only),
``hidden-dropout-0.1`` (the base model's own hidden-state dropout, the recipe
before session 11).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VARIANTS = {
    "default": [],
    "attention-dropout-0.1": ["--train.attention_dropout=0.1"],
    "lora-layers-4": ["--model.lora_layers=4"],
    "hidden-dropout-0.1": ["--train.hidden_dropout=0.1"],
}


def _batches(config, clf, articles: int, steps: int, seed: int = 0, context_only: bool = False):
    from factsift.data.articles import load_articles
    from factsift.training.train import Collator, WindowDataset

    arts = load_articles([str(ROOT / p) if not Path(p).is_absolute() else p for p in config.data.train],
                         labels=config.model.labels)
    random.Random(seed).shuffle(arts)
    ds = WindowDataset(arts[:articles], clf, config.train.solo_fraction, config.train.seed, config.train.noise)
    items = [it for it in ds.items if not context_only or len(it["window"].targets) > 1]
    items = sorted(items, key=lambda it: len(it["input_ids"]))
    size = config.train.batch_size
    groups = [items[i:i + size] for i in range(0, len(items), size)]
    picked = range(len(groups)) if steps <= 0 else sorted(random.Random(seed + 1).sample(range(len(groups)), min(steps, len(groups))))
    collate = Collator(clf.tokenizer.pad_token_id)
    batches = [collate(groups[i]) for i in picked]
    solo = sum(1 for i in picked if all(len(it["window"].targets) == 1 for it in groups[i]))
    return batches, {"windows": len(ds), "solo_windows": ds.solo, "steps": len(batches), "solo_steps": solo,
                     "tokens_per_step": statistics.mean(b["input_ids"].numel() for b in batches)}


def _autocast(config):
    """What the Trainer does on CPU: bf16 autocast where the config asks for bf16 and the CPU has it."""
    import torch

    from factsift.training.train import _precision

    if _precision(config, "cpu").get("bf16"):
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    p.add_argument("--articles", type=int, default=40, help="training articles whose windows are trained on")
    p.add_argument("--steps", type=int, default=0,
                   help="batches (optimizer steps) per timed pass, drawn at random; 0 (default) = all of them, "
                        "one epoch over --articles articles")
    p.add_argument("--rounds", type=int, default=3, help="timed passes of each variant, interleaved")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=OVERRIDES",
                   help="a variant: a name, '=', and space-separated overrides (repeatable; replaces the defaults)")
    p.add_argument("--context-only", action="store_true",
                   help="time only windows of several sentences (leave out the single-sentence solo windows)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    import torch

    from factsift.training.config import ConfigError, load_config
    from factsift.training.train import build_classifier

    variants = dict(DEFAULT_VARIANTS)
    if args.variant:
        variants = {}
        for spec in args.variant:
            name, _, over = spec.partition("=")
            variants[name.strip()] = over.split()
    built = {}
    info = None
    for name, overrides in variants.items():
        try:
            config = load_config(args.config, overrides)
        except ConfigError as exc:
            print(f"variant {name}: {exc}", file=sys.stderr)
            return 2
        clf = build_classifier(config, [])
        net = clf.network
        net.train()
        params = [q for q in net.parameters() if q.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.train.learning_rate, weight_decay=config.train.weight_decay)
        if info is None:  # the batches of the first variant serve all (windows do not depend on the variants here)
            batches, info = _batches(config, clf, args.articles, args.steps, context_only=args.context_only)
        built[name] = (net, optimizer, _autocast(config), sum(q.numel() for q in params))
    print(f"{info['steps']} steps per pass ({info['solo_steps']} of single sentences), "
          f"{info['tokens_per_step']:.0f} token slots per step; torch threads {torch.get_num_threads()}")

    def one_pass(net, optimizer, autocast) -> float:
        start = time.perf_counter()
        for batch in batches:
            with autocast():
                out = net(**batch)
            out["loss"].backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    for net, optimizer, autocast, _ in built.values():  # warm-up: one step each, untimed
        with autocast():
            out = net(**batches[0])
        out["loss"].backward()
        optimizer.zero_grad(set_to_none=True)
    times: dict[str, list[float]] = {name: [] for name in built}
    for r in range(args.rounds):
        for name, (net, optimizer, autocast, _) in built.items():
            times[name].append(one_pass(net, optimizer, autocast))
        print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items()), flush=True)

    first = next(iter(built))
    rows = []
    print(f"\n| variant | trainable parameters | s per step (best) | s per step (median) | best vs {first} | median of round ratios |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, t in times.items():
        best, median = min(t) / len(batches), statistics.median(t) / len(batches)
        ratio_best = min(t) / min(times[first])
        ratio_median = statistics.median(a / b for a, b in zip(t, times[first]))
        rows.append({"variant": name, "overrides": variants[name], "trainable": built[name][3], "step_s_best": best,
                     "step_s_median": median, "ratio_best": ratio_best, "ratio_median": ratio_median})
        print(f"| {name} | {built[name][3]:,} | {best:.3f} | {median:.3f} | {ratio_best:.2f} | {ratio_median:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"batches": info, "rounds": args.rounds, "variants": rows}, indent=1) + "\n",
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
