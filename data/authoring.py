"""The corpus authoring format, and the build from it to article-set JSON Lines.

Corpus articles are written by hand in a line-oriented format that keeps the
writer's attention on the story, not on character offsets::

    === ARTICLE id=b1-001 outlet=wire register=politics
    F | Headline as its own line
    S | A standfirst that hedges what may happen next

    F | First body sentence. (a blank line ends a paragraph)
    O | "Quoted words," the minister said.
    P / DON'T MISS: Another headline [WATCH]

Each unit line is ``L | text`` or ``L / text``, where ``L`` is one of
F (factual_claim), O (opinion_quote), S (speculation),
P (promotional_boilerplate), U (unverified_report). ``|`` continues the
current paragraph after a single space; ``/`` starts the unit on a new line
(a single line break, as scraped pages often have); a blank line starts a new
paragraph (two line breaks). The build computes the raw ``text`` and every
unit's character span, so raw-text evaluation works on the corpus.

Unlabelled text for distillation (``data/transfer/``) is written the
same way without the label: after each ``=== ARTICLE`` header, one unit per
line, a blank line between paragraphs.

This module uses only the standard library so that it also runs as a script:
``python data/authoring.py check FILE...`` validates source files and prints
label counts; ``python data/authoring.py build SRC_DIR OUT.jsonl`` builds;
``python data/authoring.py build-unlabelled SRC_DIR OUT.jsonl`` builds
unlabelled text.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

CODES = {
    "F": "factual_claim",
    "O": "opinion_quote",
    "S": "speculation",
    "P": "promotional_boilerplate",
    "U": "unverified_report",
}
_HEADER = re.compile(r"^===\s*ARTICLE\s+(.*)$")
_UNIT = re.compile(r"^([A-Za-z])\s*([|/])\s?(.*)$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AuthoringError(ValueError):
    """A source file does not follow the authoring format."""


def _parse_header(rest: str, where: str) -> dict:
    meta = {}
    for field in rest.split():
        if "=" not in field:
            raise AuthoringError(f"{where}: header field {field!r} is not key=value")
        key, value = field.split("=", 1)
        meta[key] = value
    if "id" not in meta or not _ID.match(meta["id"]):
        raise AuthoringError(f"{where}: header needs id=... made of letters, digits, '-', '_' or '.'")
    return meta


def parse_source(text: str, name: str = "<source>", *, labelled: bool = True) -> list[dict]:
    """Parse authoring-format text into article dicts (the JSON Lines schema).

    ``labelled=False`` reads unlabelled text: every line after a header is
    one unit as it stands (no label code, no comments), on a line of its own."""
    articles: list[dict] = []
    current = None
    pending_break = ""  # separator to put before the next unit

    def finish():
        if current is None:
            return
        if not current["sentences"]:
            raise AuthoringError(f"{name}: article {current['id']!r} has no sentences")
        articles.append(current)

    for lineno, raw_line in enumerate(text.splitlines(), 1):
        where = f"{name}:{lineno}"
        line = raw_line.rstrip()
        if not line.strip():
            if current is not None and current["sentences"]:
                pending_break = "\n\n"
            continue
        if labelled and line.lstrip().startswith("#"):
            continue
        header = _HEADER.match(line.strip())
        if header:
            finish()
            meta = _parse_header(header.group(1), where)
            current = {"id": meta.pop("id"), "text": "", "sentences": [], "meta": meta}
            pending_break = ""
            continue
        if labelled:
            unit = _UNIT.match(line)
            if not unit:
                raise AuthoringError(f"{where}: expected 'L | sentence' with L in {'/'.join(CODES)}, found {line[:60]!r}")
            code, joiner, body = unit.group(1).upper(), unit.group(2), unit.group(3).strip()
        else:
            code, joiner, body = None, "/", line.strip()
        if current is None:
            raise AuthoringError(f"{where}: {'unit' if labelled else 'text'} before the first '=== ARTICLE id=...' header")
        if labelled and code not in CODES:
            raise AuthoringError(f"{where}: unknown label code {code!r}; use one of {', '.join(CODES)}")
        if not body:
            raise AuthoringError(f"{where}: empty sentence")
        if current["sentences"]:
            sep = pending_break or ("\n" if joiner == "/" else " ")
        else:
            sep = ""
        current["text"] += sep
        start = len(current["text"])
        current["text"] += body
        current["sentences"].append({"text": body, **({"label": CODES[code]} if labelled else {}),
                                     "start": start, "end": start + len(body)})
        pending_break = ""
    finish()
    return articles


def parse_unlabelled(text: str, name: str = "<source>") -> list[dict]:
    """Unlabelled text (data/transfer/): ``=== ARTICLE`` headers, then one unit per line, a blank line
    between paragraphs; units on consecutive lines are joined by a line break."""
    return parse_source(text, name, labelled=False)


def parse_files(paths, parse=None) -> list[dict]:
    articles, seen = [], {}
    for path in paths:
        path = Path(path)
        for art in (parse or parse_source)(path.read_text(encoding="utf-8"), str(path)):
            if art["id"] in seen:
                raise AuthoringError(f"{path}: article id {art['id']!r} already used in {seen[art['id']]}")
            seen[art["id"]] = str(path)
            art["meta"]["source_file"] = path.name
            articles.append(art)
    return articles


def _summary(articles) -> str:
    counts = Counter(s.get("label") for a in articles for s in a["sentences"])
    n = sum(counts.values())
    parts = [f"{len(articles)} articles, {n} sentences"]
    if None in counts:
        return parts[0] + " (unlabelled)"
    parts += [f"{label} {counts.get(label, 0)}" for label in CODES.values()]
    return "; ".join(parts)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in {"check", "build", "build-unlabelled"}:
        print(__doc__)
        return 2
    try:
        if argv[0] == "check":
            articles = parse_files(argv[1:])
            print(_summary(articles))
        else:
            src, out = Path(argv[1]), Path(argv[2])
            parse = parse_unlabelled if argv[0] == "build-unlabelled" else parse_source
            articles = parse_files(sorted(src.glob("*.txt")), parse)
            with out.open("w", encoding="utf-8") as fh:
                for art in articles:
                    fh.write(json.dumps(art, ensure_ascii=False) + "\n")
            print(f"wrote {out}: {_summary(articles)}")
    except (AuthoringError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
