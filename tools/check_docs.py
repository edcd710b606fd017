#!/usr/bin/env python3
"""Check the built documentation site for rendering faults (run by `make docs` after mkdocs build).

    python tools/check_docs.py build/site

Scans every build/site/**/*.html and fails (exit 1, one line per fault naming the page) on:

- a run-on list: a paragraph <p> with a line that starts with "- ", "* " or "1. " (Python-Markdown
  makes a list only after a blank line; without one the items run into the paragraph above);
- a table row in a paragraph: a line "| … |" that did not become a table (no blank line before it,
  or a row separated from its table);
- a literal "\\|" outside <pre> (in a table cell, Python-Markdown keeps the backslash inside
  backticks: write &#124; or restructure);
- mathematics left unrendered outside <code>/<pre>: "$$", "\\(", "\\[", or a raw "^{" or "_{";
- an arithmatex element the MathML hook did not convert (class "arithmatex");
- a <script src> or <link href> that loads anything from http(s): the site must work offline.

Only the standard library is used.
"""
from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

RUN_ON = re.compile(r"^\s*(?:[-*]|1\.)\s+\S")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
RAW_MATH = ("$$", "\\(", "\\[", "^{", "_{")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class PageChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.pre = 0          # depth inside <pre>
        self.code = 0         # depth inside <code>
        self.math = 0         # depth inside MathML <math>
        self.p_text: list[str] | None = None
        self.faults: list[str] = []

    # -- structure ------------------------------------------------------------------------------
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if "arithmatex" in cls:
            self.faults.append(f"arithmatex <{tag}> left unconverted (the MathML hook did not run?)")
        if tag == "script" and re.match(r"(?i)\s*(https?:)?//", a.get("src") or ""):
            self.faults.append(f"external script: {a['src']}")
        if tag == "link" and re.match(r"(?i)\s*(https?:)?//", a.get("href") or ""):
            self.faults.append(f"external stylesheet or resource: <link href={a['href']}>")
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "pre":
            self.pre += 1
        elif tag == "code":
            self.code += 1
        elif tag == "math":
            self.math += 1
        elif tag == "p":
            self.p_text = []
        if tag == "code" and self.p_text is not None:
            self.p_text.append("`")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID or tag not in self.stack:
            return
        while self.stack:
            top = self.stack.pop()
            if top == "pre":
                self.pre -= 1
            elif top == "code":
                self.code -= 1
                if self.p_text is not None:
                    self.p_text.append("`")
            elif top == "math":
                self.math -= 1
            elif top == "p" and self.p_text is not None:
                self._check_paragraph("".join(self.p_text))
                self.p_text = None
            if top == tag:
                break

    # -- text -----------------------------------------------------------------------------------
    def handle_data(self, data):
        if self.p_text is not None:
            # code inside a paragraph is kept as a placeholder so that a line break inside
            # inline code does not look like the start of a list item
            self.p_text.append("x" * len(data) if self.code else data)
        if self.pre:
            return
        if "\\|" in data:
            self.faults.append(f"literal \\| in the text: {_excerpt(data, data.index(chr(92) + '|'))}")
        if self.code or self.math:
            return
        for token in RAW_MATH:
            i = data.find(token)
            if i >= 0:
                self.faults.append(f"unrendered mathematics {token!r}: {_excerpt(data, i)}")

    def _check_paragraph(self, text):
        lines = text.splitlines()
        for line in lines[1:]:
            if RUN_ON.match(line):
                self.faults.append(f"run-on list (no blank line before it?): {line.strip()[:80]!r}")
                break
        for line in lines:
            if TABLE_ROW.match(line):
                self.faults.append(f"table row in a paragraph (no blank line before the table?): {line.strip()[:80]!r}")
                break


def _excerpt(text, i, width=40):
    return repr(text[max(0, i - width): i + width].replace("\n", " "))


def check_site(site: Path) -> list[str]:
    pages = sorted(site.rglob("*.html"))
    if not pages:
        return [f"{site}: no HTML pages (was the site built?)"]
    faults = []
    for page in pages:
        checker = PageChecker()
        checker.feed(page.read_text(encoding="utf-8"))
        checker.close()
        faults += [f"{page.relative_to(site)}: {f}" for f in checker.faults]
    return faults


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    site = Path(argv[0] if argv else "build/site")
    faults = check_site(site)
    if faults:
        print(f"check_docs: {len(faults)} fault(s) in {site}:", file=sys.stderr)
        for f in faults:
            print("  " + f, file=sys.stderr)
        return 1
    n = len(list(site.rglob("*.html")))
    print(f"check_docs: {n} pages in {site}: no run-on lists, stray \\|, raw maths or external assets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
