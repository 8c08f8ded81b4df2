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
* spans always index the original string, whatever pysbd does to whitespace;
* a line longer than ``_CHUNK`` characters goes to pysbd in bounded pieces
  (pysbd takes time quadratic in the length of what it is given: a 200,000
  character line took a minute, a 5 MB one would take hours). Pieces
  overlap, so every boundary is decided with text on both sides of it, as
  on the whole line (see ``_split_long``).
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


def is_fragment(text: str) -> bool:
    """A unit with no letter or digit (a stray closing quote or full stop): it
    belongs to the sentence before it (LABELS.md, "Fragments")."""
    return not _HAS_WORD.search(text)


_MAX_WHOLE_LINE = 300
_CHUNK = 2000  # characters given to pysbd at once
_CHUNK_SLACK = 200  # how far past _CHUNK a piece may run to end at a space
_ABBREV_TAIL = 32  # longer than any match of _ABBREV_END


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
            prev = text[max(out[-1].start, out[-1].end - _ABBREV_TAIL) : out[-1].end]
            if is_fragment(piece) or _ABBREV_END.search(prev) or piece[:1].islower():
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
    if len(body) <= _CHUNK:
        return _locate(body, _segmenter().segment(body), offset + lead)
    return _split_long(body, offset + lead)


def _piece_end(body: str, pos: int) -> int:
    """End of the piece of ``body`` that starts at ``pos``: about ``_CHUNK``
    characters on, after a space when one is near, so no word is cut."""
    end = pos + _CHUNK
    if end >= len(body):
        return len(body)
    for i in range(end, min(end + _CHUNK_SLACK, len(body))):
        if body[i].isspace():
            return i
    return end


def _split_long(body: str, offset: int) -> list[Span]:
    """Split a long line (no surrounding whitespace) piece by piece.

    pysbd decides a boundary from the text on both sides of it, so only the
    sentences of a piece that end at least ``_CHUNK // 10`` characters before
    its end are kept; the next piece starts where the first sentence not kept
    begins. A piece with no such boundary holds one long sentence: the next
    piece starts a little before that sentence's end, so its end is decided
    again with text after it, and the first sentence found there continues it.

    pysbd keeps some state over a whole text (whether a quotation is open), so
    pieces can differ from one pysbd call on the whole line: measured on 449
    corpus and realdev articles, each flattened to one line, 7 of 10,106
    sentences differed. No line of those articles is longer than 1,108
    characters, so articles with line breaks never take this path."""
    spans: list[Span] = []
    overlap = max(1, _CHUNK // 10)
    pos = 0
    open_start = None  # start of a sentence that runs on into the next piece
    while pos < len(body):
        end = _piece_end(body, pos)
        piece = body[pos:end]
        found = _locate(piece, _segmenter().segment(piece), pos)
        if not found:  # only spaces
            pos = end
            continue
        if open_start is not None:
            found[0] = Span(open_start, found[0].end)
            open_start = None
        if end == len(body):
            spans.extend(found)
            break
        keep = 0
        while keep < len(found) - 1 and found[keep].end <= end - overlap:
            keep += 1
        if keep:
            spans.extend(found[:keep])
            pos = found[keep].start
            continue
        first = found[0]
        open_start = first.start
        low = max(pos + 1, first.end - overlap)
        cut = next((i for i in range(first.end - 1, low - 1, -1) if body[i].isspace()), None)
        pos = cut if cut is not None else max(low, first.end - 1)
    return [Span(offset + s.start, offset + s.end) for s in spans]


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
