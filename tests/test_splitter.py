import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factsift.data.splitter import split_sentences, split_spans
from factsift.training.metrics import prf, segmentation_scores


def test_seed_article_boundaries_at_measured_level(seed_article):
    text = seed_article["text"]
    seg = segmentation_scores(text, [(s["start"], s["end"]) for s in seed_article["sentences"]],
                              [(s.start, s.end) for s in split_spans(text)])
    # measured: 28 of 28 gold sentences exact (see docs/splitting.md)
    assert prf(seg["sent_tp"], seg["sent_fp"], seg["sent_fn"])["f1"] == 1.0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Smith went to Washington. He arrived at 3 p.m. on Monday.",
         ["Mr. Smith went to Washington.", "He arrived at 3 p.m. on Monday."]),
        ("The U.S. economy grew 3.5% last year. Over 22.000 people were killed.",
         ["The U.S. economy grew 3.5% last year.", "Over 22.000 people were killed."]),
        ("Headline without a full stop\nFirst sentence. Second one.",
         ["Headline without a full stop", "First sentence.", "Second one."]),
        ("DON’T MISS:\xa0‘Take back control? That’s a lie!’ Boris savaged over fishing\xa0[WATCH]",
         ["DON’T MISS:\xa0‘Take back control? That’s a lie!’ Boris savaged over fishing\xa0[WATCH]"]),
        ("He said: “We will win. We always do.” Then he left.",
         ["He said: “We will win. We always do.”", "Then he left."]),
        ("Wait for it... The results are in.", ["Wait for it...", "The results are in."]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_hard_cases(text, expected):
    assert split_sentences(text) == expected


def test_lines_are_hard_boundaries():
    spans = split_spans("Share this article\nThe mayor said the road would close.")
    assert len(spans) == 2


def test_rejects_non_string():
    with pytest.raises(TypeError, match="expects a str"):
        split_spans(b"bytes")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300))
def test_spans_are_a_partition_of_the_non_space_text(text):
    spans = split_spans(text)
    covered = [0] * len(text)
    prev_end = 0
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert s.start >= prev_end  # ordered, no overlap
        prev_end = s.end
        for i in range(s.start, s.end):
            covered[i] += 1
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert covered[i] == 1, (text, i)
