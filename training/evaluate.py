"""``evaluate(...)``: score a model (and baselines) on labelled article sets.

Writes, into the output directory::

    metrics.json        everything below, for programs
    report.md           the same for people
    confusion.png       confusion matrix of the model
    reliability.png     reliability diagram (calibration)
    predictions.jsonl   one line per gold sentence: gold, predicted, probabilities
    errors.tsv          misclassified sentences, most confident first

Two modes: ``gold`` classifies the gold sentences; ``raw`` splits each
article's raw text, classifies the predicted sentences, aligns them to the
gold spans by character overlap, and reports segmentation as well as
end-to-end scores.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.articles import Article, load_articles
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .metrics import bootstrap_macro_f1, classification_metrics, prf, segmentation_scores


class LabelMismatchError(ValueError):
    """The data holds labels the model does not know."""


def _check_labels(clf, articles):
    unknown = sorted({s.label for a in articles for s in a.sentences} - set(clf.labels))
    if unknown:
        raise LabelMismatchError(
            f"the data has label(s) {', '.join(unknown)} that the model does not know "
            f"(model labels: {', '.join(clf.labels)}); evaluate with a model trained on this label set"
        )


def _gold_mode(clf, articles, batch_size):
    inputs = [Article(a.id, a.sentences) for a in articles]  # drop raw text: classify gold sentences
    records = []
    for art, pred in zip(articles, clf.predict_articles(inputs, batch_size=batch_size)):
        for i, (g, p) in enumerate(zip(art.sentences, pred.sentences)):
            records.append(_record(art.id, i, g.text, g.label, p.label, p.probabilities))
    return records, None


def _overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def _raw_mode(clf, articles, batch_size):
    missing = [a.id for a in articles if a.text is None or any(s.start is None for s in a.sentences)]
    if missing:
        raise ValueError(f"raw mode needs raw 'text' and sentence spans; article {missing[0]!r} lacks them "
                         "(use mode='gold')")
    records, seg = [], defaultdict(int)
    for art, pred in zip(articles, clf.predict_articles([a.text for a in articles], batch_size=batch_size)):
        for k, v in segmentation_scores(art.text, [(s.start, s.end) for s in art.sentences],
                                        [(p.start, p.end) for p in pred.sentences]).items():
            seg[k] += v
        for i, g in enumerate(art.sentences):
            best = max(pred.sentences, key=lambda p: _overlap(g.start, g.end, p.start, p.end), default=None)
            if best is None or _overlap(g.start, g.end, best.start, best.end) == 0:
                probs = {l: float(l == "factual_claim") for l in clf.labels}
                label = "factual_claim"
            else:
                probs, label = best.probabilities, best.label
            records.append(_record(art.id, i, g.text, g.label, label, probs))
    segmentation = {"sentences": prf(seg["sent_tp"], seg["sent_fp"], seg["sent_fn"]),
                    "boundaries": prf(seg["bound_tp"], seg["bound_fp"], seg["bound_fn"]), "counts": dict(seg)}
    return records, segmentation


def _record(art_id, i, text, gold, pred, probs):
    return {"article_id": art_id, "index": i, "text": text, "gold": gold, "pred": pred,
            "score": float(probs[pred]), "probabilities": {k: float(v) for k, v in probs.items()}}


def score_articles(clf, articles: Sequence[Article], *, mode: str = "gold", batch_size: int = 64,
                   prior=None) -> dict:
    """Classify ``articles`` and score against their gold labels: metrics and per-sentence records.

    ``prior``: ``None`` or ``"train"`` reads the probabilities as the model
    gives them; ``"adapt"`` re-reads them under the label distribution of these
    articles as estimated by EM from the model's own probabilities (no gold
    labels used; model/calibration.py); a mapping of label to share re-reads
    them under that distribution.
    """
    if mode not in {"gold", "raw"}:
        raise ValueError(f"mode must be 'gold' or 'raw', found {mode!r}")
    _check_labels(clf, articles)
    labels = list(clf.labels)
    adapt = isinstance(prior, str) and prior == "adapt"
    kept = clf.prior
    clf.set_prior(None if adapt else prior)  # checks the prior before the (slow) predictions
    try:
        records, segmentation = (_gold_mode if mode == "gold" else _raw_mode)(clf, articles, batch_size)
        used = clf.prior
    finally:
        clf.prior = kept
    if adapt:
        used = _adapt(clf, records, labels)
    probs = np.array([[r["probabilities"][l] for l in labels] for r in records])
    metrics = classification_metrics([r["gold"] for r in records], [r["pred"] for r in records], labels, probs)
    if used is not None:
        gold = [r["gold"] for r in records]
        metrics["prior"] = {"mode": "adapt" if adapt else "given", "prior": used, "train_prior": clf.train_prior,
                            "gold_shares": {l: round(gold.count(l) / max(1, len(gold)), 6) for l in labels}}
    if segmentation:
        metrics["segmentation"] = segmentation
    per_article = defaultdict(lambda: [0, 0])
    for r in records:
        per_article[r["article_id"]][0] += r["gold"] == r["pred"]
        per_article[r["article_id"]][1] += 1
    metrics["per_article_accuracy"] = {k: c / n for k, (c, n) in per_article.items()}
    metrics["macro_f1_interval"] = bootstrap_macro_f1([r["gold"] for r in records], [r["pred"] for r in records],
                                                      [r["article_id"] for r in records], labels)
    return {"metrics": metrics, "records": records}


def _adapt(clf, records: list[dict], labels: list[str]) -> dict:
    """Estimate the label prior of ``records`` by EM and re-read them under it, in place."""
    from ..model.calibration import adapt, as_mapping, as_vector  # noqa: PLC0415

    if clf.train_prior is None:
        clf.set_prior({})  # raises the error that explains why
    if not records:
        return None
    probs = np.array([[r["probabilities"][l] for l in labels] for r in records])
    adapted, prior = adapt(probs, as_vector(clf.train_prior, labels, "training prior"))
    for r, row in zip(records, adapted):
        pred = labels[int(row.argmax())]
        r.update(pred=pred, score=float(row.max()), probabilities={l: float(v) for l, v in zip(labels, row)})
    return as_mapping(prior, labels)


def score_baselines(names, train_articles, articles, labels, *, prior=None) -> dict:
    """Fit each baseline on ``train_articles`` and score it on ``articles``; with
    ``prior="adapt"`` each baseline's probabilities are adapted to the label mix
    of ``articles`` as the model's are (EM, no gold labels), for a fair comparison."""
    from ..model.calibration import adapt  # noqa: PLC0415
    from .baselines import BASELINES  # noqa: PLC0415

    sents = [s.text for a in articles for s in a.sentences]
    gold = [s.label for a in articles for s in a.sentences]
    tr_s = [s.text for a in train_articles for s in a.sentences] if train_articles else []
    tr_l = [s.label for a in train_articles for s in a.sentences] if train_articles else []
    out = {}
    for name in names:
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
        if name != "keyword_rules" and not tr_s:
            continue
        model = BASELINES[name]().fit(tr_s, tr_l)
        probs = model.predict_proba(sents)
        adapted = prior == "adapt" and name not in {"keyword_rules", "majority"} and len(sents) > 0
        if adapted:
            train = np.array([max(tr_l.count(l), 1) for l in labels], dtype=float)
            train /= train.sum()
            probs, _ = adapt(probs, train)
        pred = [labels[i] for i in probs.argmax(1)]
        m = classification_metrics(gold, pred, labels)
        out[name] = {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
                     "per_class_f1": {l: v["f1"] for l, v in m["per_class"].items()}, "prior_adapted": adapted}
    return out


def evaluate(model=None, data=(), output_dir=None, *, mode: str = "gold", baselines=("majority", "tfidf_lr", "keyword_rules"),
             baseline_train=None, device: str = "cpu", dtype: str = "auto", batch_size: int = 64,
             prior=None, lexical: bool = True) -> dict:
    """Evaluate ``model`` (a SentenceClassifier, a model directory, or None for the
    shipped default) on the labelled article files ``data``; write the report
    to ``output_dir`` when given. Returns the metrics dict. ``prior``: see
    :func:`score_articles` (``"adapt"``: adapt to the evaluated articles' label mix).
    ``lexical=False`` scores the network alone, leaving out a lexical expert
    (model/lexical.py) that the model (or an ensemble's members) carries."""
    from ..model.classifier import SentenceClassifier  # noqa: PLC0415

    if isinstance(data, (str, Path)):
        data = [data]
    if not data:
        raise ValueError("evaluate needs at least one labelled article file (data=...)")
    articles = load_articles(data)
    clf = model if isinstance(model, SentenceClassifier) else SentenceClassifier.from_pretrained(model, device=device, dtype=dtype)
    if not lexical:
        clf.set_lexical(None, 0)
    result = score_articles(clf, articles, mode=mode, batch_size=batch_size, prior=prior)
    metrics = result["metrics"]
    metrics["model"] = str(model) if model is not None and not isinstance(model, SentenceClassifier) else "default"
    metrics["data"] = [str(d) for d in data]
    metrics["mode"] = mode
    if not lexical:
        metrics["lexical"] = "left out (--no-lexical)"
    if baselines:
        train_articles = load_articles(baseline_train) if baseline_train else []
        metrics["baselines"] = score_baselines(baselines, train_articles, articles, list(clf.labels),
                                               prior="adapt" if isinstance(prior, str) and prior == "adapt" else None)
        metrics["baseline_train"] = [str(p) for p in ([baseline_train] if isinstance(baseline_train, (str, Path)) else baseline_train or [])]
    if output_dir is not None:
        write_report(Path(output_dir), metrics, result["records"])
    return metrics


# --------------------------------------------------------------------- report
def write_report(out: Path, metrics: dict, records: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "metrics.json", metrics)
    atomic_write_text(out / "predictions.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    errors = sorted((r for r in records if r["gold"] != r["pred"]), key=lambda r: -r["score"])
    rows = ["article_id\tindex\tgold\tpred\tscore\tsentence\n"]
    rows += [f"{r['article_id']}\t{r['index']}\t{r['gold']}\t{r['pred']}\t{r['score']:.3f}\t"
             f"{r['text'].replace(chr(9), ' ').replace(chr(10), ' ')}\n" for r in errors]
    atomic_write_text(out / "errors.tsv", "".join(rows))
    _plots(out, metrics)
    atomic_write_text(out / "report.md", render_report(metrics, errors))


def _plots(out: Path, metrics: dict) -> None:
    import io  # noqa: PLC0415

    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    labels = metrics["labels"]
    cm = np.array(metrics["confusion"])
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(f"confusion (macro-F1 {metrics['macro_f1']:.3f})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out / "confusion.png", buf.getvalue())

    bins = metrics["calibration"]["bins"]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    xs = [b["confidence"] for b in bins if b["count"]]
    ys = [b["accuracy"] for b in bins if b["count"]]
    ax.plot(xs, ys, "o-", label="model")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {metrics['calibration']['ece']:.3f})")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out / "reliability.png", buf.getvalue())


def _interval(metrics: dict) -> str:
    ci = metrics.get("macro_f1_interval")
    if not ci:
        return ""
    return (f" ({ci['level']:.0%} interval {ci['low']:.3f}-{ci['high']:.3f}, "
            f"bootstrap over {ci['groups']} articles)")


def _prior_lines(metrics: dict) -> list[str]:
    p = metrics.get("prior")
    if not p:
        return []
    how = ("adapted to these articles (EM estimate from the model's probabilities, no gold labels used)"
           if p["mode"] == "adapt" else "as given")
    rows = ["", f"Label prior {how}:", "", "| label | prior used | training corpus | gold share here |",
            "| --- | ---: | ---: | ---: |"]
    for l, v in p["prior"].items():
        train = (p.get("train_prior") or {}).get(l)
        rows.append(f"| {l} | {v:.3f} | {'' if train is None else f'{train:.3f}'} | {p['gold_shares'][l]:.3f} |")
    return rows


def render_report(metrics: dict, errors: list[dict], n_errors: int = 25) -> str:
    labels = metrics["labels"]
    lines = ["# factsift evaluation", "",
             f"- model: `{metrics.get('model')}`", f"- data: {', '.join(metrics.get('data', []))}",
             f"- mode: {metrics.get('mode')}; sentences: {metrics['n']}", "",
             f"**macro-F1 {metrics['macro_f1']:.3f}**{_interval(metrics)}, accuracy {metrics['accuracy']:.3f}, "
             f"ECE {metrics['calibration']['ece']:.3f}", *_prior_lines(metrics), "",
             "## Per class", "", "| label | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for l in labels:
        s = metrics["per_class"][l]
        lines.append(f"| {l} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    if metrics.get("baselines"):
        lines += ["", "## Model and baselines, side by side (F1)", "",
                  "| system | macro-F1 | " + " | ".join(labels) + " |", "| --- | ---: |" + " ---: |" * len(labels)]
        lines.append("| **factsift model** | **{:.3f}** | ".format(metrics["macro_f1"])
                     + " | ".join(f"{metrics['per_class'][l]['f1']:.3f}" for l in labels) + " |")
        for name, b in metrics["baselines"].items():
            lines.append(f"| {name} | {b['macro_f1']:.3f} | " + " | ".join(f"{b['per_class_f1'][l]:.3f}" for l in labels) + " |")
        if metrics.get("baseline_train"):
            lines += ["", f"Trained baselines were fitted on {', '.join(metrics['baseline_train'])}."]
        if any(b.get("prior_adapted") for b in metrics["baselines"].values()):
            lines += ["", "Their label prior was adapted to these articles too, by the same EM."]
    if "segmentation" in metrics:
        seg = metrics["segmentation"]
        lines += ["", "## Segmentation (raw text)", "",
                  f"- exact sentences: P {seg['sentences']['precision']:.3f}, R {seg['sentences']['recall']:.3f}, "
                  f"F1 {seg['sentences']['f1']:.3f}",
                  f"- boundaries: P {seg['boundaries']['precision']:.3f}, R {seg['boundaries']['recall']:.3f}, "
                  f"F1 {seg['boundaries']['f1']:.3f}"]
    lines += ["", "## Confusion matrix (rows gold, columns predicted)", "", "![confusion](confusion.png)", "",
              "| gold \\ pred | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for l, row in zip(labels, metrics["confusion"]):
        lines.append(f"| {l} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "## Calibration", "", "![reliability](reliability.png)", "",
              "| confidence bin | sentences | accuracy | mean confidence |", "| --- | ---: | ---: | ---: |"]
    for b in metrics["calibration"]["bins"]:
        if b["count"]:
            lines.append(f"| {b['lo']:.1f}-{b['hi']:.1f} | {b['count']} | {b['accuracy']:.3f} | {b['confidence']:.3f} |")
    lines += ["", "## Per-article accuracy", "", "| article | accuracy |", "| --- | ---: |"]
    for k, v in sorted(metrics["per_article_accuracy"].items(), key=lambda kv: kv[1]):
        lines.append(f"| {k} | {v:.3f} |")
    lines += ["", f"## Most confident errors (top {n_errors} of {len(errors)}; all in errors.tsv)", "",
              "| article | # | gold | predicted | score | sentence |", "| --- | ---: | --- | --- | ---: | --- |"]
    for r in errors[:n_errors]:
        text = r["text"].replace("|", "\\|").replace("\n", " ")
        text = text if len(text) <= 160 else text[:157] + "..."
        lines.append(f"| {r['article_id']} | {r['index']} | {r['gold']} | {r['pred']} | {r['score']:.2f} | {text} |")
    return "\n".join(lines) + "\n"
