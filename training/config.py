"""Training configuration: YAML on disk, frozen dataclasses in memory.

Unknown keys and wrong types are errors that name the key and the known
ones. Command-line overrides use dotted keys: ``--train.learning_rate=3e-5``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..model.classifier import ModelConfig


class ConfigError(ValueError):
    """A training config is invalid; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    train: tuple[str, ...] = ("data/corpus/train.jsonl",)
    dev: tuple[str, ...] = ("data/corpus/dev.jsonl",)
    test: tuple[str, ...] = ("data/corpus/test.jsonl",)
    teacher: tuple[str, ...] = ()  # teacher probabilities for the training articles (training/distill.py)
    transfer: tuple[str, ...] = ()  # unlabelled articles trained on the teacher's probabilities alone


@dataclass(frozen=True)
class TrainSection:
    learning_rate: float = 5e-4
    head_learning_rate: float = 0.0  # the classification head's rate; 0 = learning_rate
    epochs: float = 4.0
    batch_size: int = 16  # windows per step
    eval_batch_size: int = 32
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    class_weights: bool = False  # inverse-frequency weights in the loss
    solo_fraction: float = 0.0  # share of training sentences also seen alone, without context (0-1)
    noise: float = 0.0  # share of training sentences trained in a scraped-text variant instead (data/noise.py)
    token_mask: float = 0.0  # share of sentence tokens replaced by the mask token, drawn afresh each epoch
    attention_dropout: float | None = None  # dropout on the encoder's attention probabilities; None = the base model's own
    hidden_dropout: float | None = None  # dropout on the encoder's hidden states; None = the base model's own
    label_smoothing: float = 0.0  # share of each target's probability spread over all labels in the loss (0-<1)
    distill_weight: float = 0.0  # share of the loss that follows data.teacher's probabilities instead of the gold label (0-1)
    distill_temperature: float = 1.0  # both distributions are softened at this temperature in that share of the loss
    probe_head: bool = False  # fit the head on the frozen encoder's features before fine-tuning (LP-FT, training/probe.py)
    lexical_expert: bool = False  # fit a TF-IDF + logistic-regression expert on train and mix it in (model/lexical.py)
    lexical_weight: float | None = None  # its weight in the mix (0-1); None = fitted on dev by log-loss
    calibrate: bool = True  # fit the temperature of the probabilities on dev after training (model/calibration.py)
    seed: int = 13
    init_seed: int | None = None  # seeds the new head and adapter weights apart from seed (data order, dropout); None = seed
    early_stopping_patience: int = 2  # evaluations without dev macro-F1 gain; 0 = off
    evals_per_epoch: int = 1
    precision: str = "auto"  # auto | fp32 | bf16 | fp16; auto = bf16 on GPUs that have it, fp32 on CPU
    device: str = "auto"  # auto | cpu | cuda
    max_steps: int = -1  # > 0 stops early (smoke tests)
    gradient_accumulation_steps: int = 1
    logging_steps: int = 20
    save_total_limit: int = 2
    threads: int = 0  # torch CPU threads; 0 = torch's default


@dataclass(frozen=True)
class OutputSection:
    dir: str = "runs/default"


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainSection = field(default_factory=TrainSection)
    output: OutputSection = field(default_factory=OutputSection)

    def to_dict(self) -> dict:
        return _to_plain(self)


def _to_plain(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, key: str):
    origin = typing.get_origin(tp)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if isinstance(value, (str, int, float)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, found {type(value).__name__} {value!r}")
        return tuple(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
            return value.lower() in {"true", "yes", "1"}
        raise ConfigError(f"{key}: expected true or false, found {value!r}")
    if tp in (int, float):
        accepted, what = ((int, str), "an integer") if tp is int else ((int, float, str), "a number")
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ConfigError(f"{key}: expected {what}, found {type(value).__name__} {value!r}")
        try:
            return tp(value)
        except ValueError:
            raise ConfigError(f"{key}: expected {what}, found {value!r}") from None
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, found {type(value).__name__} {value!r}")
        return str(value)
    return value


def _build(cls, raw, prefix: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, found {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        where = f"section '{prefix}'" if prefix else "the top level"
        raise ConfigError(f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; known keys: {', '.join(known)}")
    kwargs = {}
    for name in known:
        if name not in raw:
            continue
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, raw[name], key)
        else:
            kwargs[name] = _coerce(raw[name], tp, key)
    return cls(**kwargs)


def _validate(cfg: TrainConfig) -> TrainConfig:
    t, m = cfg.train, cfg.model
    checks = [
        (t.learning_rate > 0, "train.learning_rate must be positive"),
        (t.head_learning_rate >= 0, "train.head_learning_rate must not be negative (0 = train.learning_rate)"),
        (0 <= t.solo_fraction <= 1, "train.solo_fraction must be between 0 and 1 (0 = every sentence only in its window)"),
        (0 <= t.noise <= 1, "train.noise must be between 0 and 1 (0 = every sentence as written)"),
        (0 <= t.token_mask < 1, "train.token_mask must be at least 0 and under 1 (0 = no token masked)"),
        (0 <= t.label_smoothing < 1, "train.label_smoothing must be at least 0 and below 1 (0 = plain cross-entropy)"),
        (0 <= t.distill_weight <= 1, "train.distill_weight must be between 0 and 1 (0 = gold labels only)"),
        (t.distill_weight == 0 or bool(cfg.data.teacher),
         "train.distill_weight is above 0 but data.teacher names no teacher file; write one with "
         "`factsift teach --model MODEL --data TRAIN --output FILE` and set data.teacher, or set train.distill_weight=0"),
        (not cfg.data.transfer or (bool(cfg.data.teacher) and t.distill_weight > 0),
         "data.transfer (unlabelled articles) needs teacher probabilities: set data.teacher and "
         "train.distill_weight above 0, or unset data.transfer"),
        (t.lexical_weight is None or 0 <= t.lexical_weight <= 1,
         "train.lexical_weight must be between 0 and 1, or null to fit it on dev"),
        (t.distill_temperature > 0, "train.distill_temperature must be positive (1 = the teacher's probabilities as they are)"),
        (t.epochs > 0, "train.epochs must be positive"),
        (t.batch_size >= 1 and t.eval_batch_size >= 1, "train.batch_size and train.eval_batch_size must be at least 1"),
        (0 <= t.warmup_ratio < 1, "train.warmup_ratio must be in [0, 1)"),
        (t.weight_decay >= 0, "train.weight_decay must not be negative"),
        (t.early_stopping_patience >= 0, "train.early_stopping_patience must not be negative"),
        (t.evals_per_epoch >= 1, "train.evals_per_epoch must be at least 1"),
        (t.gradient_accumulation_steps >= 1, "train.gradient_accumulation_steps must be at least 1"),
        (t.precision in {"auto", "fp32", "bf16", "fp16"}, f"train.precision must be auto, fp32, bf16 or fp16, found {t.precision!r}"),
        (t.device in {"auto", "cpu", "cuda"}, f"train.device must be auto, cpu or cuda, found {t.device!r}"),
        (m.context >= 0, "model.context must not be negative"),
        (m.max_targets >= 1, "model.max_targets must be at least 1"),
        (m.article_prefix >= 0, "model.article_prefix must not be negative"),
        (m.context_tokens == 0 or m.context_tokens >= 2,
         "model.context_tokens must be 0 (context sentences whole) or at least 2 (first and last tokens kept)"),
        (8 <= m.max_length <= 8192, "model.max_length must be between 8 and 8192"),
        (1 <= m.max_sentence_tokens <= m.max_length - 2, "model.max_sentence_tokens must be between 1 and model.max_length - 2"),
        (m.adapter in {"lora", "none"}, f"model.adapter must be 'lora' or 'none', found {m.adapter!r}"),
        (m.lora_r >= 1, "model.lora_r must be at least 1"),
        (t.attention_dropout is None or 0 <= t.attention_dropout < 1,
         "train.attention_dropout must be in [0, 1), or null for the base model's own"),
        (t.hidden_dropout is None or 0 <= t.hidden_dropout < 1,
         "train.hidden_dropout must be in [0, 1), or null for the base model's own"),
        (m.lora_layers >= 0, "model.lora_layers must be 0 (adapters in every layer) or the number of top layers to adapt"),
        (0 <= m.head_dropout < 1 and 0 <= m.lora_dropout < 1, "dropouts must be in [0, 1)"),
        (len(set(m.labels)) == len(m.labels) and len(m.labels) >= 2, "model.labels must hold at least two distinct labels"),
        (bool(cfg.data.train), "data.train must name at least one file"),
        (bool(cfg.data.dev), "data.dev must name at least one file (dev macro-F1 selects the model)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return cfg


def config_from_dict(raw: dict) -> TrainConfig:
    return _validate(_build(TrainConfig, raw, ""))


def apply_overrides(raw: dict, overrides) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML scalars)."""
    import yaml  # noqa: PLC0415

    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in (raw or {}).items()}
    for item in overrides or ():
        text = item[2:] if item.startswith("--") else item
        if "=" not in text:
            raise ConfigError(f"override {item!r} must look like --section.key=value")
        key, value = text.split("=", 1)
        parts = key.split(".")
        if len(parts) != 2:
            raise ConfigError(f"override key {key!r} must be section.key, e.g. train.learning_rate")
        section, name = parts
        try:
            parsed = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError:
            parsed = value
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"section {section!r} is not a mapping")
        target[name] = parsed
    return raw


def load_config(path=None, overrides=()) -> TrainConfig:
    """Read a YAML config (or the defaults when ``path`` is None) and apply overrides.

    Relative data paths are resolved against the current directory.
    """
    import yaml  # noqa: PLC0415

    raw = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping with sections model, data, train, output")
    try:
        return config_from_dict(apply_overrides(raw, overrides))
    except ConfigError as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{exc}") from None
