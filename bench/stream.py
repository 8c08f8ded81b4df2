"""Streaming benchmark: `factsift predict` on a large JSON Lines file, in
bounded memory, interrupted and resumed.

    .venv/bin/python bench/stream.py [--size-mb 100] [--seconds 90] [--model DIR] [--full]

1. Writes ``--size-mb`` of JSON Lines articles (raw text, so the sentence
   splitter runs too) built from the corpus articles, each with its own id.
2. Runs ``factsift predict INPUT --output OUT.jsonl`` for ``--seconds``,
   sampling its resident memory, then interrupts it with SIGINT (Ctrl-C).
3. Runs the same command again: it must continue after the last complete
   article, and is stopped the same way (or left to finish with ``--full``).
4. Checks the output: every line is a complete JSON article, ids in input
   order, none twice, none missing before the last one.

Printed: input size, articles and sentences per second, peak and final RSS
of each run (bounded memory: the peak does not grow with the input), the
progress line (rate and ETA) as the user sees it, and the resume check.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTSIFT = Path(sys.executable).with_name("factsift")


def make_input(path: Path, size_mb: float) -> tuple[int, int]:
    """Corpus articles repeated under new ids up to ``size_mb``; returns (articles, bytes)."""
    arts = []
    for name in ("train", "dev", "test"):
        for line in (ROOT / "data" / "corpus" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            arts.append(json.loads(line)["text"])
    limit = int(size_mb * 1024 * 1024)
    n = size = 0
    with path.open("w", encoding="utf-8") as fh:
        while size < limit:
            line = json.dumps({"id": f"a{n:07d}", "text": arts[n % len(arts)]}, ensure_ascii=False) + "\n"
            fh.write(line)
            size += len(line.encode("utf-8"))
            n += 1
    return n, size


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a live process in MB, from /proc."""
    cur = peak = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak


def run_for(cmd: list[str], seconds: float | None) -> dict:
    env = dict(os.environ, FACTSIFT_PROGRESS="1")
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    samples = []
    while proc.poll() is None:
        cur, peak = _rss_mb(proc.pid)
        if cur:
            samples.append((time.perf_counter() - t0, cur, peak))
        if seconds is not None and time.perf_counter() - t0 > seconds:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - t0
    err.seek(0)
    log = err.read().decode("utf-8", "replace").replace("\r", "\n")
    bars = [l.strip() for l in log.splitlines() if l.strip().startswith("predict")]
    return {"rc": proc.returncode, "seconds": elapsed, "samples": samples, "last_progress": bars[-1] if bars else "",
            "log_tail": log[-600:]}


def check_output(path: Path) -> tuple[int, int]:
    """(articles, sentences) in a complete, ordered, duplicate-free output."""
    n = sents = 0
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            art = json.loads(line)  # raises on a half-written line
            assert art["id"] == f"a{i:07d}", f"line {i + 1}: id {art['id']}, expected a{i:07d}"
            n += 1
            sents += len(art["sentences"])
    return n, sents


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=float, default=100)
    p.add_argument("--seconds", type=float, default=90, help="length of each of the two runs")
    p.add_argument("--model", default=None)
    p.add_argument("--full", action="store_true", help="let the second run finish the whole file")
    p.add_argument("--workdir", default=None, help="where to write the input and output (default: a temp dir)")
    p.add_argument("extra", nargs="*", help="more options for factsift predict (after --)")
    args = p.parse_args(argv)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="factsift-stream-"))
    work.mkdir(parents=True, exist_ok=True)
    src, out = work / "articles.jsonl", work / "predictions.jsonl"
    out.unlink(missing_ok=True)
    n_in, size = make_input(src, args.size_mb)
    print(f"input: {src} ({size / 1e6:.1f} MB, {n_in} articles)")
    cmd = [str(FACTSIFT), "predict", str(src), "--output", str(out)] + (["--model", args.model] if args.model else [])
    cmd += args.extra

    runs = []
    for k, seconds in enumerate((args.seconds, None if args.full else args.seconds)):
        before = check_output(out)[0] if out.exists() else 0
        r = run_for(cmd, seconds)
        done, sents = check_output(out)
        r.update(before=before, after=done)
        runs.append(r)
        peak = max((s[2] for s in r["samples"]), default=0)
        settled = [s[1] for s in r["samples"] if s[0] > r["seconds"] / 3]
        print(f"run {k + 1}: {r['seconds']:.0f} s, exit {r['rc']}, articles {before} -> {done} "
              f"({(done - before) / r['seconds']:.1f}/s), peak RSS {peak:.0f} MB, "
              f"RSS after the first third {min(settled, default=0):.0f}-{max(settled, default=0):.0f} MB")
        print(f"       progress as shown: {r['last_progress']}")
    done, sents = check_output(out)
    first_new = runs[1]["before"]
    print(f"resume: the second run started after article {first_new} of the first run's output, "
          f"all {done} lines are complete articles in input order, none repeated ({sents} sentences)")
    total_s = sum(r["seconds"] for r in runs)
    rate = done / total_s
    if not done:
        print("no article finished: give the runs more --seconds")
        return 1
    print(f"throughput over both runs (including model loading): {rate:.1f} articles/s, {sents / total_s:.0f} sentences/s;"
          f" the whole {size / 1e6:.0f} MB would take about {n_in / rate / 60:.0f} min at this rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
