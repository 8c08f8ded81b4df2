"""Post-hoc changes to a model's probabilities: temperature and label prior.

Neither changes what the network computes; both change how its logits are
read as probabilities.

**Temperature** (Guo et al., 2017, "On calibration of modern neural
networks"): probabilities are ``softmax(logits / T)``, with ``T`` fitted at
the end of training to minimise the negative log-likelihood of the dev split.
The argmax, and so every label and F1 score, is unchanged; the scores become
closer to the chance of being right. The shipped model was overconfident
(T about 1.5; docs/model-selection.md, round 6).

**Label prior** (Saerens, Latinne and Decaestecker, 2002, "Adjusting the
outputs of a classifier to new a priori probabilities"): a classifier's
probabilities carry the label distribution of its training data, ``p_train(y)``.
factsift's corpus has far more ``unverified_report`` and boilerplate
sentences than most news, on purpose, to teach those classes. Where the
articles to label have another distribution ``p_new(y)``, the Bayes-correct
probabilities are ``p(y|x) * p_new(y) / p_train(y)``, renormalised.
``p_new`` need not be known: :func:`estimate_prior` finds it by EM from the
unlabelled predictions of the collection itself (no gold labels are used).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

_TINY = 1e-12


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def rescale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities that ``softmax(logits)`` gave, as ``softmax(logits / T)`` gives them."""
    return softmax(np.log(np.clip(np.asarray(probs, dtype=np.float64), _TINY, None)), temperature)


def nll(probs: np.ndarray, gold: Sequence[int]) -> float:
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(gold)), np.asarray(gold)]
    return float(-np.mean(np.log(np.clip(p, _TINY, None))))


def fit_temperature(logits: np.ndarray, gold: Sequence[int], lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature in [lo, hi] minimising the NLL of ``gold`` (golden-section
    search on log T; the NLL is unimodal in T). ``logits`` may be log-probabilities."""
    logits = np.asarray(logits, dtype=np.float64)
    if len(logits) == 0:
        raise ValueError("fitting a temperature needs at least one labelled sentence")

    def loss(log_t: float) -> float:
        return nll(softmax(logits, math.exp(log_t)), gold)

    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = loss(d)
    return round(math.exp((a + b) / 2), 4)


def reweight(probs: np.ndarray, train_prior: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``probs`` (N, K), made under ``train_prior``, re-read under ``prior``."""
    q = np.asarray(probs, dtype=np.float64) * (np.asarray(prior, dtype=np.float64) /
                                               np.clip(np.asarray(train_prior, dtype=np.float64), _TINY, None))
    total = q.sum(axis=-1, keepdims=True)
    return q / np.where(total > 0, total, 1.0)


def estimate_prior(probs: np.ndarray, train_prior: np.ndarray, *, max_iter: int = 1000,
                   tol: float = 1e-7) -> tuple[np.ndarray, int]:
    """EM estimate of the label distribution of the sentences behind ``probs``
    (Saerens et al. 2002). Returns the prior and the iterations it took."""
    probs = np.asarray(probs, dtype=np.float64)
    train_prior = np.asarray(train_prior, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError("estimating a label prior needs the probabilities of at least one sentence")
    prior = train_prior.copy()
    for it in range(1, max_iter + 1):
        new = reweight(probs, train_prior, prior).mean(axis=0)
        if np.abs(new - prior).max() < tol:
            return _floor(new), it
        prior = new
    return _floor(prior), max_iter


def adapt(probs: np.ndarray, train_prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``probs`` re-read under the label prior EM estimates from them: (probabilities, prior)."""
    prior, _ = estimate_prior(probs, train_prior)
    return reweight(probs, train_prior, prior), prior


def _floor(prior: np.ndarray, least: float = 1e-6) -> np.ndarray:
    """EM drives the share of a label the collection lacks towards 0; keep it
    just above, so no label is ruled out for good."""
    prior = np.maximum(prior, least)
    return prior / prior.sum()


def as_vector(prior: Mapping[str, float], labels: Sequence[str], what: str = "prior") -> np.ndarray:
    """A label -> share mapping as a normalised vector in ``labels`` order, with clear errors."""
    if not isinstance(prior, Mapping):
        raise TypeError(f"a {what} is a mapping of label to share, e.g. {{'{labels[0]}': 0.3, ...}}; "
                        f"found {type(prior).__name__}")
    missing = [l for l in labels if l not in prior]
    unknown = [k for k in prior if k not in labels]
    if missing or unknown:
        raise ValueError(f"the {what} must give a share for each of the model's labels ({', '.join(labels)})"
                         + (f"; missing: {', '.join(missing)}" if missing else "")
                         + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else ""))
    try:
        v = np.array([float(prior[l]) for l in labels])
    except (TypeError, ValueError):
        raise ValueError(f"the {what}'s shares must be numbers; found {dict(prior)!r}") from None
    if not np.all(np.isfinite(v)) or (v < 0).any() or v.sum() <= 0:
        raise ValueError(f"the {what}'s shares must be finite, non-negative and not all zero; found {dict(prior)!r}")
    if (v == 0).any():
        zero = [l for l, x in zip(labels, v) if x == 0]
        raise ValueError(f"the {what} gives {', '.join(zero)} a share of 0, which would forbid the label outright; "
                         "give it a small share instead")
    return v / v.sum()


def as_mapping(vector, labels: Sequence[str]) -> dict[str, float]:
    return {l: float(f"{float(x):.6g}") for l, x in zip(labels, vector)}
