"""Baselines scored by the same evaluation code as the model.

* ``majority``: the most frequent training label for every sentence.
* ``tfidf_lr``: TF-IDF word and character n-grams + logistic regression,
  trained on the same articles as the model, one sentence at a time.
* ``keyword_rules``: LABELS.md's signal words as ordered rules, no training.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

from ..data.labels import LABELS


class MajorityBaseline:
    name = "majority"

    def fit(self, sentences: Sequence[str], labels: Sequence[str]):
        self.label_ = Counter(labels).most_common(1)[0][0]
        return self

    def predict_proba(self, sentences: Sequence[str]):
        out = np.zeros((len(sentences), len(LABELS)))
        out[:, LABELS.index(self.label_)] = 1.0
        return out


class TfidfBaseline:
    name = "tfidf_lr"

    def fit(self, sentences: Sequence[str], labels: Sequence[str], seed: int = 0):
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
        from sklearn.pipeline import make_pipeline  # noqa: PLC0415

        from ..model.lexical import C, tfidf_features  # noqa: PLC0415 - the default model's lexical expert fits the same

        self.pipe_ = make_pipeline(tfidf_features(), LogisticRegression(max_iter=2000, C=C, random_state=seed))
        self.pipe_.fit(list(sentences), list(labels))
        return self

    def predict_proba(self, sentences: Sequence[str]):
        raw = self.pipe_.predict_proba(list(sentences))
        out = np.zeros((len(sentences), len(LABELS)))
        for j, label in enumerate(self.pipe_.classes_):
            out[:, LABELS.index(label)] = raw[:, j]
        return out


_RULES = [
    ("promotional_boilerplate", re.compile(
        r"(DON['’]T MISS|READ MORE|^Related|^See also|Source: Read Full Article|sign[- ]?up|subscribe|newsletter|"
        r"unsubscribe|privacy policy|cookies?|click here|follow us|share this|\[(WATCH|VIDEO|PICS|INSIGHT|LISTEN|REVEAL)\]|"
        r"^By [A-Z][a-z]+ [A-Z]|\(Image:|Photo:|Getty|copyright|©|advertisement|All rights reserved|@\w+\)?\s*\w* \d{1,2}, \d{4})",
        re.IGNORECASE)),
    ("unverified_report", re.compile(
        r"\b(reportedly|according to (?:reports|sources)|sources? (?:say|said|told|claim)|is said to|are said to|"
        r"rumou?r|unconfirmed|unverified|allegedly|it is understood|is believed to|are believed to|insiders?|"
        r"person familiar|people familiar|experts? (?:say|said|believe|warn)|analysts? (?:say|said|expect)|"
        r"residents (?:say|said|reported))\b", re.IGNORECASE)),
    ("opinion_quote", re.compile(
        r"(\b(said|says|told|claimed|claims|warned|warns|added|insisted|argued|stated|wrote|tweeted|according to)\b|"
        r"[\"“”‘’].{10,}[\"“”’])", re.IGNORECASE)),
    ("speculation", re.compile(
        r"\b(may|might|could|would|should|likely|unlikely|possibly|perhaps|seems?|appears?|will|expected to|"
        r"set to|probably|suggests?)\b|\?\s*$", re.IGNORECASE)),
]


class KeywordRulesBaseline:
    name = "keyword_rules"

    def fit(self, sentences=None, labels=None):
        return self

    @staticmethod
    def label(sentence: str) -> str:
        for label, pattern in _RULES:
            if pattern.search(sentence):
                return label
        return "factual_claim"

    def predict_proba(self, sentences: Sequence[str]):
        out = np.zeros((len(sentences), len(LABELS)))
        for i, s in enumerate(sentences):
            out[i, LABELS.index(self.label(s))] = 1.0
        return out


BASELINES = {cls.name: cls for cls in (MajorityBaseline, TfidfBaseline, KeywordRulesBaseline)}
