"""Quality benchmark: the model and the baselines, side by side, on the corpus
test split and on ../shared/realdev (real articles, evaluation only).

    .venv/bin/python bench/quality.py [--model DIR] [--output runs/bench-quality]

Baselines (majority, TF-IDF + logistic regression, keyword rules) are fitted
on the same training split as the model and scored by the same code.
When the model records its training label prior, each set is scored twice:
as the model gives its probabilities, and with the label prior adapted to the
set (`--prior adapt`: EM on the unlabelled sentences, applied to the model and
the trained baselines alike; rows marked "+prior").
Writes one evaluation report per set and mode under --output and prints a table.
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
        for prior in ("train", "adapt") if clf.train_prior else ("train",):
            tag = "" if prior == "train" else "+prior"
            m = evaluate(clf, [path], Path(args.output) / (name + ("" if prior == "train" else "-prior")),
                         baseline_train=[args.train], prior=prior)
            rows.append((name, "factsift" + tag, m["macro_f1"], {l: m["per_class"][l]["f1"] for l in LABELS}))
            for base, b in m["baselines"].items():
                rows.append((name, base + (tag if b.get("prior_adapted") else ""), b["macro_f1"], b["per_class_f1"]))
    short = [l.split("_")[0][:11] for l in LABELS]
    print(f"{'set':<12} {'system':<20} {'macro-F1':>8}  " + "  ".join(f"{s:>11}" for s in short))
    for name, system, macro, per in rows:
        print(f"{name:<12} {system:<20} {macro:8.3f}  " + "  ".join(f"{per[l]:11.3f}" for l in LABELS))
    by = {(n, s): m for n, s, m, _ in rows}
    for name in SETS:
        for tag in ("", "+prior"):
            if (name, "factsift" + tag) in by and (name, "tfidf_lr" + tag) in by:
                print(f"{name}: factsift{tag} - tfidf_lr{tag} = "
                      f"{by[(name, 'factsift' + tag)] - by[(name, 'tfidf_lr' + tag)]:+.3f} macro-F1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
