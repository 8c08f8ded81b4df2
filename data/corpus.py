"""Building the shipped corpus: authoring sources -> train/dev/test JSON Lines.

``python -m factsift.data.corpus`` (run from the repository root) rebuilds
``data/corpus/{train,dev,test}.jsonl`` from ``data/corpus/src/*.txt``.

The split is by article, about 80/10/10, and keeps leakage out: articles
that share any sentence are kept in the same split, except for generic site
furniture, a boilerplate line that occurs in four or more articles
(``Advertisement``, ``Source: Read Full Article``): those lines are the same
string on every page of the web, and tying every article that carries them
together would put a third of the corpus in one group. The assignment is a
seeded shuffle of the groups, so rebuilding gives the same files.

Splits are pinned: ``data/corpus/splits.tsv`` records the split of every
article built so far, and a rebuild keeps each article where it was, so the
test split does not change under a model when a new batch of articles is
added. Only groups with no pinned article are shuffled, and they fill each
split up to its share of the whole corpus.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

from .authoring import parse_files

SPLITS = (("train", 0.8), ("dev", 0.1), ("test", 0.1))
FURNITURE_MIN_ARTICLES = 4
SHORT_UNIT_WORDS = 4
SEED = 20261126


def furniture(articles) -> set[str]:
    """Lines generic enough to repeat across unrelated pages: boilerplate found
    in ``FURNITURE_MIN_ARTICLES`` or more articles, and any unit of at most
    ``SHORT_UNIT_WORDS`` words found in two or more (a section heading such as
    ``Summary``, a button such as ``Donate now``, a price line)."""
    where = defaultdict(set)
    labels = defaultdict(set)
    for a in articles:
        for s in a["sentences"]:
            where[s["text"].strip()].add(a["id"])
            labels[s["text"].strip()].add(s["label"])
    return {t for t, ids in where.items()
            if (len(ids) >= FURNITURE_MIN_ARTICLES and labels[t] == {"promotional_boilerplate"})
            or (len(ids) >= 2 and len(t.split()) <= SHORT_UNIT_WORDS)}


def groups(articles) -> list[list[dict]]:
    common = furniture(articles)
    parent = {a["id"]: a["id"] for a in articles}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_seen = {}
    for a in articles:
        for s in a["sentences"]:
            t = s["text"].strip()
            if t in common:
                continue
            if t in first_seen:
                parent[find(a["id"])] = find(first_seen[t])
            else:
                first_seen[t] = a["id"]
    out = defaultdict(list)
    for a in articles:
        out[find(a["id"])].append(a)
    return sorted(out.values(), key=lambda g: g[0]["id"])


def read_pins(path: Path) -> dict[str, str]:
    """``article id -> split`` from a ``splits.tsv`` (missing file: no pins)."""
    pins = {}
    if not Path(path).is_file():
        return pins
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or parts[1] not in dict(SPLITS):
            raise ValueError(f"{path}:{n}: expected 'article_id<TAB>train|dev|test', found {line!r}")
        pins[parts[0]] = parts[1]
    return pins


def assign(articles, seed: int = SEED, pins: dict[str, str] | None = None) -> dict[str, list[dict]]:
    pins = pins or {}
    splits = {name: [] for name, _ in SPLITS}
    free = []
    for g in groups(articles):
        pinned = {pins[a["id"]] for a in g if a["id"] in pins}
        if len(pinned) > 1:
            ids = ", ".join(f"{a['id']} ({pins.get(a['id'], 'new')})" for a in g)
            raise ValueError(f"articles pinned to different splits share a sentence: {ids}; "
                             "reword the shared sentence or move the articles to one split in splits.tsv")
        if pinned:
            splits[pinned.pop()].extend(g)
        else:
            free.append(g)
    random.Random(seed).shuffle(free)
    total = len(articles)
    # fill the small splits up to their share with whole new groups, the rest is train
    for name, share in SPLITS[1:]:
        target = round(total * share)
        rest = []
        for g in free:
            if len(splits[name]) + len(g) <= target and len(g) <= max(3, target // 10):
                splits[name].extend(g)
            else:
                rest.append(g)
        free = rest
    for g in free:
        splits["train"].extend(g)
    for name in splits:
        splits[name].sort(key=lambda a: a["id"])
    return splits


def load_sources(root: Path = Path("data/corpus")) -> list[dict]:
    """Every article of ``root/src``, with the metadata the built files carry."""
    articles = parse_files(sorted((root / "src").glob("*.txt")))
    for a in articles:
        a["meta"]["batch"] = a["id"].split("-")[0]
        a["meta"].pop("source_file", None)
    return articles


def build(root: Path = Path("data/corpus")) -> dict[str, int]:
    from ..training.io import atomic_write_text  # noqa: PLC0415

    counts, pins = {}, []
    for name, arts in assign(load_sources(root), pins=read_pins(root / "splits.tsv")).items():
        atomic_write_text(root / f"{name}.jsonl", "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in arts))
        counts[name] = len(arts)
        pins += [f"{a['id']}\t{name}\n" for a in arts]
    atomic_write_text(root / "splits.tsv", "".join(sorted(pins)))
    return counts


def stats(root: Path = Path("data/corpus")) -> str:
    """Markdown tables of the built corpus: per split and label, per outlet type."""
    from collections import Counter  # noqa: PLC0415

    from .labels import LABELS  # noqa: PLC0415

    rows = ["| split | articles | sentences | " + " | ".join(LABELS) + " |", "| --- |" + " ---: |" * (2 + len(LABELS))]
    outlets: Counter = Counter()
    outlet_sents: Counter = Counter()
    total = Counter()
    n_art = 0
    for name, _ in SPLITS:
        arts = [json.loads(l) for l in (root / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        c = Counter(s["label"] for a in arts for s in a["sentences"])
        total.update(c)
        n_art += len(arts)
        rows.append(f"| {name} | {len(arts)} | {sum(c.values())} | " + " | ".join(str(c[l]) for l in LABELS) + " |")
        for a in arts:
            outlets[a["meta"].get("outlet", "?")] += 1
            outlet_sents[a["meta"].get("outlet", "?")] += len(a["sentences"])
    rows.append(f"| **all** | {n_art} | {sum(total.values())} | " + " | ".join(str(total[l]) for l in LABELS) + " |")
    rows += ["", "| outlet type | articles | sentences |", "| --- | ---: | ---: |"]
    rows += [f"| {o} | {n} | {outlet_sents[o]} |" for o, n in outlets.most_common()]
    return "\n".join(rows)


if __name__ == "__main__":
    args = sys.argv[1:]
    root = Path(args[1]) if len(args) > 1 else Path("data/corpus")
    if args[:1] == ["--stats"]:
        print(stats(root))
    else:
        root = Path(args[0]) if args else root
        print(build(root))
