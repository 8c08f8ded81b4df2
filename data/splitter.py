"""Sentence splitting of raw article text into character spans.

pysbd does the hard part (quotes, decimals, most abbreviations); this module
fixes what it gets wrong on scraped news, measured on the seed article and
../shared/realdev:

* line breaks are hard boundaries (pysbd never splits on them by itself and
  scraped furniture sits on its own lines);
* a short line ending in a ``[WATCH]``-style tag, or starting with a link
  prefix such as ``DON'T MISS:``, is one unit: it is the headline of another
  story, whatever punctuation it holds;
* splits after abbreviations pysbd does not know (``U.K.``, ``Gen.``) are
  undone, and fragments with no letter or digit (a stray closing quote) join
  the sentence they close;
* spans always index the original string, whatever pysbd does to whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_LINE_BREAK = re.compile(r"[\n\r\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85]+")
_TAG_END = re.compile(r"\[[A-Z][A-Z0-9 &'’-]{1,24}\]\s*$")
_LINK_PREFIX = re.compile(
    r"^\s*(DON['’]T MISS|READ MORE|MORE|RELATED|SEE ALSO|WATCH|LISTEN|READ|ALSO READ|LATEST|TRENDING|"
    r"Related|See also|Read more|Also read|Watch|More)\s*:",
)
_ABBREV_END = re.compile(
    r"(?:\b(?:U\.S|U\.K|U\.N|E\.U|D\.C|Mr|Mrs|Ms|Dr|Prof|Gen|Lt|Col|Capt|Sgt|Sen|Rep|Gov|Rev|St|Jr|Sr|No|Nos|"
    r"vs|etc|Inc|Ltd|Co|Corp|Jan|Feb|Mar|Apr|Aug|Sept|Sep|Oct|Nov|Dec|approx|Fig|Ave|Mt)\.)$"
)
_HAS_WORD = re.compile(r"\w")
_MAX_WHOLE_LINE = 300


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd  # noqa: PLC0415 (only when text must be split)

    return pysbd.Segmenter(language="en", clean=False)


def _locate(line: str, pieces: list[str], offset: int) -> list[Span]:
    """Map pysbd's pieces back onto ``line`` by walking non-space characters."""
    spans, pos = [], 0
    for piece in pieces:
        chars = [c for c in piece if not c.isspace()]
        if not chars:
            continue
        while pos < len(line) and line[pos].isspace():
            pos += 1
        start = pos
        matched = 0
        while pos < len(line) and matched < len(chars):
            if not line[pos].isspace():
                matched += 1
            pos += 1
        if start < pos:
            spans.append(Span(offset + start, offset + pos))
    # Whatever pysbd dropped or changed, the last span runs to the line's end.
    rest = line[pos:].rstrip()
    if rest.strip():
        if spans:
            spans[-1] = Span(spans[-1].start, offset + pos + len(rest))
        else:
            lead = len(rest) - len(rest.lstrip())
            spans.append(Span(offset + pos + lead, offset + pos + len(rest)))
    return spans


def _keep_whole(line: str) -> bool:
    stripped = line.strip()
    if len(stripped) > _MAX_WHOLE_LINE:
        return False
    return bool(_TAG_END.search(stripped) or _LINK_PREFIX.match(stripped))


def _merge(text: str, spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for span in spans:
        piece = text[span.start : span.end]
        if out:
            prev = text[out[-1].start : out[-1].end]
            if not _HAS_WORD.search(piece) or _ABBREV_END.search(prev) or piece[:1].islower():
                out[-1] = Span(out[-1].start, span.end)
                continue
        out.append(span)
    return out


def _split_line(line: str, offset: int) -> list[Span]:
    lead = len(line) - len(line.lstrip())
    body = line.strip()
    if not body:
        return []
    if _keep_whole(body):
        return [Span(offset + lead, offset + lead + len(body))]
    return _locate(body, _segmenter().segment(body), offset + lead)


def split_spans(text: str) -> list[Span]:
    """Split ``text`` into sentence spans; ``text[s.start:s.end]`` is each sentence."""
    if not isinstance(text, str):
        raise TypeError(f"split_spans expects a str, got {type(text).__name__}")
    spans: list[Span] = []
    pos = 0
    for m in list(_LINE_BREAK.finditer(text)) + [None]:
        end = m.start() if m else len(text)
        line_spans = _split_line(text[pos:end], pos)
        spans.extend(_merge(text, line_spans))
        pos = m.end() if m else len(text)
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_spans(text)]
