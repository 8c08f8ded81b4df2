"""Speed benchmark: factsift's predict path against the plain transformers way,
measured side by side in one run on the same sentences and the same weights.

    .venv/bin/python bench/speed.py [--model DIR] [--threads N] [--no-compile] [--rounds N] [--variants A,B]

Variants, each in its own process (so load time and peak memory are its own):

* ``plain-fp32``: the plain transformers way: the model's encoder (LoRA
  folded in) as a transformers ``BertModel`` called in fp32 eager mode,
  batches of 32 sentences in input order, each sentence on its own, with the
  same mean pooling and head.
* ``factsift-fp32``: ``predict_articles`` in fp32: factsift's own BERT
  (``model/bert.py``), windows of consecutive sentences, length-sorted
  batches, tokenizer called once. The reference for argmax agreement.
* ``factsift-unpacked``: bf16 products through plain ``nn.Linear`` calls (the
  default path before oneDNN weight packing; shows what packing gives).
* ``factsift-session3``: the default path as it was in session 3: batches of
  64 windows with no token budget, and every token through the last layer
  (shows what the token budget and the target-only last layer give).
* ``factsift-pad32``: the default path with window widths padded to
  multiples of 32, as in sessions 4-6 (the default is now 16).
* ``factsift-wholecontext``: the default path with context sentences whole,
  for a model trained with ``context_tokens`` > 0 (what the clipping saves;
  its labels differ a little, since the model was trained on clipped context).
* ``factsift-noprefix``: the default path with no article prefix, for a model
  trained with ``article_prefix`` > 0 (what the prefix costs; its labels
  differ, since the model was trained with the prefix).
* ``factsift-nolexical``: the default path without the model's lexical
  expert (``model/lexical.py``), for a model that has one: what the expert
  costs (its labels differ: the network's alone).
* ``factsift-mixed``: the default path with ``dtype="mixed"``: bf16 matrix
  products with a float32 residual stream and LayerNorms, the default of
  sessions 3-7 (the default now carries the residual stream in bf16 too).
* ``factsift``: the default path (``dtype="auto"``: bf16 weights on CPUs with
  AMX, fp32 elsewhere; on CPU, weights packed once for oneDNN with the bias
  and GELU fused into the matrix products).
* ``factsift-ensemble`` (only with ``--ensemble DIR``): the default path
  through an ensemble directory (``factsift ensemble``): every sentence once
  per member, probabilities averaged; compared with ``factsift``, what the
  ensemble costs.
* ``factsift-compiled``: the default path with ``compile=True``
  (``torch.compile``; its compile time is reported apart, as ``warm-up``).

Sentences: every sentence of the corpus dev and test splits (real lengths,
over 2,000). Reported: load time in a fresh process (importing torch and
the model code, reading the weights), sentences/s over all of them (best
and median of ``--rounds`` passes; the variants' passes are interleaved,
one of each in turn, because this machine's speed drifts by up to 2x from
minute to minute), p50/p95
latency of one 30-sentence article, peak RSS, and on ../shared/realdev the
macro-F1 of each variant and its argmax agreement with ``factsift-fp32``.
Ratios are printed at the end (best against best, and the median of each
round's ratio); absolute numbers drift between runs, ratios much less.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDEV = ROOT.parent / "shared" / "realdev" / "realdev.jsonl"


def _articles():
    from factsift.data.articles import load_articles

    return load_articles([ROOT / "data/corpus/dev.jsonl", ROOT / "data/corpus/test.jsonl"])


def _plain_predict(clf, sentences, batch_size=32):
    """HF encoder, fp32 eager, one sentence per row, input order."""
    import torch

    clf._prepare()  # folds LoRA into the encoder weights (the same weights as factsift's path)
    net = clf.network.float().eval()
    out = []
    with torch.inference_mode():
        for lo in range(0, len(sentences), batch_size):
            enc = clf.tokenizer(sentences[lo:lo + batch_size], padding=True, truncation=True,
                                max_length=clf.config.max_sentence_tokens + 2, return_tensors="pt")
            hidden = net.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            mask = enc["attention_mask"].clone()
            mask[:, 0] = 0  # pool the sentence's own tokens, as factsift does
            lengths = mask.sum(1)
            mask[torch.arange(len(lengths)), lengths] = 0  # drop [SEP]
            mask = mask.unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.extend(torch.softmax(net.head(pooled), -1).argmax(-1).tolist())
    return [clf.labels[i] for i in out]


def _variant(name: str, model, threads: int) -> None:
    """A worker process for one variant: loads it, then takes orders on stdin,
    so that the parent can interleave the variants' timed passes (this
    machine's speed drifts by 2x from minute to minute; a pass of each variant
    in turn, several rounds, lets every variant meet the same drift)."""
    import resource

    t_load = time.perf_counter()
    import torch

    import factsift.model.classifier as C
    from factsift import SentenceClassifier
    from factsift.data.articles import load_articles
    from factsift.training.metrics import classification_metrics

    if threads:
        torch.set_num_threads(threads)
    dtype = "float32" if name.endswith("fp32") else "mixed" if name == "factsift-mixed" else "auto"
    engine = "transformers" if name == "plain-fp32" else "auto"
    clf = SentenceClassifier.from_pretrained(model, dtype=dtype, engine=engine, compile=name == "factsift-compiled")
    if name == "factsift-unpacked":  # the bf16 path without oneDNN-packed weights and fused bias/GELU
        clf._prepare()
        clf.network.encoder.set_dtype(clf.dtype, pack=False)
    if name == "factsift-pad32":  # the default path with session 4-6's padding to multiples of 32
        C.PAD_MULTIPLE = 32
    if name == "factsift-wholecontext":  # the default path with context sentences whole (a model trained with
        import dataclasses  # clipped context reads them a little differently: compare its speed, not its labels)

        clf.config = dataclasses.replace(clf.config, context_tokens=0)
    if name == "factsift-noprefix":  # the default path without the article prefix (a model trained with one reads
        import dataclasses  # windows without it differently: compare its speed, not its labels)

        clf.config = dataclasses.replace(clf.config, article_prefix=0)
    if name == "factsift-nolexical":  # the network alone (a model with a lexical expert mixes it in)
        clf.set_lexical(None, 0)
    if name == "factsift-session3":  # session 3's default: batches of 64 windows, no token budget, full last layer
        clf.max_batch_tokens = None
        C._takes_keep = lambda encoder: False
    load_s = time.perf_counter() - t_load
    arts = _articles()
    sentences = [s.text for a in arts for s in a.sentences]
    as_input = [[s.text for s in a.sentences] for a in arts]

    def run(batch_of_articles):
        if name == "plain-fp32":
            return _plain_predict(clf, [s for a in batch_of_articles for s in a])
        return [p.label for art in clf.predict_articles(batch_of_articles) for p in art.sentences]

    t = time.perf_counter()
    run(as_input[:4])  # warm-up (and compiling, for factsift-compiled)
    run([as_input[0][:3]])  # a batch of one window: compiled code specialises on it
    run(as_input)  # every batch shape once (oneDNN builds a kernel per shape)
    warmup_s = time.perf_counter() - t
    print(json.dumps({"ready": True}), flush=True)
    passes = []
    for line in sys.stdin:
        if line.strip() == "pass":
            t = time.perf_counter()
            run(as_input)
            passes.append(len(sentences) / (time.perf_counter() - t))
            print(json.dumps({"sentences_per_s": passes[-1]}), flush=True)
            continue
        break
    # one 30-sentence article, many times
    article = (sentences * 2)[:30]
    lat = []
    for _ in range(15):
        t = time.perf_counter()
        run([article])
        lat.append(time.perf_counter() - t)
    lat.sort()
    real = load_articles(REALDEV) if REALDEV.is_file() else []
    preds = run([[s.text for s in a.sentences] for a in real]) if real else []
    gold = [s.label for a in real for s in a.sentences]
    print(json.dumps({
        "variant": name, "dtype": str(clf.dtype), "threads": torch.get_num_threads(),
        "engine": type(getattr(clf, "members", [clf])[0].network.encoder).__name__, "load_s": load_s, "warmup_s": warmup_s,
        "sentences": len(sentences), "passes": passes,
        "sentences_per_s": max(passes), "sentences_per_s_median": statistics.median(passes),
        "latency_p50_ms": 1000 * lat[len(lat) // 2], "latency_p95_ms": 1000 * lat[int(len(lat) * 0.95) - 1],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "realdev_macro_f1": classification_metrics(gold, preds, clf.labels)["macro_f1"] if real else None,
        "realdev_preds": preds,
    }), flush=True)


def _ask(proc, order: str) -> dict:
    proc.stdin.write(order + "\n")
    proc.stdin.flush()
    return _answer(proc)


def _answer(proc) -> dict:
    line = proc.stdout.readline()
    if not line:
        proc.log.seek(0)
        raise RuntimeError(f"a benchmark worker died:\n{proc.log.read()[-5000:]}")
    return json.loads(line)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-compile", action="store_true", help="leave out the factsift-compiled variant")
    p.add_argument("--rounds", type=int, default=5, help="timed passes of each variant, interleaved (default 5)")
    p.add_argument("--variants", help="comma-separated subset of the variants to run (plain-fp32 and factsift-fp32 "
                   "are always run: they are the references)")
    p.add_argument("--ensemble", default=None, metavar="DIR",
                   help="also time this ensemble directory (variant factsift-ensemble) against the single model")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.variant:
        _variant(args.variant, args.model, args.threads)
        return 0
    if args.model:
        from factsift.model.classifier import _is_ensemble

        if _is_ensemble(Path(args.model)):
            p.error(f"{args.model} is an ensemble: give it as --ensemble DIR (timed against a single --model)")
    every = ["plain-fp32", "factsift-fp32", "factsift-unpacked", "factsift-session3", "factsift-pad32",
             "factsift-wholecontext", "factsift-noprefix", "factsift-nolexical", "factsift-mixed", "factsift",
             "factsift-compiled"]
    if args.ensemble:
        every.insert(every.index("factsift") + 1, "factsift-ensemble")
    names = [n for n in every if not (args.no_compile and n == "factsift-compiled")]
    if args.variants:
        wanted = {v.strip() for v in args.variants.split(",") if v.strip()}
        if wanted - set(every):
            p.error(f"unknown variant(s) {', '.join(sorted(wanted - set(every)))}; choose from {', '.join(every)}")
        names = [n for n in every if n in wanted | {"plain-fp32", "factsift-fp32", "factsift-ensemble"}]
    workers = {}
    try:
        for name in names:  # loaded one at a time, so that each load time is its own
            cmd = [sys.executable, __file__, "--variant", name, "--threads", str(args.threads)]
            model = args.ensemble if name == "factsift-ensemble" else args.model
            if model:
                cmd += ["--model", model]
            log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would stall the worker
            workers[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
            workers[name].log = log
            _answer(workers[name])
        for r in range(args.rounds):  # interleaved: one pass of each variant in turn
            speeds = {name: _ask(proc, "pass")["sentences_per_s"] for name, proc in workers.items()}
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {v:.0f}" for n, v in speeds.items()),
                  file=sys.stderr, flush=True)
        results = {name: _ask(proc, "finish") for name, proc in workers.items()}
    except (RuntimeError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        for proc in workers.values():
            proc.kill()
    ref = results["factsift-fp32"]["realdev_preds"]
    base = results["plain-fp32"]
    print(f"{'variant':<18} {'encoder':<12} {'dtype':<15} {'load s':>6} {'warm-up s':>9} {'sent/s best':>11} "
          f"{'median':>7} {'p50 ms':>8} {'p95 ms':>8} {'peak MB':>8} {'realdev F1':>10} {'agree fp32':>10}")
    for name, r in results.items():
        agree = sum(a == b for a, b in zip(r["realdev_preds"], ref)) / max(1, len(ref))
        r["agreement_with_factsift_fp32"] = agree
        f1 = f"{r['realdev_macro_f1']:.4f}" if r["realdev_macro_f1"] is not None else "n/a"
        print(f"{name:<18} {r['engine']:<12} {r['dtype']:<15} {r['load_s']:6.2f} {r['warmup_s']:9.1f} "
              f"{r['sentences_per_s']:11.1f} {r['sentences_per_s_median']:7.1f} {r['latency_p50_ms']:8.1f} "
              f"{r['latency_p95_ms']:8.1f} {r['peak_rss_mb']:8.0f} {f1:>10} {agree:10.4f}")
    ref_f1 = results["factsift-fp32"]["realdev_macro_f1"]
    print(f"\n{base['sentences']} sentences, {results['factsift']['threads']} threads, {args.rounds} interleaved rounds")
    for name in names[1:]:
        r = results[name]
        per_round = statistics.median(a / b for a, b in zip(r["passes"], base["passes"]))
        line = (f"{name}: throughput {r['sentences_per_s'] / base['sentences_per_s']:.2f}x plain-fp32 (best/best; "
                f"median of the rounds' ratios {per_round:.2f}x), "
                f"p50 latency {base['latency_p50_ms'] / r['latency_p50_ms']:.2f}x lower")
        if r["realdev_macro_f1"] is not None:
            line += (f", realdev macro-F1 {r['realdev_macro_f1'] - ref_f1:+.4f} vs factsift-fp32, "
                     f"argmax agreement {r['agreement_with_factsift_fp32']:.4f}")
        print(line)
    if "factsift-ensemble" in results and "factsift" in results:
        e, f = results["factsift-ensemble"], results["factsift"]
        per_round = statistics.median(a / b for a, b in zip(e["passes"], f["passes"]))
        print(f"factsift-ensemble against factsift: throughput {e['sentences_per_s'] / f['sentences_per_s']:.2f}x "
              f"(best/best; median of the rounds' ratios {per_round:.2f}x), load {e['load_s']:.2f} s against "
              f"{f['load_s']:.2f} s, peak memory {e['peak_rss_mb']:.0f} MB against {f['peak_rss_mb']:.0f} MB")
    print(f"load time in a fresh process: factsift {results['factsift']['load_s']:.2f} s, "
          f"plain transformers {base['load_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
