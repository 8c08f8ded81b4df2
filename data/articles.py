"""Labelled article sets: the JSON Lines and TSV formats, validation, loading.

An article set is JSON Lines, one article a line::

    {"id": "a1", "text": "raw text ...", "meta": {...},
     "sentences": [{"text": "...", "label": "factual_claim", "start": 0, "end": 42}, ...]}

``text``, ``start``/``end`` and ``meta`` are optional; when ``start``/``end``
are given, ``text[start:end]`` must equal the sentence text. The TSV form is
``article_id<TAB>label<TAB>sentence`` with an article's sentences in order.
Every error names the file, the line and the field, and says how to fix it.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .labels import LABELS


class ArticleFormatError(ValueError):
    """An article set is malformed; the message names file, line and field."""


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Article:
    id: str
    sentences: tuple[Sentence, ...]
    text: str | None = None
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def labels(self) -> list[str | None]:
        return [s.label for s in self.sentences]

    def to_json(self) -> dict:
        out: dict = {"id": self.id}
        if self.text is not None:
            out["text"] = self.text
        sents = []
        for s in self.sentences:
            d: dict = {"text": s.text}
            if s.label is not None:
                d["label"] = s.label
            if s.start is not None:
                d["start"], d["end"] = s.start, s.end
            sents.append(d)
        out["sentences"] = sents
        if self.meta:
            out["meta"] = self.meta
        return out


def _fail(where: str, message: str) -> ArticleFormatError:
    return ArticleFormatError(f"{where}: {message}")


def _check_label(label, where: str, require_labels: bool, labels: Sequence[str]):
    if label is None:
        if require_labels:
            raise _fail(where, f"missing field 'label'; every sentence needs one of: {', '.join(labels)}")
        return None
    if not isinstance(label, str) or label not in labels:
        raise _fail(where, f"unknown label {label!r}; expected one of: {', '.join(labels)}")
    return label


def parse_article(obj, where: str, *, require_labels: bool = True, labels: Sequence[str] = LABELS) -> Article:
    """Validate one decoded JSON object and turn it into an :class:`Article`."""
    if not isinstance(obj, dict):
        raise _fail(where, f"expected a JSON object (an article), found {type(obj).__name__}")
    art_id = obj.get("id")
    if art_id is None:
        raise _fail(where, "missing field 'id' (a non-empty string naming the article)")
    if not isinstance(art_id, (str, int)) or isinstance(art_id, bool) or str(art_id).strip() == "":
        raise _fail(where, f"field 'id' must be a non-empty string, found {art_id!r}")
    art_id = str(art_id)
    where = f"{where} (article {art_id!r})"
    text = obj.get("text")
    if text is not None and not isinstance(text, str):
        raise _fail(where, f"field 'text' must be a string, found {type(text).__name__}")
    raw = obj.get("sentences")
    if raw is None:
        raise _fail(where, "missing field 'sentences' (a list of {text, label[, start, end]})")
    if not isinstance(raw, list):
        raise _fail(where, f"field 'sentences' must be a list, found {type(raw).__name__}")
    if not raw:
        raise _fail(where, "empty article: 'sentences' is an empty list; drop the article or add its sentences")
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise _fail(where, "field 'meta' must be an object")
    sentences = []
    prev_end = 0
    for i, s in enumerate(raw):
        sw = f"{where}, sentences[{i}]"
        if not isinstance(s, dict):
            raise _fail(sw, f"expected an object with 'text' and 'label', found {type(s).__name__}")
        stext = s.get("text")
        if not isinstance(stext, str):
            raise _fail(sw, "missing or non-string field 'text'")
        if not stext.strip():
            raise _fail(sw, "field 'text' is empty or whitespace only")
        label = _check_label(s.get("label"), sw, require_labels, labels)
        start, end = s.get("start"), s.get("end")
        if (start is None) != (end is None):
            raise _fail(sw, "give both 'start' and 'end' character offsets, or neither")
        if start is not None:
            if text is None:
                raise _fail(sw, "has 'start'/'end' but the article has no raw 'text' to index")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
                raise _fail(sw, f"'start'/'end' must be integers, found {start!r}/{end!r}")
            if not 0 <= start < end <= len(text):
                raise _fail(sw, f"span {start}:{end} lies outside the article text (length {len(text)})")
            if text[start:end] != stext:
                raise _fail(
                    sw,
                    f"span {start}:{end} gives {text[start:end][:40]!r} but 'text' is {stext[:40]!r}; "
                    "offsets must index the raw article text",
                )
            if start < prev_end:
                raise _fail(sw, f"span {start}:{end} overlaps or precedes the previous sentence (ends at {prev_end})")
            prev_end = end
        sentences.append(Sentence(stext, label, start, end))
    return Article(art_id, tuple(sentences), text, meta)


def _decode_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ArticleFormatError(
                    f"{path}:{lineno}: invalid UTF-8 at byte {exc.start} of the line; save the file as UTF-8"
                ) from None


def parse_json_line(line: str, where: str):
    """One JSON Lines record, or an error naming file and line."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise _fail(where, f"invalid JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object") from None


def iter_jsonl(path, *, require_labels: bool = True, labels: Sequence[str] = LABELS) -> Iterator[Article]:
    """Yield validated articles from a JSON Lines file, one at a time."""
    path = Path(path)
    for lineno, line in _decode_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        yield parse_article(parse_json_line(line, where), where, require_labels=require_labels, labels=labels)


def iter_tsv(path, *, require_labels: bool = True, labels: Sequence[str] = LABELS) -> Iterator[Article]:
    """Yield articles from ``article_id<TAB>label<TAB>sentence`` rows (sentences in order)."""
    path = Path(path)
    current_id, sents, done = None, [], set()
    for lineno, line in _decode_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip() or (lineno == 1 and line.lower().startswith("article_id\t")):
            continue
        where = f"{path}:{lineno}"
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise _fail(where, f"expected 3 tab-separated fields article_id, label, sentence; found {len(parts)}")
        art_id, label, text = parts
        if not art_id.strip():
            raise _fail(where, "empty article_id")
        if not text.strip():
            raise _fail(where, "empty sentence")
        label = _check_label(label or None, where, require_labels, labels)
        if art_id != current_id:
            if current_id is not None:
                yield Article(current_id, tuple(sents))
            if art_id in done:
                raise _fail(where, f"article {art_id!r} appears again after other articles; keep its rows together")
            done.add(art_id)
            current_id, sents = art_id, []
        sents.append(Sentence(text, label))
    if current_id is not None:
        yield Article(current_id, tuple(sents))


def iter_articles(path, **kw) -> Iterator[Article]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; give a .jsonl or .tsv article set")
    if path.is_dir():
        raise ArticleFormatError(f"{path}: is a directory; give a .jsonl or .tsv article set file")
    if path.suffix.lower() in {".tsv", ".tab"}:
        return iter_tsv(path, **kw)
    return iter_jsonl(path, **kw)


def load_articles(paths, *, require_labels: bool = True, labels: Sequence[str] = LABELS) -> list[Article]:
    """Load and validate one or several article-set files (JSON Lines or TSV).

    Duplicate article ids across all files and empty files are errors.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    articles: list[Article] = []
    seen: dict[str, str] = {}
    for path in paths:
        n_before = len(articles)
        for art in iter_articles(path, require_labels=require_labels, labels=labels):
            if art.id in seen:
                raise ArticleFormatError(
                    f"{path}: duplicate article id {art.id!r} (first seen in {seen[art.id]}); ids must be unique"
                )
            seen[art.id] = str(path)
            articles.append(art)
        if len(articles) == n_before:
            raise ArticleFormatError(f"{path}: contains no articles; an article set needs at least one")
    return articles


def write_jsonl(articles: Iterable[Article], path) -> None:
    from ..training.io import atomic_write_text  # noqa: PLC0415 (keeps data/ light to import)

    atomic_write_text(path, "".join(json.dumps(a.to_json(), ensure_ascii=False) + "\n" for a in articles))


def write_tsv(articles: Iterable[Article], path) -> None:
    from ..training.io import atomic_write_text  # noqa: PLC0415

    rows = ["article_id\tlabel\tsentence\n"]
    for a in articles:
        for s in a.sentences:
            text = s.text.replace("\t", " ").replace("\n", " ")
            rows.append(f"{a.id}\t{s.label or ''}\t{text}\n")
    atomic_write_text(path, "".join(rows))


def label_counts(articles: Iterable[Article]) -> Counter:
    return Counter(s.label for a in articles for s in a.sentences)


def warn_label_gaps(train: Sequence[Article], other: Sequence[Article], name: str) -> list[str]:
    """Warn about labels present in ``other`` but never seen in training data."""
    missing = sorted(set(label_counts(other)) - set(label_counts(train)) - {None})
    if missing:
        warnings.warn(
            f"label(s) {', '.join(missing)} occur in the {name} split but never in train; "
            "the model cannot learn them",
            stacklevel=2,
        )
    return missing


def to_dataset(articles: Sequence[Article]):
    """A ``datasets.Dataset`` with one row per article (id, sentences, labels)."""
    from datasets import Dataset  # noqa: PLC0415 (heavy import, only when asked)

    return Dataset.from_dict(
        {
            "id": [a.id for a in articles],
            "sentences": [[s.text for s in a.sentences] for a in articles],
            "labels": [[s.label for s in a.sentences] for a in articles],
        }
    )
