"""Make blind copies of a batch for the second labelling pass, and score agreement.

    python data/corpus/annotation/blind.py blind b3          # writes /tmp/factsift_blind/b3.txt
    python data/corpus/annotation/blind.py kappa b3          # pass-1 vs pass-2 agreement, disagreements file
    python data/corpus/annotation/blind.py apply b3          # write adjudicated labels back into src/

Pass 2 lives in annotation/b3_pass2.tsv (article_id, index, code); the
adjudication of the disagreements in annotation/b3_adjudicated.tsv
(article_id, index, final code, reason).
"""

import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE.parents[1]))
from authoring import CODES, parse_files  # noqa: E402

INV = {v: k for k, v in CODES.items()}


def articles(batch):
    return parse_files(sorted(SRC.glob(f"{batch}_part*.txt")))


def blind(batch):
    out = Path("/tmp/factsift_blind")
    out.mkdir(exist_ok=True)
    lines = []
    for a in articles(batch):
        lines.append(f"=== ARTICLE {a['id']} outlet={a['meta'].get('outlet', '?')}")
        prev_end = 0
        for i, s in enumerate(a["sentences"]):
            gap = a["text"][prev_end:s["start"]]
            if "\n\n" in gap:
                lines.append("")
            lines.append(f"{i}\t{s['text']}")
            prev_end = s["end"]
        lines.append("")
    (out / f"{batch}.txt").write_text("\n".join(lines), encoding="utf-8")
    print(out / f"{batch}.txt")


def read_tsv(path, ncols):
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < ncols or not parts[1].strip().isdigit():
            continue
        rows[(parts[0].strip(), int(parts[1]))] = parts[2].strip().upper()[:1] if ncols == 3 else parts[2:]
    return rows


def kappa_of(a, b):
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return (po - pe) / (1 - pe), po


def kappa(batch):
    p2 = read_tsv(HERE / f"{batch}_pass2.tsv", 3)
    first, second, dis = [], [], []
    missing = 0
    for a in articles(batch):
        for i, s in enumerate(a["sentences"]):
            code1 = INV[s["label"]]
            code2 = p2.get((a["id"], i))
            if code2 not in CODES:
                missing += 1
                continue
            first.append(code1)
            second.append(code2)
            if code1 != code2:
                dis.append(f"{a['id']}\t{i}\t{code1}\t{code2}\t{s['text']}")
    k, po = kappa_of(first, second)
    print(f"{batch}: {len(first)} units compared, {missing} missing in pass 2, agreement {po:.3f}, kappa {k:.3f}, "
          f"{len(dis)} disagreements")
    if (HERE / f"{batch}_adjudicated.tsv").exists():
        print("already adjudicated: the measured agreement is in agreement.json; not overwriting")
        return first, second
    Path("/tmp/factsift_blind").mkdir(exist_ok=True)
    Path(f"/tmp/factsift_blind/{batch}_disagreements.tsv").write_text(
        "article_id\tindex\tpass1\tpass2\tsentence\n" + "\n".join(dis) + "\n", encoding="utf-8")
    return first, second


def apply(batch):
    adj = read_tsv(HERE / f"{batch}_adjudicated.tsv", 3)
    changed = 0
    for path in sorted(SRC.glob(f"{batch}_part*.txt")):
        out, art, idx = [], None, -1
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("=== ARTICLE"):
                art = [f.split("=", 1)[1] for f in line.split() if f.startswith("id=")][0]
                idx = -1
            elif line[:1] in CODES and line[1:3].strip() in {"|", "/"} and art:
                idx += 1
                new = adj.get((art, idx))
                if new in CODES and new != line[0]:
                    line = new + line[1:]
                    changed += 1
            out.append(line)
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"{batch}: {changed} labels changed by adjudication")





if __name__ == "__main__":
    {"blind": blind, "kappa": kappa, "apply": apply}[sys.argv[1]](sys.argv[2])
