"""Linear probing before fine-tuning (LP-FT, Kumar et al. 2022).

A new head starts random, and its first gradients reach the encoder (or its
adapter) while the head is still wrong: the early steps bend the pretrained
features towards whatever the random head needs. LP-FT fits the head first
on the frozen encoder's features, as a logistic regression, and only then
fine-tunes everything from that head. On distribution shifts (here: the
project's written corpus against real news) it keeps more of the pretrained
features; and since a logistic regression has one optimum, every seed starts
from the same head.

With a LoRA adapter (``lora_B`` starts at zero) the encoder at the start of
training *is* the base encoder, so the features probed are the ones the
adapter then trains from.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("factsift.train")

C_GRID = (0.1, 1.0, 10.0)  # inverse L2 strengths tried; the one of lowest dev log-loss is kept


def features(network, dataset, collator, batch_size: int = 64, autocast: bool = True):
    """Pooled features of every labelled target sentence of ``dataset``'s
    windows, with the network in eval mode and no gradients: (N, H) float64
    numpy array and (N,) label ids."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    was_training = network.training
    network.eval()
    device = next(network.parameters()).device
    items = getattr(dataset, "items", dataset)  # a WindowDataset's windows as built: no train.token_mask draws
    order = sorted(range(len(items)), key=lambda i: len(items[i]["input_ids"]))  # less padding
    feats, gold = [], []
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            for start in range(0, len(order), batch_size):
                batch = collator([items[i] for i in order[start:start + batch_size]])
                labels = batch.pop("labels")
                batch = {k: v.to(device) for k, v in batch.items() if k != "teacher"}
                pooled = network.pooled(batch["input_ids"], batch["attention_mask"], batch["sentence_ids"])
                labels = labels[:, : pooled.shape[1]].to(device)
                keep = labels >= 0
                feats.append(pooled[keep].float().cpu().numpy())
                gold.append(labels[keep].cpu().numpy())
    finally:
        network.train(was_training)
    return np.concatenate(feats).astype(np.float64), np.concatenate(gold)


def probe_head(network, train_ds, dev_ds, collator, num_labels: int, autocast: bool = True) -> dict:
    """Fit ``network.head`` as a logistic regression on the frozen features of
    the training windows, its L2 strength chosen by dev log-loss; returns
    what was fitted (for metrics.json and the log)."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.metrics import f1_score, log_loss  # noqa: PLC0415

    started = time.time()
    x, y = features(network, train_ds, collator, autocast=autocast)
    dx, dy = features(network, dev_ds, collator, autocast=autocast)
    seconds_features = time.time() - started
    present = sorted(set(y.tolist()))
    if len(present) < 2:
        log.warning("linear probe skipped: the training sentences carry %d label(s)", len(present))
        return {"fitted": False, "reason": "fewer than two labels in train"}
    best = None
    tried = {}
    for c in C_GRID:
        lr = LogisticRegression(C=c, max_iter=2000, tol=1e-6)
        lr.fit(x, y)
        proba = np.full((len(dx), num_labels), 1e-12)
        proba[:, lr.classes_] = lr.predict_proba(dx)
        proba /= proba.sum(1, keepdims=True)
        nll = float(log_loss(dy, proba, labels=list(range(num_labels)))) if len(dy) else float("nan")
        tried[str(c)] = round(nll, 5)
        if best is None or nll < best[0]:
            best = (nll, c, lr, proba)
    nll, c, lr, proba = best
    weight = np.zeros((num_labels, x.shape[1]))
    bias = np.full(num_labels, -30.0)  # a label absent from train stays (nearly) impossible, as a fitted head would make it
    if len(lr.classes_) == 2:  # sklearn's binary form: one row for the second class
        weight[lr.classes_[1]], bias[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
        bias[lr.classes_[0]] = 0.0
    else:
        weight[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
    head = network.head
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight).to(head.weight))
        head.bias.copy_(torch.from_numpy(bias).to(head.bias))
    dev_f1 = float(f1_score(dy, proba.argmax(1), average="macro")) if len(dy) else float("nan")
    info = {"fitted": True, "C": c, "dev_nll_by_C": tried, "dev_macro_f1": round(dev_f1, 4),
            "train_sentences": int(len(y)), "dev_sentences": int(len(dy)),
            "seconds": round(time.time() - started, 1), "seconds_features": round(seconds_features, 1)}
    log.info("linear probe: head fitted on %d frozen training sentences (C %g by dev log-loss %.4f; dev macro-F1 "
             "%.4f) in %.0f s", len(y), c, nll, dev_f1, info["seconds"])
    return info
