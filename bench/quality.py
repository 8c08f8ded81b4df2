"""Quality benchmark: the model and the baselines, side by side, on the corpus
test split and on ../shared/realdev (real articles, evaluation only).

    .venv/bin/python bench/quality.py [--model DIR] [--output runs/bench-quality]

Baselines (majority, TF-IDF + logistic regression, keyword rules) are fitted
on the same training split as the model and scored by the same code.
Writes one evaluation report per set under --output and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "corpus-test": ROOT / "data" / "corpus" / "test.jsonl",
    "realdev": ROOT.parent / "shared" / "realdev" / "realdev.jsonl",
}


def main(argv=None) -> int:
    from factsift.data.labels import LABELS
    from factsift.model.classifier import SentenceClassifier
    from factsift.training.evaluate import evaluate

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    p.add_argument("--train", default=str(ROOT / "data" / "corpus" / "train.jsonl"), help="baselines' training data")
    p.add_argument("--output", default="runs/bench-quality")
    p.add_argument("--dtype", default="auto")
    args = p.parse_args(argv)

    clf = SentenceClassifier.from_pretrained(args.model, dtype=args.dtype)
    rows = []
    for name, path in SETS.items():
        if not path.is_file():
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        m = evaluate(clf, [path], Path(args.output) / name, baseline_train=[args.train])
        rows.append((name, "factsift", m["macro_f1"], {l: m["per_class"][l]["f1"] for l in LABELS}))
        for base, b in m["baselines"].items():
            rows.append((name, base, b["macro_f1"], b["per_class_f1"]))
    short = [l.split("_")[0][:11] for l in LABELS]
    print(f"{'set':<12} {'system':<14} {'macro-F1':>8}  " + "  ".join(f"{s:>11}" for s in short))
    for name, system, macro, per in rows:
        print(f"{name:<12} {system:<14} {macro:8.3f}  " + "  ".join(f"{per[l]:11.3f}" for l in LABELS))
    by = {(n, s): m for n, s, m, _ in rows}
    for name in SETS:
        if (name, "factsift") in by and (name, "tfidf_lr") in by:
            print(f"{name}: factsift - tfidf_lr = {by[(name, 'factsift')] - by[(name, 'tfidf_lr')]:+.3f} macro-F1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
