"""Split source lines that hold several units into one unit per line.

Some writers chained units on one line: ``F | First. | F | Second.`` (an
explicit code for the second unit) or ``O | "First," she said. | "Second."``
(same label). The blind second pass saw those lines as single units; after
adjudication this script splits them, each part keeping its own code (or the
line's code). A `` | `` inside furniture such as ``By X | 5 min read`` or
``09:14 | UPDATED: 10:02`` is kept: a part is split off only when the text
before the bar ends a sentence and the text after starts one.

    python data/corpus/annotation/split_units.py
"""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
UNIT = re.compile(r"^([FOSPU])\s*([|/])\s?(.*)$")
CODED = re.compile(r"\s\|\s([FOSPU])\s\|\s")
ENDS = re.compile(r"[.!?…][\"”’')\]]*$|[\"”’]$")
STARTS = re.compile(r"^[\"“‘'(\[A-Z0-9]")


def split_body(code: str, body: str) -> list[tuple[str, str]]:
    parts = [(code, body)]
    # explicit codes first
    out = []
    for c, text in parts:
        pieces = CODED.split(text)
        out.append((c, pieces[0]))
        for k in range(1, len(pieces), 2):
            out.append((pieces[k], pieces[k + 1]))
    final = []
    for c, text in out:
        chunks = text.split(" | ")
        current = chunks[0]
        for nxt in chunks[1:]:
            if ENDS.search(current.strip()) and STARTS.match(nxt.strip()):
                final.append((c, current.strip()))
                current = nxt
            else:
                current = f"{current} | {nxt}"
        final.append((c, current.strip()))
    return final


def main():
    changed = 0
    for path in sorted(SRC.glob("*.txt")):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            m = UNIT.match(line)
            if m and " | " in m.group(3):
                parts = split_body(m.group(1), m.group(3))
                if len(parts) > 1:
                    changed += len(parts) - 1
                    lines.append(f"{parts[0][0]} {m.group(2)} {parts[0][1]}")
                    lines.extend(f"{c} | {t}" for c, t in parts[1:])
                    continue
            lines.append(line)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{changed} units split off")


if __name__ == "__main__":
    main()
