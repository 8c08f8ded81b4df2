"""A BERT encoder in plain torch for prediction, and its tokenizer.

Predicting with a trained LoRA model needs only a BERT forward pass, so
factsift runs its own ~80-line implementation instead of importing
``transformers``' model code: importing transformers' BERT costs about as much
as importing torch itself, and ``from_pretrained()`` is quicker without it.
The layers are the standard ones (post-LayerNorm, exact GELU, absolute
positions); the query, key and value projections are one fused matrix
product, attention is ``scaled_dot_product_attention``, and LoRA adapters are
folded into the weights as they load. The tokenizer is the ``tokenizers``
library reading the base model's ``tokenizer.json``, with its stored
truncation and padding turned off, the same code that transformers' fast
tokenizer runs underneath.

Training still uses transformers (the HF Trainer, any architecture).
``engine="transformers"`` in ``SentenceClassifier.from_pretrained`` uses it
for prediction too; tests check the two agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn


def supports(base_dir: Path) -> bool:
    """Whether ``base_dir`` holds a BERT encoder this module can run."""
    try:
        cfg = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (cfg.get("model_type") == "bert" and cfg.get("hidden_act", "gelu") == "gelu"
            and cfg.get("position_embedding_type", "absolute") == "absolute"
            and (base_dir / "tokenizer.json").is_file() and _weights_file(base_dir) is not None)


def _weights_file(base_dir: Path) -> Path | None:
    path = base_dir / "model.safetensors"
    return path if path.is_file() else None


KEPT_ROWS_MULTIPLE = 256  # the last layer's kept rows are padded to a multiple of this


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.inter = nn.Linear(hidden, intermediate)
        self.out = nn.Linear(intermediate, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)
        self.packed = None  # oneDNN-packed bf16 weights (see pack()), or None

    def pack(self, rows_hint: int = 8192) -> None:
        """Reorder the bf16 weights once into oneDNN's blocked layout, for
        ``torch.ops.mkldnn._linear_pointwise``: no weight reorder per call, the
        bias (and GELU) applied in the matrix product's epilogue. On this
        2-core AMX CPU, GELU run as its own bf16 pass cost more than the
        product before it; end to end, prediction ran 1.21x faster than with
        plain bf16 layers (``bench/speed.py``, docs/speed.md)."""
        reorder = torch.ops.mkldnn._reorder_linear_weight
        self.packed = {name: reorder(getattr(self, name).weight.detach(), rows_hint)
                       for name in ("qkv", "attn_out", "inter", "out")}

    def __getstate__(self):  # packed oneDNN tensors have no storage to pickle: pack again after loading
        state = self.__dict__.copy()
        state["_repack"], state["packed"] = state.get("packed") is not None, None
        return state

    def __setstate__(self, state):
        repack = state.pop("_repack", False)
        super().__setstate__(state)
        if repack:
            self.pack()

    def _linear(self, name: str, h, gelu: bool = False):
        """``h @ W.T + b`` (then exact GELU) in the weights' dtype."""
        module = getattr(self, name)
        if self.packed is not None:
            op = torch.ops.mkldnn._linear_pointwise
            if gelu:
                return op(h, self.packed[name], module.bias, "gelu", [], "none")  # exact (erf) GELU
            return op(h, self.packed[name], module.bias, "none", [], "")
        return F.gelu(module(h)) if gelu else module(h)

    def forward(self, x, mask, keep=None):
        """One post-LayerNorm BERT layer over ``x`` (B, L, H), the float32 residual stream.

        ``keep`` (B, L, bool), optional: only these positions' outputs are
        needed (the last layer, when only the target sentences are pooled).
        Keys and values still come from every position; queries, attention
        output and the feed-forward block run on the kept rows alone, and the
        other positions of the result are zero."""
        # the matrix products and attention run in the weights' dtype (bfloat16 on AMX CPUs);
        # x, the residual stream, is in the LayerNorms' dtype (BertEncoder.set_dtype's residual)
        b, length, hidden = x.shape
        dt = self.qkv.weight.dtype
        qkv = self._linear("qkv", x.to(dt)).view(b, length, 3, self.heads, hidden // self.heads)
        if keep is None:
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, length, hidden)
            rows = x
        else:
            counts = keep.sum(1)
            # kept positions first, in order; each window padded to the most kept
            index = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)[:, : int(counts.max())]
            valid = torch.arange(index.shape[1], device=x.device) < counts[:, None]
            q = qkv[:, :, 0].gather(1, index[:, :, None, None].expand(-1, -1, *qkv.shape[3:]))
            k, v = qkv[:, :, 1], qkv[:, :, 2]
            a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               attn_mask=mask).transpose(1, 2)[valid].reshape(-1, hidden)
            rows = x[keep]
            n_kept = rows.shape[0]
            # a row count of its own per batch would build (and cache) a oneDNN kernel per count: memory
            # grew without bound over a long run; padded to a multiple of 256, the counts are few
            pad = -rows.shape[0] % KEPT_ROWS_MULTIPLE
            if pad:
                rows, a = F.pad(rows, (0, 0, 0, pad)), F.pad(a, (0, 0, 0, pad))
        # float32 + bf16: casting first and adding float32 ran twice as fast as the mixed-dtype add
        rows = self.ln1(rows + self._linear("attn_out", a).to(x.dtype))
        rows = self.ln2(rows + self._linear("out", self._linear("inter", rows.to(dt), gelu=True)).to(x.dtype))
        if keep is None:
            return rows
        out = x.new_zeros(x.shape)
        out[keep] = rows[:n_kept]
        return out


class BertEncoder(nn.Module):
    """``forward(input_ids, attention_mask).last_hidden_state``, as transformers' BertModel."""

    def __init__(self, cfg: dict):
        super().__init__()
        hidden = cfg["hidden_size"]
        eps = cfg.get("layer_norm_eps", 1e-12)
        self.config = SimpleNamespace(hidden_size=hidden, max_position_embeddings=cfg.get("max_position_embeddings", 512))
        self.residual_dtype = torch.float32  # set_dtype() changes it
        self.word = nn.Embedding(cfg["vocab_size"], hidden)
        self.position = nn.Embedding(cfg.get("max_position_embeddings", 512), hidden)
        self.token_type = nn.Embedding(cfg.get("type_vocab_size", 2), hidden)
        self.ln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            _Layer(hidden, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
            for _ in range(cfg["num_hidden_layers"]))

    def set_dtype(self, dtype, pack: bool = True, residual=None) -> None:
        """Run the matrix products in ``dtype`` and carry the residual stream
        between them (and the layers' LayerNorms) in ``residual`` (default:
        ``dtype``). The embeddings and their LayerNorm stay float32, and the
        output is float32. bf16 on a CPU with oneDNN: weights packed once
        (``pack=False`` keeps plain ``nn.Linear`` calls, e.g. for
        ``torch.compile``).

        ``residual=torch.float32`` with bf16 products keeps argmax closer to
        fp32; on the 2-core AMX CPU this project measures on, a bf16 residual
        stream predicted 6-9% faster (no casts around every product, half the
        LayerNorm traffic) and agreed with the float32 one on 718 of 719
        realdev sentences (docs/speed.md)."""
        residual = dtype if residual is None else residual
        self.residual_dtype = residual
        for layer in self.layers:
            layer.packed = None
            layer.ln1.to(residual)
            layer.ln2.to(residual)
            for linear in (layer.qkv, layer.attn_out, layer.inter, layer.out):
                linear.to(dtype)
        if pack and dtype == torch.bfloat16 and _can_pack(self.layers[0].qkv.weight):
            for layer in self.layers:
                layer.pack()

    def forward(self, input_ids, attention_mask, keep=None):
        """``keep`` (B, L, bool), optional: the positions whose output states
        are needed; the last layer computes only those (the others are zero).
        Prediction passes the target sentences' tokens: in windows with
        context, about 40% of the last layer's rows are context or padding."""
        length = input_ids.shape[1]
        x = self.word(input_ids) + self.position.weight[:length] + self.token_type.weight[0]
        x = self.ln(x).to(self.residual_dtype)
        mask = attention_mask.bool()[:, None, None, :]
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, keep if i == len(self.layers) - 1 else None)
        return SimpleNamespace(last_hidden_state=x.float())


def _can_pack(weight: torch.Tensor) -> bool:
    """Whether oneDNN's packed bf16 linear runs here, checked on a tiny product."""
    if weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        w = torch.ops.mkldnn._reorder_linear_weight(torch.ones(8, 16, dtype=torch.bfloat16), 8)
        out = torch.ops.mkldnn._linear_pointwise(torch.ones(2, 16, dtype=torch.bfloat16), w,
                                                 torch.zeros(8, dtype=torch.bfloat16), "gelu", [], "none")
        return out.shape == (2, 8) and bool(torch.allclose(out.float(), torch.full((2, 8), 16.0)))
    except (AttributeError, RuntimeError):  # an older or CPU-only-without-oneDNN torch
        return False


def load_bert(base_dir: Path, lora: dict[str, torch.Tensor] | None = None, scale: float = 1.0,
              weights: dict[str, torch.Tensor] | None = None) -> BertEncoder:
    """The encoder in ``base_dir`` (or ``weights``, BertModel-named), with LoRA folded in.

    ``lora`` maps BertModel module paths (``encoder.layer.0.attention.self.query``)
    to ``(A, B)``: the weight becomes ``W + scale * B @ A``.
    """
    import safetensors.torch  # noqa: PLC0415

    cfg = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    if weights is None:
        weights = safetensors.torch.load_file(str(_weights_file(base_dir)))
    weights = {k.removeprefix("bert."): v.float() for k, v in weights.items()}

    def w(name: str) -> torch.Tensor:
        weight = weights[name + ".weight"]
        if lora and name in lora:
            a, b = lora[name]
            weight = weight + (b.float() @ a.float()) * scale
        return weight

    model = BertEncoder(cfg)
    state = {
        "word.weight": weights["embeddings.word_embeddings.weight"],
        "position.weight": weights["embeddings.position_embeddings.weight"],
        "token_type.weight": weights["embeddings.token_type_embeddings.weight"],
        "ln.weight": weights["embeddings.LayerNorm.weight"],
        "ln.bias": weights["embeddings.LayerNorm.bias"],
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        state[f"layers.{i}.qkv.weight"] = torch.cat([w(att + "query"), w(att + "key"), w(att + "value")])
        state[f"layers.{i}.qkv.bias"] = torch.cat([weights[att + n + ".bias"] for n in ("query", "key", "value")])
        for ours, theirs in (("attn_out", "attention.output.dense"), ("inter", "intermediate.dense"),
                             ("out", "output.dense")):
            state[f"layers.{i}.{ours}.weight"] = w(p + theirs)
            state[f"layers.{i}.{ours}.bias"] = weights[p + theirs + ".bias"]
        for ours, theirs in (("ln1", "attention.output.LayerNorm"), ("ln2", "output.LayerNorm")):
            state[f"layers.{i}.{ours}.weight"] = weights[p + theirs + ".weight"]
            state[f"layers.{i}.{ours}.bias"] = weights[p + theirs + ".bias"]
    model.load_state_dict(state)
    return model.eval()


class FastTokenizer:
    """The subset of a transformers fast tokenizer that prediction uses."""

    def __init__(self, base_dir: Path):
        from tokenizers import Tokenizer  # noqa: PLC0415

        self._tok = Tokenizer.from_file(str(base_dir / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        special = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            path = base_dir / name
            if path.is_file():
                for key, value in json.loads(path.read_text(encoding="utf-8")).items():
                    if key in {"cls_token", "sep_token", "pad_token", "mask_token", "unk_token"} and key not in special:
                        special[key] = value["content"] if isinstance(value, dict) else value
        self.cls_token_id = self._tok.token_to_id(special.get("cls_token", "[CLS]"))
        self.sep_token_id = self._tok.token_to_id(special.get("sep_token", "[SEP]"))
        self.pad_token_id = self._tok.token_to_id(special.get("pad_token", "[PAD]"))
        self.mask_token_id = self._tok.token_to_id(special.get("mask_token", "[MASK]"))  # None when it has none
        self.unk_token_id = self._tok.token_to_id(special.get("unk_token", "[UNK]"))
        if None in (self.cls_token_id, self.sep_token_id, self.pad_token_id):
            raise ValueError(f"{base_dir / 'tokenizer.json'} lacks [CLS], [SEP] or [PAD]")

    def __call__(self, texts, add_special_tokens: bool = False, truncation: bool = False):
        if add_special_tokens or truncation:
            raise NotImplementedError("FastTokenizer only encodes without special tokens or truncation")
        return {"input_ids": [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]}
