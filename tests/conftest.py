"""Shared fixtures: a tiny random BERT built on the fly (no network, no download)
and the seed article from ../shared when it is there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seed_article.jsonl"

_EXTRA_WORDS = (
    "the a an of to and in on is was were be been said says told could may might will would reportedly sources "
    "source he she it they we you police minister video shows unconfirmed claimed according reports experts "
    "sign up newsletter read more don't miss watch share follow subscribe by image getty court ruled vote "
    "hello world another sentence one two three new old city council mayor"
).split()


def _vocab() -> dict[str, int]:
    words = set(_EXTRA_WORDS)
    if SEED.is_file():
        words |= set(re.findall(r"\w+|[^\w\s]", SEED.read_text(encoding="utf-8").lower()))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return {t: i for i, t in enumerate(specials + sorted(words))}


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> str:
    """A 2-layer, hidden-32 random BERT with its tokenizer, saved to a directory."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    tok = BertTokenizer(vocab=_vocab())
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def seed_path() -> Path:
    if not SEED.is_file():
        pytest.skip("../shared/seed_article.jsonl is not here")
    return SEED


@pytest.fixture(scope="session")
def seed_article(seed_path):
    return json.loads(seed_path.read_text(encoding="utf-8").splitlines()[0])


@pytest.fixture()
def tiny_config(tiny_base):
    from factsift.model.classifier import ModelConfig

    return ModelConfig(base_model=tiny_base, context=1, max_targets=4, max_length=96, max_sentence_tokens=40,
                       lora_r=4, lora_alpha=8.0)


@pytest.fixture()
def tiny_clf(tiny_config):
    import torch

    from factsift import SentenceClassifier

    torch.manual_seed(0)
    clf = SentenceClassifier.build(tiny_config)
    clf.dtype = torch.float32
    return clf


def write_articles(path: Path, articles) -> Path:
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    return path


def small_articles(seed_article, n: int = 3):
    """``n`` articles cut from the seed article (gold spans kept)."""
    sents = seed_article["sentences"]
    out = []
    size = len(sents) // n
    for k in range(n):
        part = sents[k * size:(k + 1) * size] if k < n - 1 else sents[k * size:]
        base = part[0]["start"]
        text = seed_article["text"][base:part[-1]["end"]]
        out.append({"id": f"seed-part-{k}", "text": text,
                    "sentences": [{"text": s["text"], "label": s["label"], "start": s["start"] - base,
                                   "end": s["end"] - base} for s in part]})
    return out
