"""factsift: who vouches for each sentence of a news article?

Importing the package is cheap: the heavy parts (torch, transformers) load
only when a model is built or loaded.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "SentenceClassifier": "factsift.model.classifier",
    "EnsembleClassifier": "factsift.model.ensemble",
    "build_ensemble": "factsift.model.ensemble",
    "SentencePrediction": "factsift.model.types",
    "ArticlePrediction": "factsift.model.types",
    "LABELS": "factsift.data.labels",
    "Article": "factsift.data.articles",
    "Sentence": "factsift.data.articles",
    "ArticleFormatError": "factsift.data.articles",
    "load_articles": "factsift.data.articles",
    "split_spans": "factsift.data.splitter",
    "split_sentences": "factsift.data.splitter",
    "train": "factsift.training.train",
    "evaluate": "factsift.training.evaluate",
    "TrainConfig": "factsift.training.config",
    "load_config": "factsift.training.config",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib  # noqa: PLC0415

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'factsift' has no attribute {name!r}")


def __dir__():
    return __all__
