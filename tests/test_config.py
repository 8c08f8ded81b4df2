from pathlib import Path

import pytest

from factsift.training.config import ConfigError, TrainConfig, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, TrainConfig)
    assert cfg.train.learning_rate > 0


def test_defaults_and_overrides():
    cfg = load_config(None, ["--train.learning_rate=3e-5", "--model.context=0", "--data.train=a.jsonl"])
    assert cfg.train.learning_rate == 3e-5 and cfg.model.context == 0 and cfg.data.train == ("a.jsonl",)


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("train:\n  lr: 1\n", r"unknown key\(s\) 'lr' in section 'train'; known keys: learning_rate"),
        ("foo: 1\n", r"unknown key\(s\) 'foo' in the top level"),
        ("train:\n  epochs: many\n", r"train.epochs: expected a number"),
        ("train:\n  batch_size: 1.5\n", r"train.batch_size: expected an integer"),
        ("train:\n  class_weights: maybe\n", r"train.class_weights: expected true or false"),
        ("train:\n  learning_rate: -0.1\n", r"train.learning_rate must be positive"),
        ("model:\n  adapter: qlora\n", r"model.adapter must be 'lora' or 'none'"),
        ("model:\n  context_tokens: 1\n", r"model.context_tokens must be 0 .* or at least 2"),
        ("model:\n  lora_layers: -1\n", r"model.lora_layers must be 0"),
        ("train:\n  attention_dropout: 1.5\n", r"train.attention_dropout must be in \[0, 1\)"),
        ("train:\n  hidden_dropout: -0.1\n", r"train.hidden_dropout must be in \[0, 1\)"),
        ("train: 3\n", r"train: expected a mapping"),
        ("- a\n- b\n", r"top level must be a mapping"),
        ("train: [unclosed\n", r"not valid YAML"),
    ],
)
def test_config_errors_name_the_key(tmp_path, yaml_text, message):
    p = tmp_path / "c.yaml"
    p.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(p)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="must look like --section.key=value"):
        load_config(None, ["--train.learning_rate"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
