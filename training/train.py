"""``train(config)``: fine-tune a SentenceClassifier with the HF Trainer."""

from __future__ import annotations

import logging
import math
import os
import random
import shlex
import sys
import time
from pathlib import Path

from ..data.articles import ArticleFormatError, load_articles, warn_label_gaps
from . import distributed
from .config import ConfigError, TrainConfig
from .io import RunLock, atomic_write_json, atomic_write_text, writing_into
from .rundir import RunExistsError, environment, has_run, last_checkpoint

log = logging.getLogger("factsift.train")


def _set_seed(seed: int) -> None:
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _device(config: TrainConfig) -> str:
    import torch  # noqa: PLC0415

    want = config.train.device
    if want == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is 'cuda' but no CUDA GPU is usable here; set train.device=cpu or auto")
    if want == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return want


def _precision(config: TrainConfig, device: str) -> dict:
    import torch  # noqa: PLC0415

    p = config.train.precision
    if p == "auto":
        if device == "cuda":
            return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
        return {}
    if p == "fp16" and device != "cuda":
        raise ValueError("train.precision=fp16 needs a GPU; on CPU use bf16 (on CPUs with AMX/AVX512-BF16) or fp32")
    if p == "bf16" and device == "cpu" and not _cpu_has_bf16():
        log.warning("train.precision=bf16 asked for, but this CPU has no native bf16 (AMX or AVX512-BF16); using fp32")
        return {}
    return {"bf16": p == "bf16", "fp16": p == "fp16"}


def _cpu_has_bf16() -> bool:
    import torch  # noqa: PLC0415

    cpu = torch.cpu
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))


class WindowDataset:
    """Training windows with their sentence labels (context sentences ignored)."""

    def __init__(self, articles, clf, solo_fraction: float = 0.0, seed: int = 0, noise: float = 0.0,
                 teacher: dict | None = None, token_mask: float = 0.0):
        """``solo_fraction``: that share of the sentences (drawn with ``seed``) is
        also a window of its own, with no context, so that the model learns to
        read a sentence without leaning on its neighbours (context dropout).
        ``noise``: that share of the sentences (drawn apart, with ``seed``) is
        trained in a scraped-text variant instead (``data/noise.py``).
        ``teacher``: per article id, a teacher's probability rows for its
        sentences (training/distill.py), carried beside the gold labels.
        ``token_mask``: that share of the sentence tokens (never [CLS] or
        [SEP]) becomes the mask token each time a window is drawn, afresh in
        every epoch (``epoch``, which the trainer sets)."""
        import dataclasses  # noqa: PLC0415
        import random  # noqa: PLC0415

        from ..data.noise import scrape_noise  # noqa: PLC0415
        from ..model.encoding import IGNORE, build_windows, tokenize_sentences  # noqa: PLC0415

        tok, spec = clf.tokenizer, clf.config.window
        self.token_mask = token_mask
        self.seed = seed
        self.epoch = 0  # set by the trainer at each epoch's start: the masks depend on (seed, epoch, item)
        self.mask_id = getattr(tok, "mask_token_id", None)
        if self.mask_id is None:
            self.mask_id = getattr(tok, "unk_token_id", None)
        if token_mask and self.mask_id is None:
            raise ValueError("train.token_mask needs a tokenizer with a mask or unknown token, and this base model's "
                             "has neither: set train.token_mask to 0")
        solo_spec = dataclasses.replace(spec, context=0, prefix=0)
        draw = random.Random(seed)
        noisy = random.Random(f"noise-{seed}")  # its own stream: noise leaves the solo draws as they were
        label_id = {l: i for i, l in enumerate(clf.labels)}
        self.items = []
        self.truncated = 0
        self.solo = 0
        self.noisy = 0
        for art in articles:
            texts = [s.text for s in art.sentences]
            if noise > 0:
                for i, text in enumerate(texts):
                    if noisy.random() < noise:
                        texts[i] = scrape_noise(text, noisy)
                        self.noisy += texts[i] != text
            ids, cut = tokenize_sentences(tok, texts, spec.max_sentence_tokens)
            self.truncated += sum(cut)
            windows = build_windows(ids, spec, tok.cls_token_id, tok.sep_token_id)
            if solo_fraction > 0 and spec.context > 0:
                solo = [w for w in build_windows(ids, solo_spec, tok.cls_token_id, tok.sep_token_id)
                        if draw.random() < solo_fraction]
                self.solo += len(solo)
                windows += solo
            for w in windows:
                labels = [label_id.get(art.sentences[t].label, IGNORE) if t >= 0 else IGNORE for t in w.targets]
                # input_ids lets the Trainer's length-grouped sampler batch windows of similar length
                item = {"input_ids": w.input_ids, "window": w, "labels": labels}
                if teacher is not None:
                    rows = teacher[art.id]
                    item["teacher"] = [rows[t] if t >= 0 else None for t in w.targets]
                self.items.append(item)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        if not self.token_mask:
            return item
        import dataclasses  # noqa: PLC0415
        import random  # noqa: PLC0415

        rng = random.Random(f"mask-{self.seed}-{self.epoch}-{i}")  # a resumed run draws what it would have drawn
        w = item["window"]
        ids = [self.mask_id if s >= 0 and rng.random() < self.token_mask else t
               for t, s in zip(w.input_ids, w.sentence_ids)]
        return {**item, "window": dataclasses.replace(w, input_ids=ids)}


class Collator:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items):
        from ..model.encoding import collate  # noqa: PLC0415

        teacher = [it["teacher"] for it in items] if all("teacher" in it for it in items) else None
        return collate([it["window"] for it in items], self.pad_id, [it["labels"] for it in items], teacher=teacher)


def _compute_metrics(labels, learning_rate: float | None = None):
    import numpy as np  # noqa: PLC0415

    from .metrics import classification_metrics  # noqa: PLC0415

    def check_collapse(gold, pred):
        """Warn when the model predicts (almost) one label for the whole dev set. At the
        default learning rate (1e-3) one 6-epoch run here collapsed to a single label
        (dev macro-F1 0.07) while the 4-epoch default trained normally."""
        if len(pred) < 20 or len(set(gold.tolist())) < 2:
            return
        top = np.bincount(pred, minlength=len(labels))
        if top.max() >= 0.98 * len(pred) and np.bincount(gold, minlength=len(labels)).max() < 0.9 * len(gold):
            rate = f" ({learning_rate:g})" if learning_rate else ""
            lower = f" --train.learning_rate={learning_rate / 2:g}" if learning_rate else " a lower --train.learning_rate"
            log.warning("training has collapsed: the model predicts %r for %.0f%% of the dev sentences. "
                        "The learning rate%s is probably too high for this data: stop and train again with%s "
                        "(or another --train.seed)", labels[int(top.argmax())], 100 * top.max() / len(pred), rate, lower)

    def compute(eval_pred):
        logits, gold = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        n = min(logits.shape[1], gold.shape[1])
        logits, gold = logits[:, :n].reshape(-1, logits.shape[-1]), gold[:, :n].reshape(-1)
        keep = gold != -100
        pred = np.asarray(logits)[keep].argmax(-1)
        check_collapse(gold[keep], pred)
        m = classification_metrics([labels[i] for i in gold[keep]], [labels[i] for i in pred], labels)
        return {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"]}

    return compute


def _collapse_watch(prior_loss: float, learning_rate: float, warmup_steps: int, window: int = 5, after: int = 100):
    """A callback that warns, at most once, when the training loss has stayed at the
    loss of always predicting the label mix (``prior_loss``) for ``window`` logging
    steps, ``after`` steps past the warm-up: the collapse the dev check sees only at
    the first evaluation, an epoch later (docs/model-selection.md, rounds 3 and 5)."""
    from transformers import TrainerCallback  # noqa: PLC0415

    class CollapseWatch(TrainerCallback):
        def __init__(self):
            self.losses: list[float] = []
            self.warned = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.warned or not logs or "loss" not in logs or state.global_step < warmup_steps + after:
                return
            self.losses = (self.losses + [float(logs["loss"])])[-window:]
            mean = sum(self.losses) / len(self.losses)
            if len(self.losses) == window and mean >= 0.9 * prior_loss:
                self.warned = True
                log.warning("training has probably collapsed: at step %d the training loss has averaged %.2f over the "
                            "last %d logs, about the %.2f of always predicting the label mix. Stop and train again "
                            "with --train.learning_rate=%g (or another --train.seed); the first evaluation will tell "
                            "for sure", state.global_step, mean, window, prior_loss, learning_rate / 2)

    return CollapseWatch()


def prior_loss(shares) -> float:
    """Cross-entropy of always predicting the label mix ``shares``: the training loss of a collapsed model."""
    return float(-sum(p * math.log(p) for p in shares if p > 0))


def set_attention_dropout(encoder, p: float) -> int:
    """Set the dropout on the attention probabilities of every attention block
    of ``encoder`` (BERT-style ``*SelfAttention.dropout`` modules, and
    ``attention_dropout`` rates where a model keeps a float); returns how many
    were set. On a CPU this dropout is costly: it draws one random number per
    attention weight, (batch x heads x length x length) per layer, and keeps
    PyTorch's fused attention kernels out (docs/speed.md, "Training speed")."""
    from torch import nn  # noqa: PLC0415

    count = 0
    for module in encoder.modules():
        name = type(module).__name__
        if not name.endswith("Attention"):
            continue
        if isinstance(getattr(module, "dropout", None), nn.Dropout):
            module.dropout.p = p
            count += 1
        elif isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = p
            count += 1
    return _report_dropout(encoder, p, count, "attention_dropout", "attention",
                           ("attention_probs_dropout_prob", "attention_dropout"))


def set_hidden_dropout(encoder, p: float) -> int:
    """Set the dropout on the hidden states of ``encoder``: after the
    embeddings and after each attention block's and feed-forward block's
    output projection (BERT-style ``*Embeddings``, ``*SelfOutput`` and
    ``*Output`` modules); returns how many were set. The attention weights'
    own dropout is :func:`set_attention_dropout`'s."""
    from torch import nn  # noqa: PLC0415

    count = 0
    for module in encoder.modules():
        name = type(module).__name__
        if name.endswith(("Output", "Embeddings")) and isinstance(getattr(module, "dropout", None), nn.Dropout):
            module.dropout.p = p
            count += 1
    return _report_dropout(encoder, p, count, "hidden_dropout", "hidden-state",
                           ("hidden_dropout_prob", "hidden_dropout", "dropout"))


def _report_dropout(encoder, p: float, count: int, key: str, kind: str, config_keys) -> int:
    """Write ``p`` into the encoder config's own names for this dropout, and log what was set (``train.<key>``)."""
    for name in config_keys:
        if isinstance(getattr(encoder.config, name, None), float):
            setattr(encoder.config, name, p)
    if count == 0:
        log.warning("train.%s: no module of this encoder (%s) has a %s dropout factsift knows how to set; "
                    "its own stays", key, type(encoder).__name__, kind)
    else:
        log.info("%s dropout set to %g in %d modules", kind, p, count)
    return count


def _training_args(config: TrainConfig, run_dir: Path, device: str, steps_per_epoch: int):
    from transformers import TrainingArguments  # noqa: PLC0415

    t = config.train
    total = t.max_steps if t.max_steps > 0 else math.ceil(steps_per_epoch * t.epochs)
    eval_every = max(1, steps_per_epoch // t.evals_per_epoch)
    if t.max_steps > 0:
        eval_every = min(eval_every, t.max_steps)
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=t.batch_size // distributed.world_size(),  # batch_size is the global batch
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        warmup_steps=int(t.warmup_ratio * total),
        eval_strategy="steps",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=eval_every,
        save_total_limit=max(t.save_total_limit, 2),
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_steps=t.logging_steps,
        seed=t.seed,
        data_seed=t.seed,
        use_cpu=device == "cpu",
        report_to=[],
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length",
        label_names=["labels"],
        dataloader_num_workers=0,
        disable_tqdm=not sys.stderr.isatty() and os.environ.get("FACTSIFT_PROGRESS") != "1",
        **_precision(config, device),
    )


def _class_weights(train_articles, labels):
    from collections import Counter  # noqa: PLC0415

    counts = Counter(s.label for a in train_articles for s in a.sentences)
    total = sum(counts.values())
    return [total / (len(labels) * counts[l]) if counts[l] else 0.0 for l in labels]


def _setup_logging(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("factsift", "transformers.trainer"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    return handler


def _load_splits(config: TrainConfig, labels):
    train = load_articles(config.data.train, labels=labels)
    dev = load_articles(config.data.dev, labels=labels)
    test = load_articles(config.data.test, labels=labels) if config.data.test else []
    warn_label_gaps(train, dev, "dev")
    if test:
        warn_label_gaps(train, test, "test")
    return train, dev, test


def train(config: TrainConfig, *, resume: bool = False, command: str | None = None) -> Path:
    """Train a model as ``config`` says; returns the run directory.

    The run directory (``config.output.dir``) must not hold a run unless
    ``resume`` is true, in which case training continues from its last
    checkpoint with the config saved there.

    Under ``torchrun`` or ``accelerate launch`` every process calls this
    (data parallel, the Trainer's DDP): rank 0 alone checks, locks and writes
    the run directory, and every rank trains with rank 0's resolved config
    and seed. ``train.batch_size`` stays the global batch (windows per
    optimizer step), split evenly over the processes.
    """
    if not resume:
        _check_inputs(config)  # before the run directory exists: a typo must not leave a run behind it
    opened = distributed.init(_device(config))
    try:
        config, run_dir, lock, ckpt = _claim_run_dir(config, resume)
        try:
            with writing_into(run_dir):  # disk full, permission denied: OutputError
                return _train_locked(config, run_dir, resume, command, ckpt)
        finally:
            if lock is not None:
                lock.release()
    finally:
        if opened:
            distributed.close()


def _check_inputs(config: TrainConfig) -> None:
    """Every file the config names exists (the articles themselves are checked when read)."""
    d = config.data
    for key in ("train", "dev", "test", "teacher", "transfer"):
        for path in getattr(d, key):
            if not Path(path).is_file():
                fix = ("write it with `factsift teach --model MODEL --data TRAIN --output FILE`" if key == "teacher"
                       else "give the path of a .jsonl or .tsv article set")
                raise ConfigError(f"data.{key}: {path} does not exist (relative paths start where you run); {fix}")


def _claim_run_dir(config: TrainConfig, resume: bool):
    """Rank 0 checks and locks the run directory and resolves the config
    (the saved one when resuming); every rank gets the same verdict, config
    and checkpoint, so all of them fail together or train together."""
    lock = None
    if distributed.is_main():
        try:
            run_dir = Path(config.output.dir)
            if has_run(run_dir) and not resume:
                raise RunExistsError(
                    f"run directory {run_dir} already holds a run; pass --resume to continue it, "
                    "or set output.dir (e.g. --output.dir=runs/new) for a new run"
                )
            lock = RunLock(run_dir).acquire()  # creates run_dir
            saved = run_dir / "config.yaml"
            if resume and saved.is_file():
                from .config import load_config  # noqa: PLC0415

                config = load_config(saved)
            ckpt = last_checkpoint(run_dir) if resume else None
            verdict = (None, config, ckpt)
        except Exception as exc:  # every rank raises it, not only rank 0
            verdict = (exc, None, None)
    else:
        verdict = None
    try:
        error, resolved, ckpt = distributed.broadcast(verdict)
        if error is not None:
            raise error
        if resolved != config and not resume:  # resuming, the saved config wins on every rank
            log.warning("rank %d: training with rank 0's config, which differs from this rank's", distributed.rank())
        _check_batch(resolved)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return resolved, Path(resolved.output.dir), lock, ckpt


def _check_batch(config: TrainConfig) -> None:
    n, b = distributed.world_size(), config.train.batch_size
    if b % n:
        lower, higher = max(n, b // n * n), (b // n + 1) * n
        raise ConfigError(
            f"train.batch_size={b} is the global batch (windows per optimizer step) and must split evenly over "
            f"the {n} processes; use --train.batch_size={lower} or {higher}"
        )


def _train_locked(config: TrainConfig, run_dir: Path, resume: bool, command: str | None, ckpt) -> Path:
    import torch  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    main = distributed.is_main()
    if config.train.threads > 0:
        torch.set_num_threads(config.train.threads)
    handler = _setup_logging(run_dir) if main else None
    try:
        device = _device(config)
        if main:
            atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
            cmd = command or shlex.join(sys.argv)
            with open(run_dir / "command.txt", "a", encoding="utf-8") as fh:
                fh.write(("resume: " if resume else "") + cmd + "\n")
            env = environment()
            env["device"] = device
            env["processes"] = distributed.world_size()
            atomic_write_json(run_dir / "environment.json", env)

        labels = config.model.labels
        train_arts, dev_arts, test_arts = _load_splits(config, labels)
        clf = build_classifier(config, train_arts)
        teacher, transfer = None, []
        if config.train.distill_weight > 0:  # the config check makes sure data.teacher is set
            from .distill import load_teacher  # noqa: PLC0415

            transfer = _unlabelled(load_articles(config.data.transfer, require_labels=False, labels=labels))
            teacher = load_teacher(config.data.teacher, train_arts + transfer, labels)
            log.info("distillation: %d training articles with teacher probabilities (%s), %d unlabelled transfer "
                     "articles, weight %.2f, temperature %.1f", len(train_arts), ", ".join(config.data.teacher),
                     len(transfer), config.train.distill_weight, config.train.distill_temperature)
        elif config.data.teacher:
            log.warning("data.teacher is set but train.distill_weight is 0: the teacher is not used")
        train_ds = WindowDataset(train_arts + transfer, clf, config.train.solo_fraction, config.train.seed,
                                 config.train.noise, teacher, config.train.token_mask)
        dev_ds = WindowDataset(dev_arts, clf)
        log.info("train: %d articles, %d windows (%d of them single sentences without context); dev: %d articles, "
                 "%d windows; %d process(es)", len(train_arts), len(train_ds), train_ds.solo, len(dev_arts),
                 len(dev_ds), distributed.world_size())
        if train_ds.noisy:
            log.info("train: %d sentences in a scraped-text variant (train.noise)", train_ds.noisy)
        if config.train.token_mask:
            log.info("train: %.0f%% of the sentence tokens masked afresh in each epoch (train.token_mask)",
                     100 * config.train.token_mask)
        if train_ds.truncated:
            log.warning("%d training sentences were cut to %d tokens", train_ds.truncated, config.model.max_sentence_tokens)
        started = time.time()
        probe = None
        if config.train.probe_head:
            probe = _probe(config, clf, train_ds, dev_ds, run_dir, device, ckpt, main)
        trainer = _make_trainer(config, clf, train_ds, dev_ds, run_dir, device)
        if resume and ckpt is None:
            log.info("no checkpoint in %s yet; training from the start", run_dir)
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        elapsed = time.time() - started
        if main:
            _finish(config, clf, trainer, run_dir, dev_arts, test_arts, elapsed, train_arts, probe)
        distributed.barrier()  # the other ranks return once the run directory is complete
        return run_dir
    finally:
        if handler is not None:
            for name in ("factsift", "transformers.trainer"):
                logging.getLogger(name).removeHandler(handler)
            handler.close()


def _probe(config, clf, train_ds, dev_ds, run_dir, device, ckpt, main):
    """Fit the head on the frozen features (training/probe.py) and record it in
    ``probe.json``; resuming, the checkpoint holds the head and the record is read back."""
    import json  # noqa: PLC0415

    record = run_dir / "probe.json"
    if ckpt is not None:
        return json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    from .probe import probe_head  # noqa: PLC0415

    clf.network.to(device)
    info = probe_head(clf.network, train_ds, dev_ds, Collator(clf.tokenizer.pad_token_id), len(clf.labels),
                      autocast=_precision(config, device).get("bf16", False))
    if main:
        atomic_write_json(record, info)
    return info


def _unlabelled(articles):
    """Transfer articles learn from the teacher alone: any gold labels they carry are dropped (and said so)."""
    import dataclasses  # noqa: PLC0415

    labelled = sum(s.label is not None for a in articles for s in a.sentences)
    if labelled:
        log.info("data.transfer: %d labelled sentences there train on the teacher alone; put articles whose "
                 "labels should count in data.train", labelled)
    return [dataclasses.replace(a, sentences=tuple(dataclasses.replace(s, label=None) for s in a.sentences))
            for a in articles]


def build_classifier(config: TrainConfig, train_arts):
    """A new classifier set up for training as ``config`` says (seeded first)."""
    import torch  # noqa: PLC0415

    from ..model.classifier import SentenceClassifier  # noqa: PLC0415

    labels = config.model.labels
    init_seed = config.train.init_seed
    _set_seed(config.train.seed if init_seed is None else init_seed)
    clf = SentenceClassifier.build(config.model)
    if init_seed is not None:  # runs that share an init_seed start from the same weights
        _set_seed(config.train.seed)
    clf.train_prior = label_shares(train_arts, labels)  # saved with the model; the collapse watch's baseline
    clf.network.label_smoothing = config.train.label_smoothing
    clf.network.distill_weight = config.train.distill_weight
    clf.network.distill_temperature = config.train.distill_temperature
    if config.train.attention_dropout is not None:
        set_attention_dropout(clf.network.encoder, config.train.attention_dropout)
    if config.train.hidden_dropout is not None:
        set_hidden_dropout(clf.network.encoder, config.train.hidden_dropout)
    if config.train.class_weights:
        clf.network.class_weights.copy_(torch.tensor(_class_weights(train_arts, labels)))
    return clf


def _make_trainer(config, clf, train_ds, dev_ds, run_dir, device):
    from transformers import EarlyStoppingCallback, Trainer  # noqa: PLC0415

    steps_per_epoch = max(1, math.ceil(len(train_ds) / (config.train.batch_size * config.train.gradient_accumulation_steps)))
    args = _training_args(config, run_dir, device, steps_per_epoch)
    callbacks = []
    if config.train.distill_weight == 0:
        # the teacher's share of the loss has no "label mix" level to compare with: distilled runs rely on
        # the collapse check at each dev evaluation alone
        callbacks.append(_collapse_watch(prior_loss(clf.train_prior.values()), config.train.learning_rate,
                                         args.warmup_steps))
    if config.train.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.train.early_stopping_patience))
    if config.train.token_mask:
        callbacks.append(_epoch_setter(train_ds))
    head_lr = config.train.head_learning_rate

    class _Trainer(Trainer):
        def create_optimizer(self, model=None):
            optimizer = super().create_optimizer(model)
            if head_lr and head_lr != self.args.learning_rate:
                _set_head_rate(optimizer, (self.model if model is None else model).head, head_lr)
            return optimizer

    return _Trainer(model=clf.network, args=args, train_dataset=train_ds, eval_dataset=dev_ds,
                   data_collator=Collator(clf.tokenizer.pad_token_id), compute_metrics=_compute_metrics(list(clf.labels), config.train.learning_rate),
                   callbacks=callbacks)


def _epoch_setter(dataset):
    """Tells ``dataset`` which epoch is starting (by the trainer's count, so a resume gets it right too)."""
    from transformers import TrainerCallback  # noqa: PLC0415

    class _EpochSetter(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            dataset.epoch = math.floor((state.epoch or 0) + 1e-6)  # a resume mid-epoch: the epoch it is in

    return _EpochSetter()


def _set_head_rate(optimizer, head, rate: float) -> None:
    """Move the head's parameters into groups of their own at ``rate`` (before
    the first step, so no optimizer state moves). The schedule scales every
    group alike: warm-up and decay apply to the head's rate too."""
    ids = {id(p) for p in head.parameters()}
    groups = []
    for group in optimizer.param_groups:
        rest = [p for p in group["params"] if id(p) not in ids]
        mine = [p for p in group["params"] if id(p) in ids]
        if rest:
            groups.append({**group, "params": rest})
        if mine:
            groups.append({**group, "params": mine, "lr": rate})
    optimizer.param_groups.clear()
    for group in groups:
        optimizer.add_param_group(group)


def _finish(config, clf, trainer, run_dir, dev_arts, test_arts, elapsed, train_arts, probe=None) -> Path:
    import json  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from ..model.card import model_card  # noqa: PLC0415
    from .evaluate import score_articles  # noqa: PLC0415

    # score the best checkpoint exactly (fp32 on the CPU), whatever trained it
    clf.network.to("cpu").float()
    clf.device, clf.dtype = torch.device("cpu"), torch.float32
    state = trainer.state
    metrics = {"train_seconds": round(elapsed, 1), "best_checkpoint": state.best_model_checkpoint,
               "best_dev_macro_f1": state.best_metric, "steps": state.global_step, "epochs": state.epoch}
    if probe is not None:
        metrics["probe"] = probe
    dev = score_articles(clf, dev_arts)
    if config.train.calibrate:
        metrics["temperature_fit"] = calibrate(clf, dev["records"])
        log.info("temperature %.3f fitted on dev: NLL %.4f -> %.4f", clf.temperature,
                 metrics["temperature_fit"]["dev_nll_before"], metrics["temperature_fit"]["dev_nll_after"])
        dev = score_articles(clf, dev_arts)
    if config.train.lexical_expert:
        metrics["lexical"] = fit_lexical(clf, train_arts, dev["records"], config.train.lexical_weight,
                                         config.train.seed)
        dev = score_articles(clf, dev_arts)
    metrics["dev"] = dev["metrics"]
    if test_arts:
        test = score_articles(clf, test_arts)
        metrics["test"] = test["metrics"]
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in test["records"])
        atomic_write_text(run_dir / "predictions" / "test.jsonl", lines)
    atomic_write_json(run_dir / "metrics.json", metrics)
    clf.save_pretrained(run_dir / "model", card=model_card(clf, config, metrics))
    log.info("done in %.0f s: dev macro-F1 %.4f%s", elapsed, dev["metrics"]["macro_f1"],
             f", test macro-F1 {metrics['test']['macro_f1']:.4f}" if test_arts else "")
    return run_dir


def label_shares(articles, labels) -> dict[str, float]:
    """Each label's share of the sentences of ``articles`` (the training prior a model learns)."""
    counts = {l: 0 for l in labels}
    for a in articles:
        for s in a.sentences:
            counts[s.label] += 1
    total = sum(counts.values()) or 1
    return {l: round(c / total, 6) for l, c in counts.items()}


def fit_lexical(clf, train_arts, dev_records: list[dict], weight: float | None, seed: int = 0) -> dict:
    """Fit a lexical expert (model/lexical.py) on the training sentences and set
    it on ``clf`` with ``weight``, or with the weight of lowest log-loss on
    ``dev_records`` (the dev split scored with the network alone) when
    ``weight`` is None; returns what was fitted, for metrics and the model card."""
    import numpy as np  # noqa: PLC0415

    from ..model.lexical import LexicalError, LexicalExpert, fit_weight  # noqa: PLC0415

    labels = list(clf.labels)
    sentences = [s for a in train_arts for s in a.sentences if s.label is not None]
    started = time.time()
    try:
        expert = LexicalExpert.fit([s.text for s in sentences], [s.label for s in sentences], labels, seed=seed)
    except LexicalError as exc:
        log.warning("no lexical expert: %s", exc)
        return {"fitted": False, "reason": str(exc)}
    info = {"fitted_on": "train", "sentences": len(sentences),
            "terms": len(expert.word_vocab) + len(expert.char_vocab)}
    if weight is None:
        probs = np.array([[r["probabilities"][l] for l in labels] for r in dev_records])
        gold = [labels.index(r["gold"]) for r in dev_records]
        weight, fit = fit_weight(probs, expert.log_proba([r["text"] for r in dev_records]), gold)
        info.update({"weight_fitted_on": "dev", "dev_sentences": len(dev_records), "dev_nll_without": fit["nll_without"],
                     "dev_nll_with": fit["nll_with"]})
        log.info("lexical expert: %d terms from %d training sentences; weight %.2f fitted on dev: NLL %.4f -> %.4f "
                 "(%.0f s)", info["terms"], len(sentences), weight, fit["nll_without"], fit["nll_with"],
                 time.time() - started)
    else:
        log.info("lexical expert: %d terms from %d training sentences; weight %.2f (train.lexical_weight)",
                 info["terms"], len(sentences), weight)
    clf.set_lexical(expert, weight, **info)
    return {"weight": weight, **info}


TEMPERATURE_RANGE = (0.25, 10.0)  # beyond these a dev split says more about itself than about the model


def calibrate(clf, records: list[dict]) -> dict:
    """Fit ``clf``'s temperature to labelled prediction records (made at temperature 1,
    e.g. on the dev split) and set it; returns what was fitted, for metrics and config."""
    import numpy as np  # noqa: PLC0415

    from ..model.calibration import fit_temperature, nll, rescale  # noqa: PLC0415

    labels = list(clf.labels)
    probs = np.array([[r["probabilities"][l] for l in labels] for r in records])
    gold = [labels.index(r["gold"]) for r in records]
    lo, hi = TEMPERATURE_RANGE
    t = fit_temperature(np.log(np.clip(probs, 1e-12, None)), gold, lo, hi)
    if min(abs(t - lo), abs(t - hi)) < 1e-3:
        log.warning("the temperature fit stopped at the edge of its range (%.2f): the dev split is %s; "
                    "the probabilities are usable, but their calibration is not measured", t,
                    "classified perfectly" if t <= lo + 1e-3 else "mostly wrong")
    info = {"fitted_on": "dev", "sentences": len(records), "dev_nll_before": round(nll(probs, gold), 4),
            "dev_nll_after": round(nll(rescale(probs, t), gold), 4)}
    clf.set_temperature(t, **info)
    return {"temperature": t, **info}
