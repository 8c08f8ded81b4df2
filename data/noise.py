"""Scraped-text noise for training sentences (``train.noise``).

Real articles reach factsift through scrapers and sentence splitters, and
their sentences carry marks that clean, hand-written training text lacks:
a space before each comma and full stop ("this is wrong ."), a headline
with no full stop, straight quotes where the page had curly ones (or the
other way round), a headline in Title Case. None of these changes who
vouches for a sentence (LABELS.md), so a training sentence can wear one of
them and keep its label. :func:`scrape_noise` gives such a variant; the
training set replaces a drawn share of its sentences with one.
"""

from __future__ import annotations

import random
import re

_SPACE_BEFORE = re.compile(r"(?<=\w)([,.;:!?])(?=\s|$)")
_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*")
_SMALL = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
TITLE_CASE_MAX_WORDS = 14  # only short sentences read as headlines in Title Case


def _space_before_punctuation(text: str) -> str:
    return _SPACE_BEFORE.sub(r" \1", text)


def _drop_final_stop(text: str) -> str:
    stripped = text.rstrip()
    # a final "." only: a question or an exclamation says something about the sentence
    if stripped.endswith(".") and not stripped.endswith(".."):
        return stripped[:-1]
    return text


def _swap_quotes(text: str) -> str:
    if any(c in text for c in "\u201c\u201d\u2018\u2019"):
        return text.translate(_CURLY)
    out, open_ = [], True
    for i, c in enumerate(text):
        if c == '"':
            out.append("\u201c" if open_ else "\u201d")
            open_ = not open_
        elif c == "'" and 0 < i < len(text) - 1 and text[i - 1].isalpha():
            out.append("\u2019")  # an apostrophe: don't, Smith's
        else:
            out.append(c)
    return "".join(out)


def _title_case(text: str) -> str:
    if len(text.split()) > TITLE_CASE_MAX_WORDS:
        return text
    first = True

    def cap(m):
        nonlocal first
        word = m.group(0)
        keep = not first and word.lower() in _SMALL
        first = False
        return word if keep or word[0].isupper() else word[0].upper() + word[1:]

    return _WORD.sub(cap, text)


KINDS = {
    "space_before_punctuation": _space_before_punctuation,
    "no_final_stop": _drop_final_stop,
    "swapped_quotes": _swap_quotes,
    "title_case": _title_case,
}


def scrape_noise(text: str, rng: random.Random) -> str:
    """``text`` with one kind of scraped-text noise, drawn with ``rng`` among
    those that change it (``text`` itself when none does)."""
    kinds = list(KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        out = KINDS[kind](text)
        if out != text:
            return out
    return text
