"""A lexical expert beside the network: TF-IDF n-grams and logistic regression.

The network reads each sentence in its window; this model reads the
sentence's words and character n-grams alone (the same features as the
``tfidf_lr`` baseline, training/baselines.py). It is much weaker on its own,
but it is wrong in different places, so the two combine as a product of
experts::

    p(label) ∝ p_network(label) ** (1 - w) * p_lexical(label) ** w

with ``w`` fitted on the dev split by log-loss when the model is trained
(``train.lexical_expert``; docs/model-selection.md, round 14). On real news
this gained about as much as a second network would, for a few
milliseconds per thousand sentences.

Fitting uses scikit-learn; predicting uses numpy alone, with the fitted
vocabulary, IDF weights and coefficients saved as ``lexical.json`` and
``lexical.safetensors`` in the model directory. The transform reproduces
scikit-learn's ``TfidfVectorizer`` (lowercase, ``(?u)\\b\\w\\w+\\b`` word
tokens, ``char_wb`` character n-grams, sublinear TF, L2 norm per block), and
caches each word's character n-grams, which makes it several times faster.
"""

from __future__ import annotations

import json
import re
from array import array
from pathlib import Path
from typing import Sequence

LEXICAL_WEIGHTS = "lexical.safetensors"
LEXICAL_VOCAB = "lexical.json"
FORMAT_VERSION = 1
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
WORD_MIN_DF = 2
CHAR_MIN_DF = 3
C = 4.0  # inverse L2 strength of the logistic regression (the tfidf_lr baseline's)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_CACHE_LIMIT = 200_000  # words whose character n-grams are kept


class LexicalError(ValueError):
    """Lexical expert files that are missing, damaged or do not fit the model."""


def tfidf_features():
    """The scikit-learn feature union both this expert and the ``tfidf_lr`` baseline fit."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    from sklearn.pipeline import FeatureUnion  # noqa: PLC0415

    return FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=WORD_NGRAMS, min_df=WORD_MIN_DF, sublinear_tf=True, lowercase=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, min_df=CHAR_MIN_DF, sublinear_tf=True)),
    ])


def _char_wb(word: str, lo: int, hi: int) -> list[str]:
    """scikit-learn's ``char_wb`` n-grams of one (lowercased) word, in its order."""
    w = " " + word + " "
    n_chars = len(w)
    out = []
    for n in range(lo, hi + 1):
        offset = 0
        out.append(w[offset:offset + n])
        while offset + n < n_chars:
            offset += 1
            out.append(w[offset:offset + n])
        if offset == 0:  # a word shorter than n: counted once
            break
    return out


class LexicalExpert:
    """TF-IDF word (1-2) and character (2-5) n-grams, multinomial logistic regression."""

    def __init__(self, labels: Sequence[str], word_vocab: Sequence[str], char_vocab: Sequence[str],
                 word_idf, char_idf, coef, intercept):
        import numpy as np  # noqa: PLC0415

        self.labels = tuple(labels)
        self.word_vocab = list(word_vocab)
        self.char_vocab = list(char_vocab)
        self.word_idf = np.asarray(word_idf, dtype=np.float64)
        self.char_idf = np.asarray(char_idf, dtype=np.float64)
        coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        n_feat = len(self.word_vocab) + len(self.char_vocab)
        if (len(self.word_idf) != len(self.word_vocab) or len(self.char_idf) != len(self.char_vocab)
                or coef.shape != (len(self.labels), n_feat) or self.intercept.shape != (len(self.labels),)):
            raise LexicalError(f"the lexical expert's arrays do not fit together: {len(self.word_vocab)} word and "
                               f"{len(self.char_vocab)} character terms, IDF {len(self.word_idf)} + "
                               f"{len(self.char_idf)}, coefficients {coef.shape}, intercept {self.intercept.shape}, "
                               f"{len(self.labels)} labels")
        self._coef_t = np.ascontiguousarray(coef.T)  # (features, labels): rows gathered per sentence
        self._word_index = {t: i for i, t in enumerate(self.word_vocab)}
        offset = len(self.word_vocab)
        self._char_index = {t: offset + i for i, t in enumerate(self.char_vocab)}
        self._idf = np.concatenate([self.word_idf, self.char_idf])
        self._char_cache: dict[str, array] = {}

    @property
    def coef(self):
        return self._coef_t.T

    # ------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, sentences: Sequence[str], gold: Sequence[str], labels: Sequence[str], *, seed: int = 0):
        """Fit on labelled sentences. Labels absent from ``gold`` get the lowest
        score the others have for every sentence. Raises ``LexicalError`` when
        fewer than two labels occur or no term survives the document-frequency cuts."""
        import numpy as np  # noqa: PLC0415
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

        labels = tuple(labels)
        present = sorted(set(gold))
        if len(present) < 2:
            raise LexicalError(f"the lexical expert needs at least two labels in its training sentences, found "
                               f"{present or 'none'}")
        features = tfidf_features()
        try:
            x = features.fit_transform(list(sentences))
        except ValueError as exc:  # "empty vocabulary": too few sentences for min_df
            raise LexicalError(f"the lexical expert found no usable terms in {len(sentences)} training sentences "
                               f"({exc})") from None
        model = LogisticRegression(max_iter=2000, C=C, random_state=seed).fit(x, list(gold))
        word, char = (dict(features.transformer_list)[k] for k in ("word", "char"))
        n_feat = x.shape[1]
        coef = np.full((len(labels), n_feat), np.nan)
        intercept = np.full(len(labels), np.nan)
        raw_coef, raw_b = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes: sigmoid = softmax([0, d])
            raw_coef = np.vstack([np.zeros_like(raw_coef[0]), raw_coef[0]])
            raw_b = np.array([0.0, raw_b[0]])
        for j, label in enumerate(model.classes_):
            coef[labels.index(label)] = raw_coef[j]
            intercept[labels.index(label)] = raw_b[j]
        return cls(labels, _ordered(word.vocabulary_), _ordered(char.vocabulary_), word.idf_, char.idf_,
                   coef, intercept)

    # ------------------------------------------------------------ predicting
    def _char_ids(self, word: str):
        ids = self._char_cache.get(word)
        if ids is None:  # a word seen before costs one lookup
            index = self._char_index
            ids = array("q", [i for g in _char_wb(word, *CHAR_NGRAMS) if (i := index.get(g)) is not None])
            if len(self._char_cache) >= _CACHE_LIMIT:
                self._char_cache.clear()
            self._char_cache[word] = ids
        return ids

    def decision(self, sentences: Sequence[str]):
        """Unnormalised scores, (sentences, labels), as scikit-learn's ``decision_function``."""
        import numpy as np  # noqa: PLC0415

        n = len(sentences)
        widx, cache, char_ids = self._word_index, self._char_cache, self._char_ids
        ids, lengths = array("q"), []
        for text in sentences:
            low = text.lower()
            toks = _TOKEN.findall(low)
            start = len(ids)
            ids.extend([i for t in toks if (i := widx.get(t)) is not None])
            ids.extend([i for a, b in zip(toks, toks[1:]) if (i := widx.get(a + " " + b)) is not None])
            for word in low.split():
                ids.extend(cache.get(word) or char_ids(word))
            lengths.append(len(ids) - start)
        out = np.zeros((n, len(self.labels)))
        if ids:
            n_feat = len(self._idf)
            owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
            key, counts = np.unique(owner * n_feat + np.frombuffer(ids, dtype=np.int64), return_counts=True)
            rows, feat = key // n_feat, key % n_feat
            vals = (1.0 + np.log(counts)) * self._idf[feat]
            block = rows * 2 + (feat >= len(self.word_vocab))  # word and character blocks are normed apart
            norms = np.sqrt(np.bincount(block, weights=vals * vals, minlength=2 * n))
            vals = vals / norms[block]
            for j in range(len(self.labels)):
                out[:, j] = np.bincount(rows, weights=vals * self._coef_t[feat, j], minlength=n)
        out += self.intercept
        # labels the training sentences lacked: the lowest score of the others
        missing = np.isnan(out)
        if missing.any():
            low = np.nanmin(np.where(missing, np.inf, out), axis=1, keepdims=True)
            out = np.where(missing, low, out)
        return out

    def log_proba(self, sentences: Sequence[str]):
        """Log-probabilities of each label, (sentences, labels)."""
        import numpy as np  # noqa: PLC0415

        z = self.decision(sentences)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    # ---------------------------------------------------------------- files
    def save(self, directory) -> None:
        """Write ``lexical.json`` (terms, labels) and ``lexical.safetensors`` (arrays) into ``directory``."""
        import numpy as np  # noqa: PLC0415
        import safetensors.numpy  # noqa: PLC0415

        directory = Path(directory)
        meta = {"format": FORMAT_VERSION, "labels": list(self.labels),
                "word": {"ngram_range": list(WORD_NGRAMS), "terms": self.word_vocab},
                "char": {"ngram_range": list(CHAR_NGRAMS), "analyzer": "char_wb", "terms": self.char_vocab}}
        (directory / LEXICAL_VOCAB).write_text(json.dumps(meta, ensure_ascii=False, separators=(",", ":")) + "\n",
                                               encoding="utf-8")
        arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (
            ("word_idf", self.word_idf), ("char_idf", self.char_idf), ("coef", self.coef), ("intercept", self.intercept))}
        safetensors.numpy.save_file(arrays, str(directory / LEXICAL_WEIGHTS), metadata={"producer": "factsift"})

    @classmethod
    def load(cls, directory, labels: Sequence[str]) -> "LexicalExpert":
        """Read a saved expert; ``LexicalError`` names what is wrong with the files."""
        import safetensors.numpy  # noqa: PLC0415

        directory = Path(directory)
        vocab_file, weights_file = directory / LEXICAL_VOCAB, directory / LEXICAL_WEIGHTS
        for f in (vocab_file, weights_file):
            if not f.is_file():
                raise LexicalError(f"{f} is missing: config.json names a lexical expert, so the model directory "
                                   "is incomplete; re-copy it, or retrain")
        try:
            meta = json.loads(vocab_file.read_text(encoding="utf-8"))
            arrays = safetensors.numpy.load_file(str(weights_file))
        except Exception as exc:  # noqa: BLE001 - json and safetensors raise their own error types
            raise LexicalError(f"the lexical expert in {directory} cannot be read ({str(exc)[:200]}); the files "
                               "are truncated or damaged: re-copy the model directory, or retrain") from None
        try:
            if meta.get("format") != FORMAT_VERSION:
                raise LexicalError(f"{vocab_file} has format {meta.get('format')!r}; this factsift reads format "
                                   f"{FORMAT_VERSION}: upgrade factsift")
            if (tuple(meta["word"]["ngram_range"]) != WORD_NGRAMS or tuple(meta["char"]["ngram_range"]) != CHAR_NGRAMS):
                raise LexicalError(f"{vocab_file} was fitted with other n-gram ranges than this factsift uses")
            if tuple(meta["labels"]) != tuple(labels):
                raise LexicalError(f"{vocab_file} has labels {meta['labels']}, the model {list(labels)}")
            return cls(meta["labels"], meta["word"]["terms"], meta["char"]["terms"], arrays["word_idf"],
                       arrays["char_idf"], arrays["coef"], arrays["intercept"])
        except (KeyError, TypeError) as exc:
            raise LexicalError(f"{vocab_file} or {weights_file.name} lacks {exc}; the files are damaged: re-copy "
                               "the model directory, or retrain") from None


def _ordered(vocabulary: dict) -> list[str]:
    terms = [""] * len(vocabulary)
    for term, i in vocabulary.items():
        terms[i] = term
    return terms


def mix(log_network, log_lexical, weight: float):
    """The product of experts: probabilities ∝ p_network ** (1 - w) * p_lexical ** w, row by row."""
    from .calibration import softmax  # noqa: PLC0415

    return softmax((1.0 - weight) * log_network + weight * log_lexical)


WEIGHT_GRID = tuple(round(0.05 * i, 2) for i in range(13))  # 0 .. 0.6


def fit_weight(probs, log_lexical, gold: Sequence[int]) -> tuple[float, dict]:
    """The grid weight (0-0.6 in steps of 0.05) with the lowest log-loss on
    labelled sentences: ``probs`` the network's calibrated probabilities,
    ``log_lexical`` the expert's log-probabilities. Ties go to the smaller weight."""
    import numpy as np  # noqa: PLC0415

    from .calibration import nll  # noqa: PLC0415

    log_net = np.log(np.clip(probs, 1e-12, None))
    losses = {w: nll(mix(log_net, log_lexical, w), gold) for w in WEIGHT_GRID}
    best = min(WEIGHT_GRID, key=lambda w: (round(losses[w], 6), w))
    return best, {"nll_without": round(losses[0.0], 4), "nll_with": round(losses[best], 4)}
