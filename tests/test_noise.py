import random

import pytest

from factsift.data.noise import KINDS, scrape_noise


@pytest.mark.parametrize("text, kind, want", [
    ("But this is wrong, says the inspector.", "space_before_punctuation", "But this is wrong , says the inspector ."),
    ("Pay rose 3.5% in May.", "space_before_punctuation", "Pay rose 3.5% in May ."),
    ("The council met on Tuesday.", "no_final_stop", "The council met on Tuesday"),
    ("Will the bridge reopen?", "no_final_stop", "Will the bridge reopen?"),
    ("Wait...", "no_final_stop", "Wait..."),
    ("\u201cIt\u2019s over,\u201d she said.", "swapped_quotes", "\"It's over,\" she said."),
    ("\"It's over,\" she said.", "swapped_quotes", "\u201cIt\u2019s over,\u201d she said."),
    ("the mayor of a small town resigns", "title_case", "The Mayor of a Small Town Resigns"),
    ("NASA delays the launch of its probe", "title_case", "NASA Delays the Launch of Its Probe"),
])
def test_each_kind_of_noise(text, kind, want):
    assert KINDS[kind](text) == want


def test_long_sentences_keep_their_case():
    long = " ".join(["word"] * 20) + "."
    assert KINDS["title_case"](long) == long


def test_scrape_noise_changes_text_when_it_can_and_is_seeded():
    text = "The council met on Tuesday, and the vote was 5-2."
    outs = {scrape_noise(text, random.Random(s)) for s in range(20)}
    assert text not in outs and len(outs) >= 3
    assert scrape_noise(text, random.Random(4)) == scrape_noise(text, random.Random(4))
    assert scrape_noise("", random.Random(0)) == ""
    assert scrape_noise("...", random.Random(0)) == "..."
