"""Turning articles into model windows, and windows into padded batches.

Every sentence is tokenized once (no special tokens, cut to
``max_sentence_tokens``). Windows are then cut greedily: up to
``max_targets`` consecutive target sentences, with ``context`` sentences on
each side as read-only context, within ``max_length`` tokens. Each sentence
is a target in exactly one window. ``context=0`` gives one sentence per
window: no context at all.

``context_tokens`` > 0 clips each context sentence (never a target) to that
many tokens, its first and last halves: a neighbour's attribution ("Police
said ...", "..., sources say.") sits at one end or the other, and the
middle of a long neighbour costs tokens in every layer for little signal.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100


PREFIX_SENTENCE_TOKENS = 32


@dataclass(frozen=True)
class WindowSpec:
    context: int = 2
    max_targets: int = 8
    max_length: int = 256
    max_sentence_tokens: int = 64
    prefix: int = 0  # the article's first sentences, put at the head of every window as read-only context
    context_tokens: int = 0  # > 0: context sentences are clipped to this many tokens (head and tail halves)


@dataclass
class Window:
    input_ids: list[int]
    sentence_ids: list[int]  # per token: index of the sentence inside the window, -1 elsewhere
    targets: list[int]  # per window sentence: the sentence's index in its article if a target, else -1
    article: int = 0  # index of the article in the batch of articles this window came from


def tokenize_sentences(tokenizer, sentences: list[str], max_tokens: int) -> tuple[list[list[int]], list[bool]]:
    """Token ids for each sentence (no special tokens) and whether it was cut.
    A sentence longer than ``max_tokens`` keeps its first three quarters and
    its last quarter of that budget: a long quote's attribution ("..., the
    minister told AFP.") sits at its end. A sentence with no token (empty,
    only spaces) is one [SEP]: every sentence needs a token of its own in its
    window."""
    if not sentences:
        return [], []
    enc = tokenizer(list(sentences), add_special_tokens=False, truncation=False)["input_ids"]
    cut = [len(ids) > max_tokens for ids in enc]
    return [_cut_sentence(ids, max_tokens) or [tokenizer.sep_token_id] for ids in enc], cut


def _cut_sentence(ids: list[int], max_tokens: int) -> list[int]:
    return _keep_ends(ids, max_tokens, max_tokens // 4)


def _keep_ends(ids: list[int], limit: int, tail: int) -> list[int]:
    """``ids`` cut to ``limit`` tokens: the first ``limit - tail`` and the last ``tail``."""
    if len(ids) <= limit:
        return ids
    return ids[: limit - tail] + (ids[len(ids) - tail:] if tail else [])


def _prefix_cost(lengths, spec: WindowSpec) -> int:
    if spec.prefix <= 0 or spec.context <= 0:
        return 0
    return sum(min(x, PREFIX_SENTENCE_TOKENS) + 1 for x in lengths[: spec.prefix])


def clip_context(ids: list[int], limit: int) -> list[int]:
    """A context sentence's tokens cut to ``limit`` (0 = no cut): the first
    ``limit - limit // 2`` and the last ``limit // 2``."""
    return ids if limit <= 0 else _keep_ends(ids, limit, limit // 2)


def _cost(lengths, lo, hi):
    return sum(lengths[lo:hi]) + (hi - lo)  # one [SEP] per sentence


def _window_cost(lengths, left, first, end, right, clip):
    """Tokens of a window: targets whole, context sentences clipped to ``clip`` (0 = whole)."""
    if clip <= 0:
        return _cost(lengths, left, right)
    ctx = sum(min(x, clip) + 1 for x in lengths[left:first]) + sum(min(x, clip) + 1 for x in lengths[end:right])
    return _cost(lengths, first, end) + ctx


def plan_windows(lengths: list[int], spec: WindowSpec) -> list[tuple[int, int, int, int]]:
    """Return (left, first_target, end_target, right) sentence ranges for each window."""
    n = len(lengths)
    budget = spec.max_length - 1 - _prefix_cost(lengths, spec)  # [CLS], the article prefix
    plans = []
    i = 0
    max_targets = spec.max_targets if spec.context > 0 else 1
    clip = spec.context_tokens
    while i < n:
        ctx = spec.context
        while True:
            left = max(0, i - ctx)
            j = i + 1
            right = min(n, j + ctx)
            if _window_cost(lengths, left, i, j, right, clip) <= budget or ctx == 0:
                break
            ctx -= 1
        while j < n and j - i < max_targets:
            new_right = min(n, j + 1 + ctx)
            if _window_cost(lengths, left, i, j + 1, new_right, clip) > budget:
                break
            j += 1
            right = new_right
        plans.append((left, i, j, right))
        i = j
    return plans


def build_windows(token_ids: list[list[int]], spec: WindowSpec, cls_id: int, sep_id: int, article: int = 0):
    windows = []
    use_prefix = spec.prefix > 0 and spec.context > 0
    for left, first, end, right in plan_windows([len(t) for t in token_ids], spec):
        ids, sids, targets = [cls_id], [-1], []
        # the article's opening sentences (headline, section, standfirst) tell what kind of piece
        # this is (a letters page, a press release, a live blog) to windows far from the top
        for s in range(min(spec.prefix, left) if use_prefix else 0):
            piece = token_ids[s][:PREFIX_SENTENCE_TOKENS]
            ids.extend(piece)
            ids.append(sep_id)
            sids.extend([-1] * (len(piece) + 1))
        for k, s in enumerate(range(left, right)):
            piece = token_ids[s] if first <= s < end else clip_context(token_ids[s], spec.context_tokens)
            ids.extend(piece)
            sids.extend([k] * len(piece))
            ids.append(sep_id)
            sids.append(-1)
            targets.append(s if first <= s < end else -1)
        windows.append(Window(ids, sids, targets, article))
    return windows


def plan_batches(lengths: list[int], batch_size: int, max_tokens: int | None = None,
                 pad_to_multiple: int = 1) -> list[list[int]]:
    """Group window indices into length-sorted batches of at most ``batch_size``
    windows and, when ``max_tokens`` is set, at most ``max_tokens`` padded
    tokens (a window longer than the budget gets a batch of its own).

    A token budget keeps each batch's activations small enough to stay in
    the CPU's caches: on the 2-core AMX CPU this project measures on, batches
    of 8-32 windows of ~200 tokens ran 1.2-1.5x faster than 64 (docs/speed.md),
    while single sentences (``context: 0``) still fill 64 per batch."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, found {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_batch_tokens must be at least 1 (or None for no limit), found {max_tokens}")
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches, current = [], []
    for i in order:
        width = -(-lengths[i] // pad_to_multiple) * pad_to_multiple  # sorted: the widest so far
        if current and (len(current) >= batch_size
                        or (max_tokens is not None and width * (len(current) + 1) > max_tokens)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def collate(windows: list[Window], pad_id: int, labels: list[list[int]] | None = None,
            pad_to_multiple: int = 1, teacher: list[list] | None = None) -> dict:
    """Pad a list of windows into tensors; ``labels[w][k]`` labels window w's sentence k.

    ``teacher[w][k]``, when given, is a teacher's row of label probabilities
    for window w's sentence k, or None (a context sentence, or no teacher):
    it becomes a (windows, sentences, labels) tensor with zero rows for None.

    ``pad_to_multiple`` rounds the width up: fewer distinct shapes, so fewer
    compiled kernels and cached oneDNN primitives over a long prediction run."""
    import torch  # noqa: PLC0415

    width = max(len(w.input_ids) for w in windows)
    width = -(-width // pad_to_multiple) * pad_to_multiple
    n_sent = max(len(w.targets) for w in windows)
    input_ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(windows), width), dtype=torch.long)
    sentence_ids = torch.full((len(windows), width), -1, dtype=torch.long)
    for b, w in enumerate(windows):
        n = len(w.input_ids)
        input_ids[b, :n] = torch.tensor(w.input_ids)
        attention[b, :n] = 1
        sentence_ids[b, :n] = torch.tensor(w.sentence_ids)
    batch = {"input_ids": input_ids, "attention_mask": attention, "sentence_ids": sentence_ids}
    if labels is not None:
        lab = torch.full((len(windows), n_sent), IGNORE, dtype=torch.long)
        for b, row in enumerate(labels):
            lab[b, : len(row)] = torch.tensor(row, dtype=torch.long)
        batch["labels"] = lab
    if teacher is not None:
        width = next((len(p) for rows in teacher for p in rows if p is not None), 0)
        soft = torch.zeros((len(windows), n_sent, width), dtype=torch.float32)
        for b, rows in enumerate(teacher):
            for k, p in enumerate(rows):
                if p is not None:
                    soft[b, k] = torch.tensor(p, dtype=torch.float32)
        batch["teacher"] = soft
    return batch
