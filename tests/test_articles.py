import json

import pytest

from factsift.data.articles import ArticleFormatError, load_articles, to_dataset, write_jsonl, write_tsv
from factsift.data.labels import LABELS


def _write(tmp_path, text, name="a.jsonl", mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_seed_article_loads(seed_path):
    arts = load_articles(seed_path)
    assert len(arts) == 1 and len(arts[0].sentences) == 28
    assert set(arts[0].labels) == set(LABELS)


def test_roundtrip_jsonl_and_tsv(tmp_path, seed_path):
    arts = load_articles(seed_path)
    write_jsonl(arts, tmp_path / "out.jsonl")
    write_tsv(arts, tmp_path / "out.tsv")
    again = load_articles(tmp_path / "out.jsonl")
    assert again[0].sentences == arts[0].sentences and again[0].text == arts[0].text
    tsv = load_articles(tmp_path / "out.tsv")
    assert [s.text for s in tsv[0].sentences] == [s.text for s in arts[0].sentences]
    assert tsv[0].labels == arts[0].labels


def test_to_dataset(seed_path):
    ds = to_dataset(load_articles(seed_path))
    assert ds.num_rows == 1 and ds[0]["labels"][0] == "factual_claim"


GOOD = {"id": "x", "text": "One. Two.", "sentences": [{"text": "One.", "label": "factual_claim", "start": 0, "end": 4}]}


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json}\n", r"a\.jsonl:1: invalid JSON"),
        (json.dumps({"sentences": []}) + "\n", r"missing field 'id'"),
        (json.dumps({"id": "x"}) + "\n", r"missing field 'sentences'"),
        (json.dumps({"id": "x", "sentences": []}) + "\n", r"empty article"),
        (json.dumps({"id": "x", "sentences": [{"text": "Hi."}]}) + "\n", r"sentences\[0\]: missing field 'label'"),
        (json.dumps({"id": "x", "sentences": [{"text": "Hi.", "label": "rumour"}]}) + "\n", r"unknown label 'rumour'"),
        (json.dumps({"id": "x", "text": "One. Two.", "sentences": [{"text": "Two.", "label": "factual_claim",
                                                                   "start": 0, "end": 4}]}) + "\n",
         r"span 0:4 gives 'One\.' but 'text' is 'Two\.'"),
        (json.dumps({"id": "x", "text": "One.", "sentences": [{"text": "One.", "label": "factual_claim",
                                                              "start": 0, "end": 40}]}) + "\n", r"outside the article text"),
        (json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n", r"duplicate article id 'x'"),
        ("\n\n", r"contains no articles"),
        (json.dumps([1, 2]) + "\n", r"expected a JSON object"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, content, message):
    with pytest.raises(ArticleFormatError, match=message):
        load_articles(_write(tmp_path, content))


def test_invalid_utf8(tmp_path):
    p = _write(tmp_path, json.dumps(GOOD).encode() + b"\n\xff\xfe{}\n")
    with pytest.raises(ArticleFormatError, match=r"a\.jsonl:2: invalid UTF-8"):
        load_articles(p)


def test_duplicate_id_across_files(tmp_path):
    a = _write(tmp_path, json.dumps(GOOD) + "\n", "a.jsonl")
    b = _write(tmp_path, json.dumps(GOOD) + "\n", "b.jsonl")
    with pytest.raises(ArticleFormatError, match="duplicate article id 'x' .*a.jsonl"):
        load_articles([a, b])


def test_tsv_errors(tmp_path):
    with pytest.raises(ArticleFormatError, match=r"b\.tsv:1: expected 3 tab-separated fields"):
        load_articles(_write(tmp_path, "x\tfactual_claim\n", "b.tsv"))
    with pytest.raises(ArticleFormatError, match=r"b\.tsv:3: article 'x' appears again"):
        load_articles(_write(tmp_path, "x\tfactual_claim\tA.\ny\tfactual_claim\tB.\nx\tfactual_claim\tC.\n", "b.tsv"))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_articles(tmp_path / "nope.jsonl")
    with pytest.raises(ArticleFormatError, match="is a directory"):
        load_articles(tmp_path)


def test_unlabelled_articles_allowed_when_asked(tmp_path):
    p = _write(tmp_path, json.dumps({"id": "x", "sentences": [{"text": "Hi."}]}) + "\n")
    assert load_articles(p, require_labels=False)[0].sentences[0].label is None
