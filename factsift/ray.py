"""Batch prediction with Ray Data, on one machine or a Ray cluster.

Needs the ``ray`` extra: ``pip install 'factsift[ray]'``. Ray schedules the
work; factsift only provides the callable class for ``map_batches``, which
loads the model once per worker (a Ray actor) and classifies whole batches
of articles::

    import ray.data
    from factsift.ray import ArticlePredictor

    ds = ray.data.read_json("articles/", lines=True)          # or read_parquet
    preds = ds.map_batches(ArticlePredictor, fn_constructor_kwargs={"model": "runs/x/model"},
                           batch_size=64, batch_format="pyarrow",
                           compute=ray.data.ActorPoolStrategy(size=4))
    preds.write_parquet("predictions/")

or from the shell, ``python -m factsift.ray articles/ --output predictions/``.

Input rows are articles as ``factsift predict`` reads them: an ``id`` and
either ``text`` or ``sentences`` (strings, or objects with ``text``); other
columns are ignored. Output rows carry the fields of the single-process
JSON Lines output: ``id``, ``composition``, ``sentences`` (each ``text``,
``start``, ``end``, ``label``, ``score``, ``probabilities``) and ``warnings``
(an empty list when there are none). Ids are strings; rows come back in no
fixed order unless Ray Data is told to preserve it, so join on ``id``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

ARTICLES_PER_BATCH = 64


class ArticlePredictor:
    """Callable class for ``Dataset.map_batches``: one model per worker."""

    def __init__(self, model=None, *, device: str = "cpu", dtype: str = "auto", batch_size: int = 64):
        from .model.classifier import SentenceClassifier  # noqa: PLC0415

        self.clf = SentenceClassifier.from_pretrained(model, device=device, dtype=dtype)
        self.batch_size = batch_size
        self.schema = output_schema(self.clf.labels)

    def __call__(self, batch):
        import pyarrow as pa  # noqa: PLC0415

        rows = batch.to_pylist() if isinstance(batch, pa.Table) else _rows(batch)
        articles = [_article(row) for row in rows]
        results = self.clf.predict_articles(articles, batch_size=self.batch_size,
                                            articles_per_chunk=max(1, len(articles)))
        out = []
        for art in results:
            rec = art.to_dict()
            rec.setdefault("warnings", [])
            out.append(rec)
        return pa.Table.from_pylist(out, schema=self.schema)


def output_schema(labels):
    """The Arrow schema of the predictions (the same for every batch, so
    blocks concatenate and Parquet files share one schema)."""
    import pyarrow as pa  # noqa: PLC0415

    probs = pa.struct([(label, pa.float64()) for label in labels])
    sentence = pa.struct([("text", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()),
                          ("score", pa.float64()), ("probabilities", probs)])
    return pa.schema([("id", pa.string()), ("composition", probs), ("sentences", pa.list_(sentence)),
                      ("warnings", pa.list_(pa.string()))])


def _rows(batch) -> list[dict]:
    """A batch in Ray's "numpy" or "pandas" format as a list of row dicts."""
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # pandas
        return batch.to_dict("records")
    columns = {k: list(v) for k, v in batch.items()}
    n = len(next(iter(columns.values()))) if columns else 0
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def _article(row: dict) -> dict:
    art_id = row.get("id")
    if art_id is None:
        raise ValueError(f"a row has no 'id' (columns: {', '.join(sorted(row))}); every article needs an id, "
                         "by which its predictions are keyed")
    text, sents = row.get("text"), row.get("sentences")
    if text is not None:
        return {"id": str(art_id), "text": text}
    if sents is not None:
        return {"id": str(art_id), "sentences": [s["text"] if isinstance(s, dict) else s for s in sents]}
    raise ValueError(f"article {art_id!r} has neither 'text' nor 'sentences'")


def _file_names(paths) -> list[str]:
    """Base names of the files named or held (local directories) by ``paths``."""
    from pathlib import Path  # noqa: PLC0415

    names = []
    for p in paths:
        local = Path(p)
        if "://" not in p and local.is_dir():
            names += [f.name for f in local.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))]
        else:
            names.append(p.rstrip("/").rsplit("/", 1)[-1])
    return names


def read_articles(paths, input_format: str = "auto"):
    """A Ray Dataset of articles from JSON Lines or Parquet files (or directories of them)."""
    import ray.data  # noqa: PLC0415

    paths = [str(p) for p in ([paths] if isinstance(paths, str) else paths)]
    if input_format == "auto":
        suffixes = {name.rsplit(".", 1)[-1].lower() for name in _file_names(paths) if "." in name}
        if suffixes and suffixes <= {"parquet"}:
            input_format = "parquet"
        elif suffixes and suffixes <= {"jsonl", "ndjson", "json"}:
            input_format = "jsonl"
        else:
            raise ValueError(f"cannot tell the format of {', '.join(paths)}; "
                             "give input_format (--input-format) jsonl or parquet")
    if input_format == "parquet":
        return ray.data.read_parquet(paths)
    if input_format == "jsonl":
        return ray.data.read_json(paths, lines=True, file_extensions=["jsonl", "ndjson", "json"])
    raise ValueError(f"input_format must be auto, jsonl or parquet, found {input_format!r}")


def predict_dataset(ds, model=None, *, workers: int = 1, device: str = "cpu", dtype: str = "auto",
                    batch_size: int = 64, articles_per_batch: int = ARTICLES_PER_BATCH, num_cpus: float = 1):
    """``ds`` (rows of articles) mapped to rows of predictions by ``workers``
    actors, each holding one model and ``num_cpus`` CPUs for its whole life.
    Leave CPUs for Ray's read and write tasks (workers x num_cpus below the
    cluster's CPUs), or the job waits forever. On GPUs give ``device="cuda"``:
    each actor then asks Ray for one GPU."""
    import ray  # noqa: PLC0415
    import ray.data  # noqa: PLC0415

    if ray.is_initialized() and not device.startswith("cuda"):
        _check_cpus(workers, num_cpus, ray.cluster_resources().get("CPU", 0), can_grow=True)
    gpu = {"num_gpus": 1} if device.startswith("cuda") else {}
    return ds.map_batches(
        ArticlePredictor,
        fn_constructor_kwargs={"model": None if model is None else str(model), "device": device, "dtype": dtype,
                               "batch_size": batch_size},
        batch_size=articles_per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=num_cpus,
        **gpu,
    )


def _check_cpus(workers: int, num_cpus: float, cpus: float, *, can_grow: bool) -> None:
    if workers * num_cpus < cpus:
        return
    msg = (f"{workers} worker(s) x {num_cpus:g} CPU(s) take all {cpus:g} CPUs of the Ray cluster and leave none to "
           "read and write with; use fewer workers or a smaller --num-cpus")
    if not can_grow:
        raise ValueError(msg)
    warnings.warn(msg + " (the job waits until an autoscaling cluster grows)", stacklevel=3)


def predict_files(inputs, output, model=None, *, input_format: str = "auto", output_format: str = "jsonl",
                  **kwargs) -> None:
    """Read articles from JSON Lines or Parquet, predict with Ray Data, write
    ``output`` (a directory of .json files holding JSON Lines, or of .parquet files)."""
    preds = predict_dataset(read_articles(inputs, input_format), model, **kwargs)
    if output_format == "parquet":
        preds.write_parquet(str(output))
    elif output_format == "jsonl":
        preds.write_json(str(output), force_ascii=False)
    else:
        raise ValueError(f"output_format must be jsonl or parquet, found {output_format!r}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m factsift.ray",
                                description="Label articles with Ray Data (on the Ray cluster in RAY_ADDRESS, "
                                            "or a local one).")
    p.add_argument("inputs", nargs="+", help="JSON Lines or Parquet files or directories (local paths or URIs)")
    p.add_argument("--output", required=True, help="output directory (local path or URI)")
    p.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    p.add_argument("--input-format", choices=["auto", "jsonl", "parquet"], default="auto")
    p.add_argument("--output-format", choices=["jsonl", "parquet"], default="jsonl")
    p.add_argument("--workers", type=int, default=1, help="model replicas (Ray actors)")
    p.add_argument("--num-cpus", type=float, default=1, help="CPUs each worker holds")
    p.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per worker)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--batch-size", type=int, default=64, help="windows per forward pass")
    args = p.parse_args(argv)
    import ray  # noqa: PLC0415

    try:
        if not ray.is_initialized():
            ray.init()  # the cluster in RAY_ADDRESS (set by ray job submit), else a local instance
        if not args.device.startswith("cuda") and not os.environ.get("RAY_ADDRESS"):  # a local instance never grows
            _check_cpus(args.workers, args.num_cpus, ray.cluster_resources().get("CPU", 0), can_grow=False)
        predict_files(args.inputs, args.output, args.model, input_format=args.input_format,
                      output_format=args.output_format, workers=args.workers, num_cpus=args.num_cpus,
                      device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"predictions in {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):  # run as a file: the 'ray' below must be Ray, not this module
        sys.exit("run it as a module: python -m factsift.ray ...")
    from factsift.ray import main as _main  # the importable class, which Ray's workers load by name

    sys.exit(_main())
