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
