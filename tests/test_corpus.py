"""The shipped corpus: loads through the validator, splits do not leak, label minimums hold."""

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from factsift.data.articles import load_articles
from factsift.data.corpus import FURNITURE_MIN_ARTICLES, SHORT_UNIT_WORDS, assign, furniture, load_sources, read_pins
from factsift.data.labels import LABELS

from .conftest import SHARED

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def splits():
    return {name: load_articles(CORPUS / f"{name}.jsonl") for name in SPLITS}


def test_size_and_label_minimums(splits):
    arts = [a for s in splits.values() for a in s]
    counts = Counter(s.label for a in arts for s in a.sentences)
    assert len(arts) >= 400
    assert sum(counts.values()) >= 10_000
    for label in LABELS:
        assert counts[label] >= 1000, (label, counts[label])


def test_split_proportions(splits):
    n = {k: len(v) for k, v in splits.items()}
    total = sum(n.values())
    assert 0.75 <= n["train"] / total <= 0.85
    assert 0.08 <= n["dev"] / total <= 0.12 and 0.08 <= n["test"] / total <= 0.12


def test_no_sentence_text_in_two_splits(splits):
    """Only generic site furniture (a boilerplate line in four or more articles,
    the same string on every page of the web, or a unit of at most four words
    such as a `Summary` heading) may recur across splits."""
    where = defaultdict(set)
    labels = defaultdict(set)
    articles = defaultdict(set)
    for name, arts in splits.items():
        for a in arts:
            for s in a.sentences:
                where[s.text.strip()].add(name)
                labels[s.text.strip()].add(s.label)
                articles[s.text.strip()].add(a.id)
    leaks = [t for t, names in where.items() if len(names) > 1
             and not (labels[t] == {"promotional_boilerplate"} and len(articles[t]) >= FURNITURE_MIN_ARTICLES)
             and not len(t.split()) <= SHORT_UNIT_WORDS]
    assert leaks == []


def test_every_article_has_raw_text_and_spans(splits):
    for arts in splits.values():
        for a in arts:
            assert a.text and all(a.text[s.start:s.end] == s.text for s in a.sentences)


def test_built_files_match_the_sources(splits):
    """The JSON Lines are exactly what `python -m factsift.data.corpus` builds from src/."""
    built = load_sources(CORPUS)
    pins = read_pins(CORPUS / "splits.tsv")
    assert sorted(pins) == sorted(a["id"] for a in built)  # every article is pinned
    expected = assign(built, pins=pins)
    for name in SPLITS:
        ids = [a.id for a in splits[name]]
        assert ids == [a["id"] for a in expected[name]]
        shipped = [json.loads(l) for l in (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert shipped == expected[name]
    assert furniture(built)  # the exemption covers real furniture, e.g. 'Advertisement'


def test_pinned_articles_keep_their_split_when_a_batch_is_added():
    built = load_sources(CORPUS)
    pins = read_pins(CORPUS / "splits.tsv")
    new = [{"id": f"new-{i:03d}", "text": f"Story {i}.", "meta": {},
            "sentences": [{"text": f"Story {i}.", "label": "factual_claim", "start": 0, "end": len(f"Story {i}.")}]}
           for i in range(50)]
    out = assign(built + new, pins=pins)
    where = {a["id"]: name for name, arts in out.items() for a in arts}
    assert all(where[i] == s for i, s in pins.items())
    placed = [where[a["id"]] for a in new]
    assert placed.count("dev") > 0 and placed.count("test") > 0 and placed.count("train") > 30


def test_pins_that_split_a_group_are_refused():
    a = {"id": "a", "text": "The same long sentence in both.", "meta": {},
         "sentences": [{"text": "The same long sentence in both.", "label": "factual_claim", "start": 0, "end": 31}]}
    b = dict(a, id="b")
    with pytest.raises(ValueError, match="share a sentence"):
        assign([a, b], pins={"a": "train", "b": "test"})


REALDEV = SHARED / "realdev" / "realdev.jsonl"
COPY_RUN_WORDS = 8  # 7-word runs occur by chance in news English ("is said to be one of the")


def _word_runs(text: str, n: int = COPY_RUN_WORDS) -> set:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


TRANSFER = CORPUS.parent / "transfer" / "src"
RESERVE = CORPUS / "reserve" / "src"


def _copied(sources: list[dict], held_out: set) -> list[tuple[str, str]]:
    """(article id, sentence) of every parsed source sentence sharing a word run with ``held_out``."""
    return [(a["id"], s["text"]) for a in sources for s in a["sentences"] if _word_runs(s["text"]) & held_out]


def test_no_evaluation_text_in_the_corpus(splits):
    """The corpus, its reserve batches and the unlabelled transfer text beside it
    are the project's own writing: no sentence shares a run of eight words with
    the real-news evaluation set (when ../shared has it)."""
    from factsift.data.authoring import parse_files, parse_unlabelled

    if not REALDEV.is_file():
        pytest.skip("../shared/realdev is not here")
    held_out = set()
    for art in load_articles(REALDEV):
        for s in art.sentences:
            held_out |= _word_runs(s.text)
    copied = [(a.id, s.text) for arts in splits.values() for a in arts for s in a.sentences
              if _word_runs(s.text) & held_out]
    assert copied == []
    transfer = parse_files(sorted(TRANSFER.glob("*.txt")), parse_unlabelled)
    assert len(transfer) >= 300
    assert _copied(transfer, held_out) == []
    assert _copied(parse_files(sorted(RESERVE.glob("*.txt"))), held_out) == []
