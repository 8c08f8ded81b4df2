"""Classification metrics, calibration and segmentation scores."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def classification_metrics(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], probs=None,
                           n_bins: int = 10) -> dict:
    """Per-class precision/recall/F1/support, macro-F1, accuracy, confusion, and ECE when ``probs`` is given.

    The confusion matrix's rows are gold labels, columns predicted labels, both in ``labels`` order.
    Macro-F1 averages over the labels that occur in gold or predictions.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support  # noqa: PLC0415

    labels = list(labels)
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    if not gold:
        raise ValueError("no sentences to score")
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    present = [i for i, l in enumerate(labels) if l in set(gold) | set(pred)]
    out = {
        "n": len(gold),
        "accuracy": float(np.mean([g == q for g, q in zip(gold, pred)])),
        "macro_f1": float(np.mean([f[i] for i in present])) if present else 0.0,
        "per_class": {l: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, l in enumerate(labels)},
        "labels": labels,
        "confusion": confusion_matrix(gold, pred, labels=labels).tolist(),
    }
    if probs is not None:
        out["calibration"] = calibration(gold, probs, labels, n_bins)
    return out


def bootstrap_macro_f1(gold: Sequence[str], pred: Sequence[str], groups: Sequence, labels: Sequence[str],
                       n: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap interval of macro-F1, resampling whole groups (articles).

    Sentences of one article are not independent (one article's style or
    source misleads the model on many of its sentences), so whole articles
    are drawn with replacement. On a few hundred sentences with a rare class
    the interval is wide: read differences between models against it."""
    labels = list(labels)
    if not (len(gold) == len(pred) == len(groups)):
        raise ValueError("gold, pred and groups must have the same length")
    if not gold:
        raise ValueError("no sentences to score")
    index = {l: i for i, l in enumerate(labels)}
    k = len(labels)
    group_ids = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    conf = np.zeros((len(group_ids), k, k))
    for g, a, b in zip(groups, gold, pred):
        if a in index and b in index:
            conf[group_ids[g], index[a], index[b]] += 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(group_ids), size=(n, len(group_ids)))
    scores = []
    for row in draws:
        c = conf[row].sum(0)
        tp = np.diag(c)
        gold_n, pred_n = c.sum(1), c.sum(0)
        present = (gold_n + pred_n) > 0
        f1 = np.divide(2 * tp, gold_n + pred_n, out=np.zeros(k), where=(gold_n + pred_n) > 0)
        scores.append(float(f1[present].mean()) if present.any() else 0.0)
    lo, hi = np.quantile(scores, [(1 - level) / 2, (1 + level) / 2])
    return {"low": float(lo), "high": float(hi), "level": level, "resamples": n, "groups": len(group_ids)}


def calibration(gold: Sequence[str], probs, labels: Sequence[str], n_bins: int = 10) -> dict:
    """Expected calibration error of the top-label confidence, with the reliability bins."""
    probs = np.asarray(probs, dtype=float)
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    index = {l: i for i, l in enumerate(labels)}
    correct = np.array([index.get(g, -1) == q for g, q in zip(gold, pred)], dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        n = int(mask.sum())
        if n:
            acc, avg = float(correct[mask].mean()), float(conf[mask].mean())
            ece += n / len(conf) * abs(acc - avg)
        else:
            acc = avg = None
        bins.append({"lo": float(lo), "hi": float(hi), "count": n, "accuracy": acc, "confidence": avg})
    return {"ece": float(ece), "bins": bins}


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    return start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())


def segmentation_scores(text: str, gold_spans, pred_spans) -> dict:
    """Counts for exact-sentence and boundary matches (whitespace at the edges ignored)."""
    gold = {_trim(text, a, b) for a, b in gold_spans}
    pred = {_trim(text, a, b) for a, b in pred_spans}
    gb, pb = {b for _, b in gold}, {b for _, b in pred}
    return {"sent_tp": len(gold & pred), "sent_fp": len(pred - gold), "sent_fn": len(gold - pred),
            "bound_tp": len(gb & pb), "bound_fp": len(pb - gb), "bound_fn": len(gb - pb)}


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
