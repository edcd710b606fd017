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

# |x| becomes \left|x\right|: a fenced group, so the bars get no operator spacing inside (|W|, log|M|)
_ABS = re.compile(r"(?<!\\)\|([^|]+?)(?<!\\)\|")
# latex2mathml drops the last row of an array whose last cell is empty ("a & \\end{array}"): fill it
_EMPTY_LAST_CELL = re.compile(r"&(?=\s*(?:\\end\{|\\\\))")
# Function names (\log, \exp, \max, \operatorname{Var}, ...): latex2mathml writes <mi>log</mi> or
# <mo>Var</mo>; MathML spaces neither as TeX does, so they are rewritten as operators with thin spaces.
_FUNCTION = re.compile(
    r"<(mi|mo)>(log|exp|ln|det|max|min|sup|inf|lim|[A-Za-z]{2,}(?=</mo>))</\1>"
    r"((?=<mo[^>]*>&#x00028;)|(?=<mrow><mo[^>]*>&#x00028;))?")

# latex2mathml writes a few relations as identifiers (\sim as a tilde); as operators they get the
# spacing of a relation. The slash gets none, as in TeX.
_FIXUPS = {
    "<mi>&#x0007E;</mi>": "<mo>&#x0223C;</mo>",  # \sim
    "<mi>&#x027C2;</mi>": "<mo>&#x027C2;</mo>",  # \perp
    "<mo>&#x0002F;</mo>": '<mo lspace="0" rspace="0">&#x0002F;</mo>',  # a/b: TeX's slash is unspaced
    "<mo>&#x02016;</mo>": '<mo stretchy="false">&#x02016;</mo>',  # \lVert, \rVert: a norm's bars keep their size
}


def _mathml(tex: str, display: str, page) -> str:
    latex = _ABS.sub(r"\\left|\1\\right|", html.unescape(tex).strip())
    latex = _EMPTY_LAST_CELL.sub("& {}", latex)
    try:
        mathml = convert(latex, display=display)
    except Exception as exc:  # latex2mathml raises its own exception types
        raise ValueError(f"{page.file.src_path}: latex2mathml cannot convert {latex!r}: {exc}") from exc
    # every row of every array must arrive (latex2mathml has dropped rows silently before)
    rows = latex.count("\\\\") + len(re.findall(r"\\begin\{", latex))
    if mathml.count("<mtr") != rows:
        raise ValueError(f"{page.file.src_path}: {rows} array rows in {latex!r}, "
                         f"{mathml.count('<mtr')} in latex2mathml's MathML")
    for old, new in _FIXUPS.items():
        mathml = mathml.replace(old, new)
    return _FUNCTION.sub(_function_name, mathml)


def _function_name(m: re.Match) -> str:
    # a thin space on either side, as TeX spaces \log x; none before an opening parenthesis
    rspace = "0" if m.group(3) is not None else "0.1667em"
    return f'<mo lspace="0.1667em" rspace="{rspace}">{m.group(2)}</mo>'


def on_page_content(html_text: str, page, config, files) -> str:
    html_text = _BLOCK.sub(
        lambda m: '<div class="math-display">' + _mathml(m.group(1), "block", page) + "</div>", html_text)
    return _INLINE.sub(lambda m: _mathml(m.group(1), "inline", page), html_text)
