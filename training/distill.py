"""Teacher probabilities for distillation: writing them, reading them back.

A teacher file is JSON Lines, one article a line::

    {"id": "a1", "digest": "<sha1 of the article's sentence texts>",
     "labels": ["factual_claim", ...], "probs": [[0.91, 0.02, ...], ...]}

with one row of probabilities per sentence, in the order of ``labels``.
``factsift teach --model MODEL --data SET --output FILE`` writes one from
any model (an ensemble is the usual teacher); ``data.teacher`` in a
training config names it, and ``train.distill_weight`` mixes the teacher's
probabilities into the loss beside the gold labels (model/network.py).
Articles in ``data.transfer`` need no labels: they train on the teacher's
probabilities alone, which is where a teacher says what it did not learn by
heart (on its own training articles it mostly repeats the gold label).

The digest ties each row to the exact sentences it was computed on: an
article edited after its teacher file was written is an error that says to
write the file again, never a silent mismatch of rows and sentences.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Sequence


class TeacherFileError(ValueError):
    """A teacher file is missing, malformed or out of date; the message says which and how to fix it."""


def digest(sentences: Sequence[str]) -> str:
    h = hashlib.sha1()
    for s in sentences:
        h.update(s.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def teacher_rows(clf, articles, *, batch_size: int = 64) -> list[dict]:
    """One teacher row per article: ``clf``'s probabilities for its gold sentences."""
    from ..data.articles import Article  # noqa: PLC0415

    inputs = [Article(a.id, a.sentences) for a in articles]  # gold sentences, no raw text
    labels = list(clf.labels)
    rows = []
    for art, pred in zip(articles, clf.predict_articles(inputs, batch_size=batch_size)):
        probs = [[round(float(p.probabilities[l]), 6) for l in labels] for p in pred.sentences]
        rows.append({"id": art.id, "digest": digest([s.text for s in art.sentences]), "labels": labels,
                     "probs": probs})
    return rows


def write_teacher(model, data, output, *, batch_size: int = 64) -> Path:
    """Predict every article of ``data`` with ``model`` and write the teacher file ``output`` atomically."""
    from ..data.articles import load_articles  # noqa: PLC0415
    from ..model.classifier import SentenceClassifier  # noqa: PLC0415
    from .io import atomic_write_text  # noqa: PLC0415

    clf = model if hasattr(model, "predict_articles") else SentenceClassifier.from_pretrained(model)
    articles = load_articles(data, require_labels=False, labels=list(clf.labels))
    rows = teacher_rows(clf, articles, batch_size=batch_size)
    return atomic_write_text(output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def load_teacher(paths, articles, labels) -> dict[str, list[list[float]]]:
    """Teacher probabilities per article id, in ``labels`` order, checked against ``articles``.

    Every article must have a row computed on its present sentences; rows
    for articles not in ``articles`` are ignored (a teacher file may cover
    more than one split)."""
    rows: dict[str, tuple[str, int, dict]] = {}
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        if not path.is_file():
            raise TeacherFileError(f"teacher file {path} does not exist; write it with "
                                   f"`factsift teach --model MODEL --data TRAIN --output {path}` or unset data.teacher")
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TeacherFileError(f"{path}, line {n}: not valid JSON ({exc.msg}); "
                                           "write the file again with `factsift teach`") from None
                if not isinstance(row, dict) or not all(k in row for k in ("id", "digest", "labels", "probs")):
                    raise TeacherFileError(f"{path}, line {n}: a teacher row needs the fields id, digest, labels "
                                           "and probs; write the file again with `factsift teach`")
                rows[str(row["id"])] = (str(path), n, row)
    out = {}
    missing = []
    seen = set()
    for art in articles:
        if art.id in seen:
            raise TeacherFileError(f"article id {art.id!r} occurs twice in the training and transfer sets, so a "
                                   "teacher row cannot tell them apart; give every article its own id")
        seen.add(art.id)
        found = rows.get(art.id)
        if found is None:
            missing.append(art.id)
            continue
        where, n, row = found
        out[art.id] = _check_row(row, art, labels, f"{where}, line {n}")
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise TeacherFileError(f"the teacher file(s) have no row for {len(missing)} training article(s): {shown}; "
                               "write them again with `factsift teach` over the training data")
    return out


def _check_row(row: dict, art, labels, where: str) -> list[list[float]]:
    if list(row["labels"]) != list(labels):
        known = set(row["labels"]) == set(labels)
        fix = "" if known else "a teacher trained on this label set, "
        raise TeacherFileError(f"{where}: the teacher's labels {row['labels']} are not the model's {list(labels)}; "
                               f"write the file again with {fix}`factsift teach`")
    if row["digest"] != digest([s.text for s in art.sentences]):
        raise TeacherFileError(f"{where}: article {art.id!r} has changed since its teacher probabilities were "
                               "written (its sentences differ); write the teacher file again with `factsift teach`")
    probs = row["probs"]
    width = len(labels)
    if (not isinstance(probs, list) or len(probs) != len(art.sentences)
            or not all(isinstance(p, list) and len(p) == width for p in probs)):
        raise TeacherFileError(f"{where}: article {art.id!r} needs {len(art.sentences)} rows of {width} "
                               "probabilities; write the teacher file again with `factsift teach`")
    clean = []
    for p in probs:
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in p):
            raise TeacherFileError(f"{where}: article {art.id!r} has a probability that is not a finite number "
                                   "at least 0; write the teacher file again with `factsift teach`")
        total = float(sum(p))
        if not 0.98 <= total <= 1.02:
            raise TeacherFileError(f"{where}: article {art.id!r} has a row summing to {total:.3f}, not 1; "
                                   "write the teacher file again with `factsift teach`")
        clean.append([float(x) / total for x in p])
    return clean
