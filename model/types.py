"""Typed, frozen prediction results: the same types whatever the input."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SentencePrediction:
    """One sentence and what the model says about it.

    ``start``/``end`` index the article's ``text`` (``None`` for sentences
    given to :meth:`SentenceClassifier.predict` without an article).
    ``probabilities`` holds all labels, in the model's label order.
    """

    text: str
    label: str
    score: float
    probabilities: dict[str, float]
    start: int | None = None
    end: int | None = None
    truncated: bool = False

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "score": round(self.score, 6),
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
        }


@dataclass(frozen=True)
class ArticlePrediction:
    """Every sentence of an article, in order, and the article's composition
    (the share of its sentences that got each label; all labels present)."""

    sentences: tuple[SentencePrediction, ...]
    composition: dict[str, float]
    text: str
    id: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.sentences]

    def to_dict(self) -> dict:
        out = {"id": self.id, "composition": {k: round(v, 6) for k, v in self.composition.items()}}
        out["sentences"] = [s.to_dict() for s in self.sentences]
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def composition(labels: list[str], label_names) -> dict[str, float]:
    n = len(labels)
    return {name: (labels.count(name) / n if n else 0.0) for name in label_names}
