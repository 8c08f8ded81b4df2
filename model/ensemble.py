"""Ensembles: several trained models whose probabilities are averaged.

Models trained by the same recipe with different seeds make different mistakes
on real news, and the mean of their probabilities is right more often than any
one of them (docs/model-selection.md, round 12). An ensemble costs one forward
pass per member, so it predicts that many times slower than a single model:
an option for accuracy, not the default.

An ensemble is a model directory like any other, so ``from_pretrained``,
``factsift predict --model`` and ``factsift evaluate --model`` take it::

    factsift ensemble runs/ens3 runs/a/model runs/b/model runs/c/model --calibrate data/corpus/dev.jsonl

Its ``config.json`` has ``model_type: factsift-ensemble`` and names its
members, each a complete model directory under ``members/``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from .base import ModelNotFoundError
from .classifier import CONFIG, MODEL_TYPE, SentenceClassifier, _read_calibration, _read_meta, _version

ENSEMBLE_TYPE = "factsift-ensemble"
MEMBERS_DIR = "members"


class EnsembleClassifier(SentenceClassifier):
    """A :class:`SentenceClassifier` whose probabilities are the mean of its
    members' (each at its own calibrated temperature), re-read at the
    ensemble's own temperature. Every prediction method of a single model
    works unchanged; each sentence costs one forward pass per member."""

    def __init__(self, members: list[SentenceClassifier]):  # noqa: D107 - no super().__init__: no network of its own
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, found {len(members)}")
        labels = members[0].labels
        for i, m in enumerate(members[1:], 1):
            if tuple(m.labels) != tuple(labels):
                raise ValueError(f"ensemble member {i} has labels {', '.join(m.labels)}, member 0 has "
                                 f"{', '.join(labels)}: members must share one label set, in the same order")
        self.members = list(members)
        first = members[0]
        self.config = first.config  # the window the articles are read with; each member uses its own
        self.tokenizer = first.tokenizer
        self.network = None
        self.device, self.dtype, self.mixed, self.compile = first.device, first.dtype, first.mixed, first.compile
        self.temperature = 1.0
        self.calibration_info: dict = {}
        self.prior = None
        priors = [m.train_prior for m in members]
        self.train_prior = (None if any(p is None for p in priors)
                            else {l: sum(p[l] for p in priors) / len(priors) for l in labels})
        self.lexical, self.lexical_weight, self.lexical_info = None, 0.0, {}  # the members carry their own

    def set_lexical(self, expert, weight: float = 0.0, **info) -> None:
        """Only ``set_lexical(None)``: every member predicts with its network alone.
        Each member mixes in its own lexical expert (model/lexical.py); the mean has none of its own."""
        if expert is not None:
            raise ValueError("an ensemble's members carry their own lexical experts; set one on a member "
                             "(ensemble.members[i].set_lexical) instead")
        for m in self.members:
            m.set_lexical(None, 0)

    @property
    def max_batch_tokens(self):
        return self.members[0].max_batch_tokens

    @max_batch_tokens.setter
    def max_batch_tokens(self, value):
        for m in self.members:
            m.max_batch_tokens = value

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, path=None, *, device="cpu", dtype="auto", compile: bool = False,  # noqa: A002
                        engine: str = "auto"):
        """Load an ensemble directory written by :meth:`save_pretrained` (or ``factsift ensemble``)."""
        if path is None:
            raise ValueError("EnsembleClassifier.from_pretrained needs the ensemble's directory")
        path = Path(path)
        meta = _read_meta(path)
        if meta.get("model_type") != ENSEMBLE_TYPE:
            raise ModelNotFoundError(f"{path / CONFIG} is not an ensemble (model_type {meta.get('model_type')!r}); "
                                     "load it with SentenceClassifier.from_pretrained")
        names = meta.get("members")
        if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
            raise ModelNotFoundError(f"{path / CONFIG}: 'members' must list at least 2 member directories; "
                                     "the ensemble directory is damaged: rebuild it with `factsift ensemble`")
        members = []
        for name in names:
            where = (path / name).resolve()
            if path.resolve() not in where.parents:
                raise ModelNotFoundError(f"{path / CONFIG}: member {name!r} lies outside the ensemble directory")
            members.append(SentenceClassifier.from_pretrained(where, device=device, dtype=dtype, compile=compile,
                                                              engine=engine))
        try:
            ens = cls(members)
        except ValueError as exc:
            raise ModelNotFoundError(f"{path}: {exc}") from None
        _read_calibration(ens, {"calibration": meta.get("calibration")}, path / CONFIG)
        return ens

    def save_pretrained(self, path, *, card: str | None = None) -> Path:
        """Write the ensemble directory atomically: every member under ``members/``, and its config.json."""
        from ..training.io import atomic_directory  # noqa: PLC0415

        with atomic_directory(path) as tmp:
            names = []
            for i, m in enumerate(self.members):
                name = f"{MEMBERS_DIR}/{i}"
                m.save_pretrained(tmp / name)
                names.append(name)
            write_meta(tmp, self, names)
            if card:
                (tmp / "README.md").write_text(card, encoding="utf-8")
        return Path(path)

    # ------------------------------------------------------------- prediction
    def _prepare(self):
        for m in self.members:
            m._prepare()

    def _probabilities(self, articles: list[list[str]], spec, batch_size: int):
        import numpy as np  # noqa: PLC0415

        from .calibration import as_vector, reweight, rescale  # noqa: PLC0415

        own_window = spec == self.config.window  # predict_articles: each member reads its own windows
        total, cuts = None, None
        for i, m in enumerate(self.members):
            kept, m.prior = m.prior, None
            try:
                with warnings.catch_warnings():
                    if i:  # the cut-sentence warning once, from the first member
                        warnings.simplefilter("ignore")
                    rows, cut = m._probabilities(articles, m.config.window if own_window else spec, batch_size)
            finally:
                m.prior = kept
            probs = [np.array(art, dtype=np.float64).reshape(len(art), len(self.labels)) for art in rows]
            total = probs if total is None else [t + p for t, p in zip(total, probs)]
            cuts = cut if cuts is None else cuts
        prior = train = None
        if self.prior is not None:
            prior, train = as_vector(self.prior, self.labels), as_vector(self.train_prior, self.labels, "training prior")
        probs = []
        for t in total:
            p = t / len(self.members)
            if len(p) and self.temperature != 1.0:
                p = rescale(p, self.temperature)
            if len(p) and prior is not None:
                p = reweight(p, train, prior)
            probs.append(p)
        return probs, cuts


def write_meta(where: Path, ens: EnsembleClassifier, names: list[str]) -> None:
    meta = {"model_type": ENSEMBLE_TYPE, "factsift_version": _version(), "labels": list(ens.labels),
            "members": names, "calibration": {"temperature": ens.temperature, **ens.calibration_info}}
    if ens.train_prior is not None:
        meta["train_label_prior"] = {l: round(v, 6) for l, v in ens.train_prior.items()}
    (Path(where) / CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def build_ensemble(output, models: list, *, calibrate=None, batch_size: int = 64) -> EnsembleClassifier:
    """Write an ensemble of the model directories ``models`` to ``output`` (a new
    directory, written atomically; the members' files are copied, not re-saved).
    ``calibrate``: labelled article files on which to fit the ensemble's
    temperature (the dev split its members chose their checkpoints on), since
    the mean of calibrated members is less confident than each of them."""
    from ..training.io import OutputError, atomic_directory  # noqa: PLC0415

    output = Path(output)
    if output.exists():
        raise OutputError(f"{output} already exists; give a new directory for the ensemble (nothing was written)")
    models = [Path(m) for m in models]
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 model directories, found {len(models)}")
    for m in models:
        kind = _read_meta(m).get("model_type") if m.is_dir() else None
        if kind == ENSEMBLE_TYPE:
            raise ValueError(f"{m} is itself an ensemble; give its member directories instead")
        if kind != MODEL_TYPE:
            raise ModelNotFoundError(f"{m} is not a factsift model directory (no config.json with model_type "
                                     f"{MODEL_TYPE!r}); give the model/ directory of a training run")
    members = [SentenceClassifier.from_pretrained(m) for m in models]
    ens = EnsembleClassifier(members)
    info = fit_ensemble_temperature(ens, calibrate, batch_size) if calibrate else None
    with atomic_directory(output) as tmp:
        names = []
        for i, m in enumerate(models):
            name = f"{MEMBERS_DIR}/{i}"
            shutil.copytree(m, tmp / name, ignore=shutil.ignore_patterns(".*"))
            names.append(name)
        write_meta(tmp, ens, names)
        (tmp / "README.md").write_text(_card(ens, models, info), encoding="utf-8")
    return ens


def fit_ensemble_temperature(ens: EnsembleClassifier, paths, batch_size: int = 64) -> dict:
    """Fit the ensemble's temperature on the gold sentences of labelled article files, as
    training fits a single model's on dev; returns what was fitted."""
    from ..data.articles import load_articles  # noqa: PLC0415
    from ..training.evaluate import _check_labels, _gold_mode  # noqa: PLC0415
    from ..training.train import calibrate  # noqa: PLC0415

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    articles = [a for p in paths for a in load_articles(p)]
    _check_labels(ens, articles)
    if not any(a.sentences for a in articles):
        raise ValueError("the calibration articles have no labelled sentences")
    ens.set_temperature(1.0)
    info = calibrate(ens, _gold_mode(ens, articles, batch_size)[0])
    info["fitted_on"] = ", ".join(str(p) for p in paths)
    ens.set_temperature(info["temperature"], **{k: v for k, v in info.items() if k != "temperature"})
    return info


def _card(ens: EnsembleClassifier, models: list[Path], info: dict | None) -> str:
    lines = [f"# factsift ensemble of {len(models)} models", "",
             "The mean of its members' probabilities (each at its own calibrated temperature), "
             f"re-read at temperature {ens.temperature:g}"
             + (f" (fitted on {info['fitted_on']}, {info['sentences']} sentences: NLL {info['dev_nll_before']} -> "
                f"{info['dev_nll_after']})" if info else " (not calibrated)") + ".",
             f"It costs one forward pass per member: about {len(models)} times a single model's prediction time.",
             "", "Members (copied into members/):", ""]
    lines += [f"- members/{i}: from {m}" for i, m in enumerate(models)]
    return "\n".join(lines) + "\n"
