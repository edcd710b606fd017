"""MkDocs hook: mathematics as MathML, made at build time.

pymdownx.arithmatex (generic mode) marks `$...$` and `$$...$$` in the Markdown and leaves
`<span class="arithmatex">\\(...\\)</span>` and `<div class="arithmatex">\\[...\\]</div>` in the
page. This hook replaces each with the MathML that latex2mathml (pure Python) makes of the LaTeX,
so the browser renders the mathematics itself: no JavaScript, no CDN, nothing fetched at view time.
A formula latex2mathml cannot read fails the build, naming the page and the formula.
"""
from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

_BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.S)
_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)


def _mathml(tex: str, display: str, page) -> str:
    latex = html.unescape(tex).strip()
    try:
        return convert(latex, display=display)
    except Exception as exc:  # latex2mathml raises its own exception types
        raise ValueError(f"{page.file.src_path}: latex2mathml cannot convert {latex!r}: {exc}") from exc


def on_page_content(html_text: str, page, config, files) -> str:
    html_text = _BLOCK.sub(
        lambda m: '<div class="math-display">' + _mathml(m.group(1), "block", page) + "</div>", html_text)
    return _INLINE.sub(lambda m: _mathml(m.group(1), "inline", page), html_text)
