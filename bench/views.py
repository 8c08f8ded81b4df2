"""Average a model's predictions with and without context (two views), on labelled article sets.

    .venv/bin/python bench/views.py --model runs/RUN/model data/corpus/dev.jsonl ../shared/realdev/realdev.jsonl

For each set, prints macro-F1 and per-class F1 of the mean of the
probabilities of the model's own windows (``context`` as trained, weight w)
and of every sentence alone (``context: 0``, weight 1 - w), for several w.
Meant for models trained with ``train.solo_fraction`` > 0, which have seen
sentences alone; w = 1 is what ``predict`` does. Gold sentence splits.
"""

from __future__ import annotations

import argparse
import dataclasses


def main(argv=None) -> int:
    import numpy as np
    from sklearn.metrics import f1_score

    from factsift import SentenceClassifier
    from factsift.data.articles import load_articles

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    p.add_argument("--weights", default="1,0.7,0.5,0.3,0", help="weights of the windowed view, comma-separated")
    p.add_argument("data", nargs="+", help="labelled article sets (.jsonl or .tsv)")
    args = p.parse_args(argv)
    clf = SentenceClassifier.from_pretrained(args.model)
    labels = clf.labels
    for path in args.data:
        arts = load_articles([path])
        sents = [[s.text for s in a.sentences] for a in arts]
        gold = [s.label for a in arts for s in a.sentences]

        def probs(spec):
            rows = clf._classify(sents, spec, 64)
            return np.array([[r[2][l] for l in labels] for art in rows for r in art])

        windowed = probs(clf.config.window)
        alone = probs(dataclasses.replace(clf.config.window, context=0, prefix=0))
        print(f"{path} ({len(gold)} sentences); F1 per class: " + " / ".join(labels))
        for w in (float(x) for x in args.weights.split(",")):
            pred = [labels[i] for i in (w * windowed + (1 - w) * alone).argmax(1)]
            f1 = f1_score(gold, pred, labels=labels, average=None)
            print(f"  w={w:.2f}  macro-F1 {f1.mean():.4f}  " + " / ".join(f"{x:.2f}" for x in f1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
