"""Cheap checks on raw input text before it is split: HTML and language.

Both only ever warn or convert with a note; neither refuses input.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_TAG = re.compile(r"<\s*/?\s*(html|body|div|p|span|a|br|script|style|head|meta|article|section|li|ul|h[1-6])\b[^>]*>",
                  re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ENGLISH = frozenset(
    "the of and to a in is that for it was on with as he she by at said be from his her has have are this an not "
    "but they were which will who would their been more its had after than also we you one about or up".split()
)
_BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "article", "section", "header", "footer",
          "blockquote", "ul", "ol", "title"}


def looks_like_html(text: str) -> bool:
    return len(_TAG.findall(text[:200_000])) >= 3


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style", "noscript"}:
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in {"script", "style", "noscript"}:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(text: str) -> str:
    """Visible text of an HTML page, block elements on their own lines."""
    parser = _Text()
    parser.feed(text)
    parser.close()
    out = html.unescape("".join(parser.parts))
    out = re.sub(r"[ \t\r\f\v]+", " ", out)
    return re.sub(r"\n\s*\n+", "\n\n", "\n".join(line.strip() for line in out.split("\n"))).strip()


def english_share(text: str, sample: int = 20_000) -> float | None:
    """Share of words that are common English function words (None if too few words)."""
    words = [w.lower() for w in _WORD.findall(text[:sample])]
    if len(words) < 20:
        return None
    return sum(w in _ENGLISH for w in words) / len(words)


def is_probably_not_english(text: str) -> bool:
    share = english_share(text)
    return share is not None and share < 0.08
