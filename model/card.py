"""The model card written beside every trained model."""

from __future__ import annotations

_DEFINITIONS = {
    "factual_claim": "the publication itself states it as checkable fact",
    "opinion_quote": "an identified source (named person, office, organisation, outlet) says it",
    "speculation": "hedged, predicted, conjectured, advised, or the writer's own judgement",
    "promotional_boilerplate": "not part of the story: sign-up text, link lines, bylines, credits",
    "unverified_report": "relayed from an unnamed, generic or unconfirmed source",
}


def _scores_table(m: dict) -> str:
    rows = ["| label | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for label, s in m["per_class"].items():
        rows.append(f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    rows.append(f"| **macro-F1** | | | **{m['macro_f1']:.3f}** | {m['n']} |")
    return "\n".join(rows)


def _calibration_lines(clf) -> list[str]:
    lines = []
    info = getattr(clf, "calibration_info", {}) or {}
    if info.get("fitted_on"):
        lines.append(f"- Probabilities: softmax(logits / {clf.temperature:g}), the temperature fitted on "
                     f"{info['fitted_on']} ({info.get('sentences', '?')} sentences; NLL {info.get('dev_nll_before', '?')} "
                     f"-> {info.get('dev_nll_after', '?')}); labels are unchanged by it.")
    lex = getattr(clf, "lexical", None)
    if lex is not None:
        li = getattr(clf, "lexical_info", {}) or {}
        how = (f"fitted on {li['weight_fitted_on']} by log-loss ({li.get('dev_sentences', '?')} sentences; NLL "
               f"{li.get('dev_nll_without', '?')} -> {li.get('dev_nll_with', '?')})" if li.get("weight_fitted_on")
               else "set in the training config")
        lines.append(f"- Lexical expert: TF-IDF word and character n-grams with logistic regression "
                     f"({len(lex.word_vocab) + len(lex.char_vocab):,} terms, fitted on {li.get('sentences', '?')} "
                     f"training sentences), mixed in as p ∝ p_network^{1 - clf.lexical_weight:g} · "
                     f"p_lexical^{clf.lexical_weight:g}, the weight {how}. Files: lexical.json, lexical.safetensors.")
    if getattr(clf, "train_prior", None):
        shares = ", ".join(f"{l} {v:.3f}" for l, v in clf.train_prior.items())
        lines.append(f"- Training label mix: {shares}. `--prior adapt` (or `clf.set_prior(clf.estimate_prior(articles))`) "
                     "re-reads the probabilities under a collection's own mix, estimated without labels.")
    return lines


def model_card(clf, config, metrics: dict, extra: str = "") -> str:
    c = clf.config
    parts = [
        "# factsift sentence classifier",
        "",
        "Labels every sentence of an English news article by who vouches for it.",
        "",
        "## Intended use",
        "Sorting the sentences of English news articles for fact-checkers, media researchers and news-data "
        "pipelines: which sentences the publication asserts as fact, which it attributes to named sources, "
        "which relay unnamed sources, which hedge or judge, and which are site furniture. It is a triage aid, "
        "not a fact-check: a `factual_claim` may be false.",
        "",
        "## Labels",
        *[f"- `{label}`: {_DEFINITIONS.get(label, '')}" for label in c.labels],
        "",
        "## Model",
        f"- Base encoder: `{c.base_model}`; adapter: `{c.adapter}`"
        + (f" (LoRA r={c.lora_r}, alpha={c.lora_alpha})" if c.adapter == "lora" else ""),
        f"- Context: {c.context} sentence(s) each side, up to {c.max_targets} sentences classified per window "
        f"of at most {c.max_length} tokens; sentences cut at {c.max_sentence_tokens} tokens"
        + (f"; context sentences clipped to {c.context_tokens} tokens (first and last halves)." if c.context_tokens else "."),
        *_calibration_lines(clf),
        "",
        "## Training data",
        f"- train: {', '.join(config.data.train)}; dev: {', '.join(config.data.dev)}; test: {', '.join(config.data.test)}",
        f"- seed {config.train.seed}, learning rate {config.train.learning_rate}, epochs {config.train.epochs}, "
        f"batch {config.train.batch_size}, precision {config.train.precision}, class weights {config.train.class_weights}",
        f"- training time: {metrics.get('train_seconds')} s",
        *([f"- head fitted first on the frozen encoder's features (linear probe, then fine-tuning: LP-FT), logistic "
           f"regression with C {metrics['probe']['C']:g} chosen by dev log-loss; its dev macro-F1 before fine-tuning "
           f"{metrics['probe']['dev_macro_f1']:.3f}"] if (metrics.get("probe") or {}).get("fitted") else []),
        *([f"- distilled: {config.train.distill_weight:g} of the loss follows the teacher probabilities in "
           f"{', '.join(config.data.teacher)} at temperature {config.train.distill_temperature:g}, the rest the gold labels"]
          if config.train.distill_weight > 0 else []),
        "",
    ]
    for split in ("dev", "test"):
        if split in metrics:
            parts += [f"## Scores on the {split} split (gold sentences)", "", _scores_table(metrics[split]), ""]
    if extra:
        parts += [extra.rstrip(), ""]
    parts += [
        "## Limitations",
        "- English news only; other languages run but the scores above do not apply.",
        "- Sentence boundaries on raw text come from a rule-based splitter; its errors become label errors.",
        "- The line between `factual_claim` and `speculation` (evaluative predicates) and between "
        "`opinion_quote` and `unverified_report` (how identified a source is) is where most errors fall.",
    ]
    return "\n".join(parts) + "\n"
