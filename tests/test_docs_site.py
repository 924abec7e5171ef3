"""The built docs site renders as a reader sees it, with no network.

The site is built once per session with ``mkdocs build --strict`` into a temporary
folder (a few seconds; ``IMBALANCE_KIT_DOCS_SITE=<folder>`` checks an already built
one instead). The checks read the HTML the way a browser would:

- no Sphinx role is printed literally (``:func:`x``` in a docstring shows as text on an
  mkdocstrings page; ``docs/_tools/sphinx_roles.py`` rewrites them as links);
- nothing is loaded from another host: no external ``<script src>``, stylesheet, font
  or preconnect, no ``url(http...)`` in the site's own CSS, and every local script and
  stylesheet a page names exists in the site;
- every formula is inside the math markup that the bundled KaTeX typesets: no ``$``,
  ``\\(`` or TeX command in the running text, no math fence left as code;
- the search index is there, for http (``search_index.json``) and file:// (``.js``).

``docs/_tools/screenshots.py`` takes screenshots of the same site in headless Chromium
for a look by eye.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not (ROOT / "mkdocs.yml").exists() or importlib.util.find_spec("mkdocs") is None,
    reason="needs the repository's mkdocs.yml and mkdocs (the docs extra)",
)

SPHINX_ROLE = re.compile(
    r":(?:py:)?(?:func|meth|class|attr|mod|obj|data|exc|const|ref|doc|term|math):(?:`|<code>)"
)
# TeX that is a formula when it appears in running text
TEX_COMMAND = re.compile(
    r"\\(?:frac|tfrac|sum|prod|mathcal|mathrm|mathbb|operatorname|left|right|log|exp|sqrt|"
    r"cdot|times|alpha|beta|gamma|epsilon|varepsilon|tau|sigma|pi|ell|bar|hat|tilde|le|ge|"
    r"qquad|quad|text|begin)(?![A-Za-z])"
)
RAW_DELIMITER = re.compile(r"\$|\\\(|\\\)|\\\[|\\\]")
NAV_FORMULA = re.compile(r"\\\((?:(?!\\\)).)+\\\)")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
SKIPPED_TEXT = {"script", "style", "title", "textarea", "svg"}
RESOURCE_RELS = {"stylesheet", "preload", "modulepreload", "preconnect", "dns-prefetch", "prefetch"}


class Page(HTMLParser):
    """What one HTML page loads, and its visible text with the context of each piece."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = []
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []  # (rel, href)
        self.text: list[tuple[str, str]] = []  # (where, text): "math", "code", "nav", "prose"
        self.code_blocks: list[str] = []
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "link" and a.get("href"):
            self.links.append((a.get("rel", "").lower(), a["href"]))
        if tag == "code" and self._code is None:
            self._code = []
        if tag not in VOID:
            self.stack.append((tag, a.get("class", "")))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        if tag == "code" and self._code is not None and not any(t == "code" for t, _ in self.stack):
            self.code_blocks.append("".join(self._code))
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)
        tags = {t for t, _ in self.stack}
        classes = " ".join(c for _, c in self.stack).split()
        if tags & SKIPPED_TEXT:
            return
        if "arithmatex" in classes:
            where = "math"
        elif tags & {"code", "pre", "kbd"}:
            where = "code"
        elif "md-nav" in classes or "md-nav__link" in classes:
            where = "nav"
        else:
            where = "prose"
        self.text.append((where, data))


def _build(dest: Path) -> Path:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(dest)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return dest


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("IMBALANCE_KIT_DOCS_SITE")
    if given:
        return Path(given)
    return _build(tmp_path_factory.mktemp("docs") / "site")


@pytest.fixture(scope="session")
def pages(site) -> dict[str, Page]:
    parsed = {}
    for path in sorted(site.rglob("*.html")):
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        parsed[path.relative_to(site).as_posix()] = page
    assert len(parsed) > 20, f"only {len(parsed)} pages built"
    return parsed


def _external(url: str) -> bool:
    return url.startswith("//") or urlsplit(url).scheme in ("http", "https")


def test_no_sphinx_role_is_printed(site):
    found = []
    for path in sorted([*site.rglob("*.html"), *site.rglob("search_index.json")]):
        for match in SPHINX_ROLE.finditer(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(site)}: {match[0]}")
    assert found == [], f"{len(found)} literal Sphinx roles, e.g. {found[:5]}"


def test_nothing_is_loaded_from_another_host(site, pages):
    found = []
    for name, page in pages.items():
        found += [f"{name}: <script src={src}>" for src in page.scripts if _external(src)]
        for rel, href in page.links:
            fontlike = re.search(r"font|\.woff2?\b|\.ttf\b|\.otf\b", href)
            if _external(href) and (set(rel.split()) & RESOURCE_RELS or fontlike):
                found.append(f"{name}: <link rel={rel} href={href}>")
    for css in site.rglob("*.css"):
        for match in re.finditer(
            r"""(?:url\(|@import\s+)["']?((?:https?:)?//[^"')\s]+)""",
            css.read_text(encoding="utf-8"),
        ):
            found.append(f"{css.relative_to(site)}: {match[1]}")
    assert found == [], found[:10]


def test_every_local_script_and_stylesheet_exists(site, pages):
    missing = set()
    for name, page in pages.items():
        refs = page.scripts + [href for rel, href in page.links if "stylesheet" in rel.split()]
        for ref in refs:
            if _external(ref) or ref.startswith("data:"):
                continue
            path = urlsplit(ref).path
            # 404.html names its files from the site's root
            base = site if path.startswith("/") else (site / name).parent
            target = base / path.lstrip("/")
            if not target.resolve().is_file():
                missing.add(f"{name}: {ref}")
    assert not missing, sorted(missing)[:10]


def test_math_is_typeset_by_the_bundled_katex(pages):
    page = pages["index.html"]
    assert any(src.endswith("katex.min.js") for src in page.scripts)
    assert any(href.endswith("katex.min.css") for _, href in page.links)


def test_every_formula_is_inside_the_math_markup(pages):
    found = []
    n_formulas = 0
    for name, page in pages.items():
        for where, text in page.text:
            if where == "math":
                n_formulas += text.lstrip().startswith(("\\(", "\\[", "\\begin"))
            elif where == "nav":
                # headings with math reach the table of contents as \( \) text, which
                # the page's KaTeX script typesets there too
                rest = NAV_FORMULA.sub("", text)
                if RAW_DELIMITER.search(rest) or TEX_COMMAND.search(rest):
                    found.append(f"{name} (navigation): {text.strip()[:80]!r}")
            elif where == "prose":
                if RAW_DELIMITER.search(text) or TEX_COMMAND.search(text):
                    found.append(f"{name}: {text.strip()[:80]!r}")
        for code in page.code_blocks:
            if re.match(r"math\s", code):  # a ```math fence left as code
                found.append(f"{name} (code): {code[:80]!r}")
    assert found == [], f"{len(found)} raw formulas, e.g. {found[:6]}"
    assert n_formulas > 100, f"only {n_formulas} formulas found in the math markup"


def test_the_search_index_is_built(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert {"reference/losses.html", "getting-started.html"} <= locations
    assert any("sigmoid_focal_loss" in doc["title"] for doc in index["docs"])
    # the copy that lets search run from file:// (no fetch there)
    inline = (site / "search" / "search_index.js").read_text(encoding="utf-8")
    assert inline.startswith("var __index = {")


def test_the_checks_catch_what_they_look_for():
    page = Page()
    page.feed(
        "<html><head><script src='https://cdn.example/mathjax.js'></script>"
        "<link rel='stylesheet' href='https://fonts.example/css?family=Roboto'></head><body>"
        "<p>see :func:<code>smote</code> and $$\\mathcal{L} = 1$$</p>"
        "<p><span class='arithmatex'>\\(x\\)</span> costs \\(y\\)</p>"
        "<p><code>math\nx = 1</code></p></body></html>"
    )
    assert [src for src in page.scripts if _external(src)]
    assert [href for _, href in page.links if _external(href)]
    prose = [t for w, t in page.text if w == "prose"]
    assert any(RAW_DELIMITER.search(t) for t in prose)
    assert any(TEX_COMMAND.search(t) for t in prose)
    assert [w for w, t in page.text if w == "math"] == ["math"]
    assert any(re.match(r"math\s", c) for c in page.code_blocks)
    assert SPHINX_ROLE.search("see :func:<code>smote</code>")
