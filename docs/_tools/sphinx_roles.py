"""Rewrite Sphinx roles in docstrings as mkdocstrings cross-references.

The API pages are rendered by mkdocstrings from Markdown docstrings, where a Sphinx
role such as ``:func:`asymmetric_loss``` is printed literally. This script rewrites
every role in the given files or folders (default: ``imbalance_kit``):

- a target that the docs site renders becomes an autorefs link,
  ``[`asymmetric_loss`][imbalance_kit.losses.asymmetric_loss]``, to the object's
  primary page anchor (so a name re-exported by a package links to where the site
  shows it);
- any other target (a private helper, ``torch.nn.functional.cross_entropy``) becomes
  plain code, `` `cross_entropy` ``;
- ``:math:`x``` becomes ``$x$``.

A name is looked up as Python would see it from where the role is written: the
enclosing classes, then the module, then the module's parent packages, then as a
unique name among everything the site renders. ``~a.b.c`` shows ``c``, an explicit
title ``:func:`title <a.b.c>``` shows ``title``. A line that grows past the line
length passes its last words on to the next line of its paragraph (keeping the
paragraph's, list item's or argument's indentation), so ruff stays clean.

What the site renders comes from its Sphinx inventory (``objects.inv``, written by
mkdocstrings): by default the site is built into a temporary folder first
(``mkdocs build``, a few seconds); ``--inventory`` reuses a built one.

The rewrite is idempotent: run it again after merging branches that added roles::

    python docs/_tools/sphinx_roles.py                  # rewrite imbalance_kit/
    python docs/_tools/sphinx_roles.py --check          # list roles, change nothing
    python docs/_tools/sphinx_roles.py tasks/risk --inventory site/objects.inv

then ``mkdocs build --strict`` (an unresolved link is a build error) and
``pytest tests/test_docs_site.py``.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import subprocess
import sys
import tempfile
import tokenize
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINE_LENGTH = 100

#: ``:role:`text``` or ``:py:role:`text```, the roles Sphinx's Python domain knows.
ROLE = re.compile(
    r":(?:py:)?(?P<role>func|meth|class|attr|mod|obj|data|exc|const|math|ref|term|doc):"
    r"`(?P<text>[^`\n]+)`"
)
EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
LIST_MARKER = re.compile(r"^(?P<indent>\s*)(?P<marker>[-*+] |\d+[.)] )")
INVENTORY_LINE = re.compile(r"(?P<name>\S+)\s+(?P<domain>py:\w+)\s+(?P<prio>-?\d+)\s+(?P<uri>\S+)")
ARG_ITEM = re.compile(r"^(?P<indent>\s*)[\w*]+(?: \([^)]*\))?: \S")


# ---------------------------------------------------------------------------- inventory


def read_inventory(path: Path) -> dict[str, str]:
    """Map every identifier in a Sphinx v2 inventory to its primary identifier.

    mkdocstrings lists each rendered object under its own path (priority 1) and
    under its other paths (its canonical path, the modules that import it) with the
    page anchor of the primary one.
    """
    data = path.read_bytes()
    offset = 0
    for _ in range(4):  # four header lines
        offset = data.index(b"\n", offset) + 1
    entries = zlib.decompress(data[offset:]).decode("utf-8").splitlines()
    primary: dict[str, str] = {}
    for line in entries:
        match = INVENTORY_LINE.match(line)
        if not match:
            continue
        name, uri = match["name"], match["uri"]
        anchor = uri.split("#", 1)[1] if "#" in uri else ""
        primary[name] = name if anchor in ("", "$", name) else anchor
    return primary


def build_inventory(dest: Path) -> Path:
    """Build the site into ``dest`` (not strict: roles are what is being fixed)."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(dest)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
    )
    return dest / "objects.inv"


# ---------------------------------------------------------------------------- scopes


def module_name(path: Path) -> str | None:
    """Dotted module name of a .py file, from the nearest folder without __init__.py."""
    if path.suffix != ".py":
        return None
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts) or None


def class_scopes(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every class, innermost last."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}"
                found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, prefix)  # nested classes are rare; keep the outer prefix

    visit(tree, "")
    return found


@dataclass
class Resolver:
    primary: dict[str, str]

    def __post_init__(self) -> None:
        self.by_tail: dict[str, set[str]] = {}
        for ident in set(self.primary.values()):
            parts = ident.split(".")
            for k in range(1, len(parts)):
                self.by_tail.setdefault(".".join(parts[-k:]), set()).add(ident)

    def resolve(self, target: str, scopes: list[str]) -> str | None:
        """The primary identifier ``target`` names from ``scopes`` (innermost first)."""
        for scope in scopes:
            ident = f"{scope}.{target}" if scope else target
            if ident in self.primary:
                return self.primary[ident]
        candidates = self.by_tail.get(target, set())
        if len(candidates) == 1:
            return next(iter(candidates))
        return None


def scopes_at(module: str | None, classes: list[tuple[int, int, str]], line: int) -> list[str]:
    scopes: list[str] = []
    if module:
        enclosing = [name for first, last, name in classes if first <= line <= last]
        for name in sorted(enclosing, key=len, reverse=True):
            scopes.append(f"{module}.{name}")
        parts = module.split(".")
        for k in range(len(parts), 0, -1):
            scopes.append(".".join(parts[:k]))
    scopes.append("")
    return scopes


# ---------------------------------------------------------------------------- rewriting


def replacement(role: str, text: str, scopes: list[str], resolver: Resolver) -> str:
    if role == "math":
        return f"${text}$"
    explicit = EXPLICIT_TITLE.match(text)
    title, target = (explicit["title"], explicit["target"]) if explicit else (None, text)
    target = target.strip()
    suppress = target.startswith("!")
    short = target.startswith("~")
    target = target.lstrip("!~").removesuffix("()")
    shown = title or (target.rsplit(".", 1)[-1] if short else target)
    if role in ("ref", "term", "doc") or suppress:
        return f"`{shown}`"
    ident = resolver.resolve(target, scopes)
    if ident is None:
        return f"`{shown}`"
    return f"[`{shown}`][{ident}]"


def _prefix(line: str) -> tuple[str, str]:
    """(indent of this line, indent of its paragraph's continuation lines)."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("#"):
        return indent, indent + ("#: " if stripped.startswith("#:") else "# ")
    if marker := LIST_MARKER.match(line):
        return indent, marker["indent"] + " " * len(marker["marker"])
    if ARG_ITEM.match(line):
        return indent, indent + "    "
    return indent, indent


def _words(text: str) -> list[str]:
    """Split at spaces outside code spans and links (those never break)."""
    words, current, fence, link, i = [], "", 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            if not fence:
                fence = run  # a span opened by N backticks closes on N backticks
            elif run == fence:
                fence = 0
            current += "`" * run
            i += run
            continue
        if not fence and ch == "[":
            link += 1
        elif not fence and ch == "]":
            link = max(0, link - 1)
        if ch == " " and not fence and link == 0:
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
        i += 1
    if current:
        words.append(current)
    return words


def _continues(line: str, cont: str) -> bool:
    """Whether ``line`` continues a paragraph whose continuation prefix is ``cont``."""
    if not line.strip() or '"""' in line or "'''" in line:
        return False
    if cont.endswith(("# ", "#: ")):
        return line.startswith(cont) and not line[len(cont) :].startswith(" ")
    body = line[len(cont) :]
    if not line.startswith(cont) or body.startswith((" ", "\t")):
        return False
    return not (
        LIST_MARKER.match(body)
        or body.startswith((">>>", "...", "```", "$$", "|", "#", ":"))
        or re.match(r"^[A-Z][\w ]*:$", body)  # a section header such as "Args:"
    )


def reflow(lines: list[str], index: int, limit: int, last: int) -> tuple[list[str], int]:
    """Carry the words that overflow ``lines[index]`` into the lines that follow.

    Only lines of the same paragraph take words (same continuation indentation, no
    list item, section header, code or doctest, not past line ``last``, the end of
    the string or comment); when none is left a new line is opened. Lines stop
    changing as soon as one fits. Returns the new lines and how many they replace
    (the lines after those are left to the caller, which looks at each in turn).
    """
    first = lines[index]
    if len(first) <= limit:
        return [first], 1
    indent, cont = _prefix(first)
    count = 1
    while index + count <= last and _continues(lines[index + count], cont):
        count += 1
    out: list[str] = []
    carry: list[str] = []
    for k, line in enumerate(lines[index : index + count]):
        prefix = indent if k == 0 else cont
        words = carry + _words(line[len(prefix) :])
        carry = []
        text = prefix + " ".join(words)
        while len(text) > limit and len(words) > 1:
            carry.insert(0, words.pop())
            text = prefix + " ".join(words)
        out.append(text)
        if not carry:
            return out, k + 1
    while carry:  # open new lines for what is left
        words, carry = carry, []
        text = cont + " ".join(words)
        while len(text) > limit and len(words) > 1:
            carry.insert(0, words.pop())
            text = cont + " ".join(words)
        out.append(text)
    return out, count


def string_ends(source: str) -> dict[int, int]:
    """For each 0-based line inside a string literal, the last line of that string."""
    ends: dict[int, int] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return ends
    for token in tokens:
        if token.type == tokenize.STRING:
            for line in range(token.start[0] - 1, token.end[0]):
                ends[line] = token.end[0] - 1
    return ends


def convert_text(
    source: str, module: str | None, resolver: Resolver, limit: int
) -> tuple[str, list[str]]:
    """Return the rewritten text and one "line: old -> new" note per role."""
    classes = class_scopes(source) if module else []
    notes: list[str] = []
    lines = source.splitlines()
    changed: set[int] = set()
    for number, line in enumerate(lines, start=1):
        if not ROLE.search(line):
            continue
        scopes = scopes_at(module, classes, number)

        def sub(match: re.Match[str], scopes: list[str] = scopes, number: int = number) -> str:
            new = replacement(match["role"], match["text"], scopes, resolver)
            notes.append(f"{number}: {match[0]} -> {new}")
            return new

        lines[number - 1] = ROLE.sub(sub, line)
        changed.add(number - 1)
    ends = string_ends(source) if module else {}
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in changed:
            new_lines, used = reflow(lines, i, limit, ends.get(i, len(lines) - 1))
        else:
            new_lines, used = [lines[i]], 1
        out.extend(new_lines)
        i += used
    ending = "\n" if source.endswith("\n") else ""
    return "\n".join(out) + ending, notes


def iter_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".py", ".md")))
        elif path.suffix in (".py", ".md"):
            files.append(path)
    return [f for f in files if ".venv" not in f.parts and f.resolve() != Path(__file__).resolve()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: imbalance_kit)"
    )
    parser.add_argument(
        "--inventory", type=Path, help="a built site's objects.inv (default: build one)"
    )
    parser.add_argument(
        "--check", action="store_true", help="list the roles found and exit 1 if any"
    )
    parser.add_argument("--line-length", type=int, default=LINE_LENGTH)
    args = parser.parse_args(argv)
    files = iter_files(args.paths or [ROOT / "imbalance_kit"])
    if not any(ROLE.search(f.read_text(encoding="utf-8")) for f in files):
        print("no Sphinx roles found")
        return 0
    with tempfile.TemporaryDirectory(prefix="imbalance-kit-site-") as tmp:
        inventory = args.inventory or build_inventory(Path(tmp) / "site")
        resolver = Resolver(read_inventory(inventory))
    total = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        new, notes = convert_text(text, module_name(path.resolve()), resolver, args.line_length)
        if not notes:
            continue
        total += len(notes)
        shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        for note in notes:
            print(f"{shown}:{note}")
        if not args.check:
            path.write_text(new, encoding="utf-8")
    verb = "found" if args.check else "rewrote"
    print(f"{verb} {total} Sphinx role(s)")
    return 1 if args.check and total else 0


if __name__ == "__main__":
    sys.exit(main())
