"""The ``factsift`` command: train, evaluate, predict, prior, ensemble, teach, split.

Thin on purpose: every command calls the importable API. Errors a user can
fix are printed as one ``error:`` line (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_USAGE = 2


def _user_errors():
    """Exception types whose message is meant for the user."""
    from .data.articles import ArticleFormatError  # noqa: PLC0415
    from .model.base import ModelNotFoundError  # noqa: PLC0415
    from .training.config import ConfigError  # noqa: PLC0415
    from .training.evaluate import LabelMismatchError  # noqa: PLC0415
    from .training.io import OutputError, RunLockedError  # noqa: PLC0415
    from .training.rundir import RunExistsError  # noqa: PLC0415

    return (ArticleFormatError, ModelNotFoundError, ConfigError, LabelMismatchError, OutputError, RunLockedError,
            RunExistsError, InputError, FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError, ValueError, TypeError)


class InputError(ValueError):
    """Input files for predict could not be read."""


# ------------------------------------------------------------------- train
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler stopping the job) stops training like Ctrl-C: the
    run directory keeps its last complete checkpoint and --resume continues."""
    import signal  # noqa: PLC0415

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _cmd_train(args) -> int:
    from .training import distributed  # noqa: PLC0415
    from .training.config import load_config  # noqa: PLC0415
    from .training.train import train  # noqa: PLC0415

    _sigterm_as_interrupt()
    config = load_config(args.config, args.overrides)
    run_dir = train(config, resume=args.resume, command="factsift " + " ".join(args.argv))
    if not distributed.is_main():  # under torchrun / accelerate launch, rank 0 reports for all
        return 0
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    print(f"run directory: {run_dir}")
    print(f"dev macro-F1 {metrics['dev']['macro_f1']:.4f}" +
          (f", test macro-F1 {metrics['test']['macro_f1']:.4f}" if "test" in metrics else ""))
    print(f"model: {run_dir / 'model'}")
    return 0


# ---------------------------------------------------------------- evaluate
def _cmd_evaluate(args) -> int:
    from .training.evaluate import evaluate  # noqa: PLC0415

    prior = _prior_arg(args.prior)
    baselines = () if args.no_baselines else tuple(args.baselines.split(","))
    m = evaluate(args.model, args.data, args.output, mode=args.mode, baselines=baselines,
                 baseline_train=args.baseline_train, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                 prior=prior, lexical=not args.no_lexical)
    ci = m.get("macro_f1_interval")
    print(f"macro-F1 {m['macro_f1']:.4f}" + (f" (95% interval {ci['low']:.3f}-{ci['high']:.3f} over articles)" if ci else "")
          + f"  accuracy {m['accuracy']:.4f}  ECE {m['calibration']['ece']:.4f}  ({m['n']} sentences)")
    for label, s in m["per_class"].items():
        print(f"  {label:<24} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  n {s['support']}")
    for name, b in (m.get("baselines") or {}).items():
        print(f"  baseline {name:<15} macro-F1 {b['macro_f1']:.4f}")
    if m.get("prior"):
        print("  label prior " + ("estimated on these articles" if m["prior"]["mode"] == "adapt" else "given") + ": "
              + ", ".join(f"{l} {v:.3f}" for l, v in m["prior"]["prior"].items()))
    print(f"report: {Path(args.output) / 'report.md'}")
    return 0


# ---------------------------------------------------------------- ensemble
def _cmd_ensemble(args) -> int:
    from .model.ensemble import build_ensemble  # noqa: PLC0415

    ens = build_ensemble(args.output, args.models, calibrate=args.calibrate, batch_size=args.batch_size)
    cal = f"temperature {ens.temperature:g} fitted on {len(args.calibrate)} file(s)" if args.calibrate else "not calibrated"
    print(f"ensemble of {len(ens.members)} models written to {args.output} ({cal}); "
          f"it predicts about {len(ens.members)} times slower than one model")
    return 0


# ------------------------------------------------------------------- teach
def _cmd_teach(args) -> int:
    from .training.distill import write_teacher  # noqa: PLC0415

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} already exists; choose another --output, or pass --overwrite to replace it")
    write_teacher(args.model, args.data, out, batch_size=args.batch_size)
    print(f"teacher probabilities written to {out}; train on them with "
          f"--data.teacher={out} --train.distill_weight=W (see docs/model-selection.md, round 13)")
    return 0


# ------------------------------------------------------------------- prior
def _prior_arg(value: str):
    """``train``, ``adapt``, or the label prior read from a JSON file."""
    if value in {"train", "adapt"}:
        return value
    path = Path(value)
    if not path.is_file():
        raise InputError(f"--prior {value}: give train, adapt, or a JSON file of label shares "
                         "(as written by `factsift prior`); no such file")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--prior {value}: not valid JSON ({exc})") from None
    if isinstance(obj, dict) and isinstance(obj.get("prior"), dict):
        obj = obj["prior"]  # the file `factsift prior` writes, or an evaluation's metrics.json "prior" entry
    if not isinstance(obj, dict):
        raise InputError(f"--prior {value}: expected a JSON object of label shares, e.g. "
                         '{"factual_claim": 0.35, ...}')
    return obj


def _check_sample(paths: list[str], max_articles: int, flag: str, sample_flag: str) -> None:
    if "-" in paths:
        raise InputError(f"{flag} reads the input to estimate its label mix before predicting, and standard input "
                         "cannot be read twice: save it to a file, or run `factsift prior` on a sample and pass "
                         "--prior FILE")
    if max_articles < 1:
        raise InputError(f"{sample_flag} {max_articles}: give a positive number of articles")


def _estimate(clf, paths: list[str], max_articles: int, batch_size: int = 64) -> dict:
    return clf.estimate_prior(_iter_inputs(paths), max_articles=max_articles, batch_size=batch_size)


def _cmd_prior(args) -> int:
    from .model.classifier import SentenceClassifier  # noqa: PLC0415
    from .training.io import atomic_write_json  # noqa: PLC0415

    paths = _expand(args.inputs)
    _check_sample(paths, args.max_articles, "factsift prior", "--max-articles")
    clf = SentenceClassifier.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    prior = _estimate(clf, paths, args.max_articles, args.batch_size)
    out = {"prior": prior, "train_prior": clf.train_prior, "model": args.model or "default",
           "inputs": paths, "max_articles": args.max_articles}
    if args.output:
        atomic_write_json(Path(args.output), out)
        print(f"label prior written to {args.output}", file=sys.stderr)
    else:
        print(json.dumps(out, indent=2))
    return 0


# ----------------------------------------------------------------- predict
def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {exc.start}); convert it to UTF-8 first") from None


def _jsonl_articles(path: Path, lines, progress=None):
    from .data.articles import ArticleFormatError, parse_json_line  # noqa: PLC0415

    for lineno, raw in enumerate(lines, 1):
        if progress is not None:
            progress.update(len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace")))
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ArticleFormatError(f"{path}:{lineno}: invalid UTF-8; save the file as UTF-8") from None
        else:
            line = raw
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        obj = parse_json_line(line, where)
        if not isinstance(obj, dict) or not ("text" in obj or "sentences" in obj):
            raise ArticleFormatError(f"{where}: not an article: expected an object with 'id' and 'text' or 'sentences'")
        obj.setdefault("id", f"{path.name}:{lineno}")
        if "text" in obj and not isinstance(obj["text"], str):
            raise ArticleFormatError(f"{where}: field 'text' must be a string")
        if "text" in obj and "sentences" in obj:
            obj = {"id": obj["id"], "text": obj["text"]}
        yield obj


def _expand(paths) -> list[str]:
    """Input paths with directories expanded, checked before any work starts."""
    out = []
    for raw in paths or ["-"]:
        if raw == "-":
            out.append(raw)
            continue
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        if path.is_dir():
            files = sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not files:
                raise InputError(f"{path}: directory holds no files to classify")
            out.extend(files)
        else:
            out.append(str(path))
    return out


def _iter_inputs(paths: list[str], progress=None):
    """Yield article inputs (dicts with id and text or sentences) from paths
    already expanded by ``_expand`` (files, or ``-`` for stdin).

    JSON Lines files are read line by line, so memory stays bounded whatever their size.
    """
    for raw in paths:
        if raw == "-":
            data = sys.stdin.buffer.read()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError("standard input is not UTF-8 text") from None
            if text.lstrip().startswith("{"):
                yield from _jsonl_articles(Path("<stdin>"), text.splitlines())
            else:
                yield {"id": "stdin", "text": text}
            continue
        path = Path(raw)
        if path.suffix.lower() in {".jsonl", ".ndjson"}:
            with path.open("rb") as fh:
                head = fh.read(65536)
            if not head.strip() and path.stat().st_size <= len(head):
                raise InputError(f"{path}: empty JSON Lines file; it needs one article object per line")
            with path.open("rb") as fh:
                yield from _jsonl_articles(path, fh, progress)
        else:
            if progress is not None:
                progress.update(path.stat().st_size)
            yield {"id": str(path), "text": _read_text(path)}


def _resume_point(path: Path) -> int:
    """Complete lines already in ``path``; a half-written last line is cut off."""
    if not path.is_file():
        return 0
    lines = keep = pos = 0
    with path.open("rb") as fh:  # in blocks: the output of a big job can be gigabytes
        while block := fh.read(1 << 20):
            n = block.count(b"\n")
            if n:
                lines += n
                keep = pos + block.rfind(b"\n") + 1
            pos += len(block)
    if keep < pos:
        with path.open("r+b") as fh:
            fh.truncate(keep)
    return lines


def _progress(paths: list[str]):
    import os  # noqa: PLC0415

    from tqdm import tqdm  # noqa: PLC0415

    total = sum(Path(p).stat().st_size for p in paths if p != "-")
    disable = os.environ.get("FACTSIFT_PROGRESS") != "1" and not sys.stderr.isatty()
    return tqdm(total=total or None, unit="B", unit_scale=True, desc="predict", disable=disable, file=sys.stderr,
                smoothing=0.1)


def _stream_jsonl(results, out: Path, skip: int, bar) -> int:
    """Append one JSON line per article, flushed as it goes; returns lines written."""
    from .training.io import AppendFile  # noqa: PLC0415 (write failures become OutputError)

    written = 0
    with AppendFile(out) as fh:
        for art in results:
            fh.write(json.dumps(art.to_dict(), ensure_ascii=False) + "\n")
            written += 1
            bar.set_postfix(articles=skip + written, refresh=False)
    return written


# Articles classified together: predict_articles batches the windows of this
# many consecutive articles, and batch shapes move the last bits of the
# scores. Shards and resumed runs therefore start on a multiple of CHUNK, so
# every article meets the same neighbours as in one uninterrupted process.
CHUNK = 64


def _parse_shard(text: str) -> tuple[int, int]:
    import re  # noqa: PLC0415

    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise InputError(f"--shard {text!r}: expected I/N, e.g. --shard 0/4 for the first of 4 shards")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1:
        raise InputError(f"--shard {text}: N, the number of shards, must be at least 1")
    if i >= n:
        raise InputError(f"--shard {text}: I must be from 0 to {n - 1}; shards are numbered from 0 "
                         f"(a Slurm array --array=0-{n - 1}, or a Kubernetes indexed job's completion index)")
    return i, n


def _count_articles(paths: list[str]) -> list[int]:
    """Articles in each input, counted the way ``_iter_inputs`` reads them
    (a text file is one article; a JSON Lines file one per non-blank line)."""
    counts = []
    for raw in paths:
        if raw == "-":
            raise InputError("--shard cannot split standard input; give every shard the same files or directories")
        path = Path(raw)
        if path.suffix.lower() in {".jsonl", ".ndjson"}:
            with path.open("rb") as fh:
                n = sum(1 for line in fh if line.decode("utf-8", "replace").strip())
            if not n:
                raise InputError(f"{path}: empty JSON Lines file; it needs one article object per line")
            counts.append(n)
        else:
            counts.append(1)
    return counts


def _select_shard(paths: list[str], shard: tuple[int, int]):
    """Shard ``i`` of ``n``: a contiguous block of whole CHUNKs of the ordered
    article list (inputs in the order given, directories expanded in sorted
    order, JSON Lines line by line). Returns the files it touches, the
    articles to skip in the first of them, the number to take, and the
    block's place in the whole, so that shard outputs concatenated in shard
    order are the single-process output."""
    i, n = shard
    counts = _count_articles(paths)
    total = sum(counts)
    chunks = -(-total // CHUNK)
    lo, hi = min(total, i * chunks // n * CHUNK), min(total, (i + 1) * chunks // n * CHUNK)
    files, skip, start = [], 0, 0
    for path, count in zip(paths, counts):
        if start + count > lo and start < hi:
            if not files:
                skip = lo - start
            files.append(path)
        start += count
    return files, skip, hi - lo, (lo, hi, total)


def _cmd_predict(args) -> int:
    import itertools  # noqa: PLC0415

    from .model.classifier import SentenceClassifier  # noqa: PLC0415
    from .training.io import atomic_write_text  # noqa: PLC0415

    paths = _expand(args.inputs)  # fails on bad paths before the model loads
    shard = _parse_shard(args.shard) if args.shard is not None else None
    if shard is not None:
        if args.format == "html":
            raise InputError("--shard needs --format jsonl or tsv, whose shard outputs concatenate; "
                             "an HTML page does not")
        paths, first, take, (lo, hi, total) = _select_shard(paths, shard)
        print(f"shard {shard[0]}/{shard[1]}: articles {lo} to {hi - 1} of {total}" if hi > lo else
              f"shard {shard[0]}/{shard[1]}: no articles (the input has {total}, in chunks of {CHUNK})", file=sys.stderr)
    if args.max_batch_tokens is not None and args.max_batch_tokens < 0:
        raise InputError(f"--max-batch-tokens {args.max_batch_tokens}: give a positive number of tokens, "
                         "or 0 for no limit (only --batch-size windows per batch)")
    prior = _prior_arg(args.prior)
    if prior == "adapt":
        _check_sample(_expand(args.inputs), args.prior_sample, "--prior adapt", "--prior-sample")
    clf = SentenceClassifier.from_pretrained(args.model, device=args.device, dtype=args.dtype, compile=args.compile)
    if args.no_lexical:  # the network's probabilities alone (each member's, for an ensemble)
        clf.set_lexical(None, 0)
    if args.max_batch_tokens is not None:
        clf.max_batch_tokens = args.max_batch_tokens or None
    if prior == "adapt":
        # estimated on the first --prior-sample articles of the whole input (not the shard), so every
        # shard and every resumed run uses the same prior
        prior = _estimate(clf, _expand(args.inputs), args.prior_sample, args.batch_size)
        print("label prior estimated on the input: " + json.dumps(prior), file=sys.stderr)
    clf.set_prior(prior)
    bar = _progress(paths)
    inputs = _iter_inputs(paths, bar)
    if shard is not None:
        inputs = itertools.islice(inputs, first, first + take)
    if args.format == "jsonl" and args.output:
        # streaming: results are appended as they come; a rerun with the same
        # output continues after the last complete article
        out = Path(args.output)
        skip = _resume_point(out)
        if skip:
            print(f"resuming: {skip} article(s) already in {out}", file=sys.stderr)
        # restart at the chunk holding the first missing article and drop what
        # is already written: the output stays what an uninterrupted run writes
        redo = skip % CHUNK
        inputs = itertools.islice(inputs, skip - redo, None)
        results = itertools.islice(clf.predict_articles(inputs, batch_size=args.batch_size, articles_per_chunk=CHUNK),
                                   redo, None)
        try:
            n = _stream_jsonl(results, out, skip, bar)
        finally:
            bar.close()
        print(f"{skip + n} article(s) in {out}", file=sys.stderr)
        return 0
    results = clf.predict_articles(inputs, batch_size=args.batch_size, articles_per_chunk=CHUNK)
    if args.format == "html":
        from .html import render_html  # noqa: PLC0415

        body = render_html(list(results), clf.labels)
    elif args.format == "tsv":
        # one header, in shard 0's output: shard outputs concatenate to the whole
        rows = ["article_id\tindex\tstart\tend\tlabel\tscore\tsentence\n"] if not shard or shard[0] == 0 else []
        for art in results:
            for i, s in enumerate(art.sentences):
                text = s.text.replace("\t", " ").replace("\n", " ")
                rows.append(f"{art.id}\t{i}\t{s.start}\t{s.end}\t{s.label}\t{s.score:.4f}\t{text}\n")
        body = "".join(rows)
    else:
        body = None
        for art in results:
            sys.stdout.write(json.dumps(art.to_dict(), ensure_ascii=False) + "\n")
    bar.close()
    if body is not None:
        if args.output:
            atomic_write_text(args.output, body)
        else:
            sys.stdout.write(body)
    return 0


# ------------------------------------------------------------------- split
def _cmd_split(args) -> int:
    from .data.splitter import split_spans  # noqa: PLC0415

    for item in _iter_inputs(_expand(args.inputs)):
        text = item.get("text") or ""
        for s in split_spans(text):
            print(json.dumps({"id": item["id"], "start": s.start, "end": s.end, "text": text[s.start:s.end]},
                             ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="factsift", description="Label every sentence of a news article.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("config", help="YAML config, e.g. configs/default.yaml")
    t.add_argument("--resume", action="store_true", help="continue the run in output.dir from its last checkpoint")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="score a model on labelled article sets")
    e.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    e.add_argument("--data", nargs="+", required=True, help="labelled article files (.jsonl or .tsv)")
    e.add_argument("--output", required=True, help="directory for metrics.json, report.md and plots")
    e.add_argument("--mode", choices=["gold", "raw"], default="gold",
                   help="gold: classify gold sentences; raw: split raw text first and align")
    e.add_argument("--baselines", default="majority,tfidf_lr,keyword_rules")
    e.add_argument("--baseline-train", nargs="+", default=None,
                   help="articles to fit the trained baselines on (default: data/corpus/train.jsonl if present)")
    e.add_argument("--no-baselines", action="store_true")
    e.set_defaults(func=_cmd_evaluate)

    r = sub.add_parser("predict", help="label the sentences of articles")
    r.add_argument("inputs", nargs="*", help="text files, directories, JSON Lines of articles, or - for stdin")
    r.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    r.add_argument("--format", choices=["jsonl", "tsv", "html"], default="jsonl")
    r.add_argument("--output", default=None, help="write here instead of standard output")
    r.add_argument("--shard", default=None, metavar="I/N",
                   help="classify only shard I of N (0 <= I < N): a contiguous block of the inputs, in whole chunks "
                        "of 64 articles; the N outputs concatenated in shard order are the unsharded output")
    r.add_argument("--compile", action="store_true",
                   help="run the encoder through torch.compile (15-60 s of compiling first; no gain measured on a 2-core AMX CPU, see docs/speed.md)")
    r.add_argument("--max-batch-tokens", type=int, default=None,
                   help="padded tokens per forward pass (default: 4096 on CPU, where small batches stay in cache "
                        "and run faster; no limit on GPU); 0 = no limit")
    r.add_argument("--prior-sample", type=int, default=1000, metavar="N",
                   help="with --prior adapt: estimate the label mix on the first N articles (default 1000)")
    r.set_defaults(func=_cmd_predict)

    q = sub.add_parser("prior", help="estimate the label mix of a collection of articles (for --prior FILE)")
    q.add_argument("inputs", nargs="+", help="text files, directories or JSON Lines of articles")
    q.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    q.add_argument("--max-articles", type=int, default=1000, help="use the first N articles (default 1000)")
    q.add_argument("--output", default=None, help="write the JSON here instead of standard output")
    q.set_defaults(func=_cmd_prior)

    n = sub.add_parser("ensemble", help="combine trained models into one that averages their probabilities")
    n.add_argument("output", help="new directory for the ensemble (a model directory like any other)")
    n.add_argument("models", nargs="+", help="two or more model directories (e.g. runs/NAME/model of runs with "
                                             "different --train.seed)")
    n.add_argument("--calibrate", nargs="+", default=None, metavar="FILE",
                   help="labelled articles to fit the ensemble's temperature on (e.g. data/corpus/dev.jsonl)")
    n.add_argument("--batch-size", type=int, default=64, help="windows per forward pass while calibrating")
    n.set_defaults(func=_cmd_ensemble)

    k = sub.add_parser("teach", help="write a model's probabilities for labelled articles, to distill it into "
                                     "another (data.teacher)")
    k.add_argument("--model", required=True, help="the teacher: a model directory, usually an ensemble")
    k.add_argument("--data", nargs="+", required=True, help="labelled article files, usually the training split")
    k.add_argument("--output", required=True, help="the teacher file to write (JSON Lines)")
    k.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    k.add_argument("--batch-size", type=int, default=64, help="windows per forward pass, at most (default 64)")
    k.set_defaults(func=_cmd_teach)

    s = sub.add_parser("split", help="split raw text into sentence spans (JSON Lines)")
    s.add_argument("inputs", nargs="*")
    s.set_defaults(func=_cmd_split)

    for cmd in (e, r):
        cmd.add_argument("--prior", default="train", metavar="train|adapt|FILE",
                         help="label mix the probabilities assume: train (the training corpus', default), adapt "
                              "(estimated from the input itself by EM, no labels used), or a JSON file of shares "
                              "from `factsift prior`; see docs/model-selection.md")
        cmd.add_argument("--no-lexical", action="store_true",
                         help="leave out the model's lexical expert: the network's probabilities alone "
                              "(docs/model-selection.md, round 14)")
    for cmd in (e, r, q):
        cmd.add_argument("--device", default="cpu", help="cpu or cuda")
        cmd.add_argument("--dtype", default="auto", help="auto (bf16 on AMX CPUs), float32, bfloat16, or mixed (bf16 products, float32 residual stream)")
        cmd.add_argument("--batch-size", type=int, default=64, help="windows per forward pass, at most (default 64)")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.argv = argv
    if args.command == "train":
        bad = [x for x in extra if not (x.startswith("--") and "=" in x and "." in x.split("=", 1)[0])]
        if bad:
            parser.error(f"unrecognised argument(s) {' '.join(bad)}; overrides look like --train.learning_rate=3e-5")
        args.overrides = extra
    elif extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    if args.command == "evaluate" and args.baseline_train is None and not args.no_baselines:
        default = Path("data/corpus/train.jsonl")
        args.baseline_train = [str(default)] if default.is_file() else None
    try:
        return args.func(args)
    except KeyboardInterrupt:
        hint = " (resume with: factsift train CONFIG --resume)" if args.command == "train" else ""
        print(f"interrupted{hint}", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
