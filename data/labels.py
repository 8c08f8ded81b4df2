"""The five labels of LABELS.md, in their fixed order."""

from __future__ import annotations

LABELS: tuple[str, ...] = (
    "factual_claim",
    "opinion_quote",
    "speculation",
    "promotional_boilerplate",
    "unverified_report",
)
LABEL2ID = {label: i for i, label in enumerate(LABELS)}
ID2LABEL = dict(enumerate(LABELS))

#: Colours used by reports and the HTML output, one per label.
COLOURS = {
    "factual_claim": "#cfe8ff",
    "opinion_quote": "#ffe3b3",
    "speculation": "#e6d4ff",
    "promotional_boilerplate": "#dddddd",
    "unverified_report": "#ffc9c9",
}
