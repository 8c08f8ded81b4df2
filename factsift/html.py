"""One self-contained HTML page of predictions: each sentence highlighted in its
label's colour, a legend, each article's composition, probabilities on hover."""

from __future__ import annotations

import html

from .data.labels import COLOURS

_STYLE = """
body{font:16px/1.6 Georgia,serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font:600 1.3rem system-ui,sans-serif}h2{font:600 1.05rem system-ui,sans-serif;margin-top:2.5rem}
.legend span,.comp span{display:inline-block;margin:.15rem .4rem .15rem 0;padding:.05rem .5rem;border-radius:.3rem;
font:13px system-ui,sans-serif}
.s{border-radius:.25rem;padding:.05rem .1rem;cursor:help}
.article{white-space:pre-wrap}
.warn{color:#a33;font:13px system-ui,sans-serif}
"""


def _colour(label: str) -> str:
    return COLOURS.get(label, "#eeeeee")


def render_html(results, labels, title: str = "factsift predictions") -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1><div class='legend'>"]
    parts += [f"<span style='background:{_colour(l)}'>{html.escape(l)}</span>" for l in labels]
    parts.append("</div>")
    for n, art in enumerate(results):
        parts.append(f"<h2>{html.escape(str(art.id if art.id is not None else f'article {n + 1}'))}</h2><div class='comp'>")
        parts += [f"<span style='background:{_colour(l)}'>{html.escape(l)} {100 * art.composition.get(l, 0):.0f}%</span>"
                  for l in labels]
        parts.append("</div>")
        for w in art.warnings:
            parts.append(f"<p class='warn'>{html.escape(w)}</p>")
        parts.append("<p class='article'>")
        pos = 0
        for s in art.sentences:
            if s.start is not None and s.start >= pos:
                parts.append(html.escape(art.text[pos:s.start]))
            elif pos:
                parts.append(" ")
            tip = "\n".join(f"{l}: {p:.3f}" for l, p in sorted(s.probabilities.items(), key=lambda kv: -kv[1]))
            parts.append(f"<span class='s' style='background:{_colour(s.label)}' title='{html.escape(tip, quote=True)}'>"
                         f"{html.escape(s.text)}</span>")
            pos = s.end if s.end is not None else pos
        if art.text and pos < len(art.text):
            parts.append(html.escape(art.text[pos:]))
        parts.append("</p>")
    parts.append("</body></html>\n")
    return "".join(parts)
