#!/usr/bin/env python3
"""Every relative link in the project's Markdown points at a file that exists
and, with a #fragment, at a heading of that file (GitHub's anchor rules), and
every section cited by name after a file (`learning.md, "Mixing"` or
`[learning.md](learning.md), "Mixing", "Bandwidth"`) begins a heading or a
bold paragraph lead (`**Mixing.**`) of that file. So a renamed section or a
moved file fails the suite instead of a reader's search.

usage: links.py REPO_ROOT      exit 0 all good, 1 broken links (listed)
       links.py --self-test    the checker on planted good and broken links
"""
import re
import sys
import unicodedata
from pathlib import Path

LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
# A file name, then one or more quoted section names: `x.md, "A", and "B"`.
CITATION = re.compile(r"([\w./-]+\.md)\)?((?:,\s*(?:and\s+)?\"[^\"]+\")+)")
BOLD_LEAD = re.compile(r"^\s*(?:[-*]\s+)?\*\*(.+?)\*\*")


def slug(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link keeps its text
    text = text.lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in " -_" or cat[0] in "LN" or cat == "Mn":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def lines_outside_code(path: Path):
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, line


def anchors(path: Path, cache={}):
    if path not in cache:
        seen = {}
        found = set()
        for _, line in lines_outside_code(path):
            for name in HTML_ANCHOR.findall(line):
                found.add(name)
            match = HEADING.match(line)
            if not match:
                continue
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        cache[path] = found
    return cache[path]


def flat(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def section_titles(path: Path, cache={}):
    """Headings and bold paragraph leads, backticks dropped, spaces folded."""
    if path not in cache:
        titles = []
        for _, line in lines_outside_code(path):
            match = HEADING.match(line) or BOLD_LEAD.match(line)
            if match:
                titles.append(flat(match.group(match.lastindex)))
        cache[path] = titles
    return cache[path]


def cited_file(root: Path, doc: Path, name: str):
    for base in (doc.parent, root, root / "docs"):
        if (base / name).is_file():
            return (base / name).resolve()
    return None  # e.g. DESIGN.md, which lives outside the repository


def check_citations(root: Path, doc: Path):
    text = doc.read_text(encoding="utf-8")
    for match in CITATION.finditer(text):
        target = cited_file(root, doc, match.group(1))
        if target is None:
            continue
        number = text.count("\n", 0, match.start()) + 1
        for title in re.findall(r'"([^"]+)"', match.group(2)):
            wanted = flat(title)
            if not any(t.startswith(wanted) for t in section_titles(target)):
                yield (f"{doc.relative_to(root)}:{number}: {match.group(1)}, \"{wanted}\": "
                       "no heading or bold lead of that file begins so")


def markdown_files(root: Path):
    skip = {"build", ".git", "node_modules"}
    for path in sorted(root.rglob("*.md")):
        parts = set(path.relative_to(root).parts)
        if parts & skip or any(p.startswith("build") or p.startswith(".") for p in parts):
            continue
        yield path


def check(root: Path):
    broken = []
    for doc in markdown_files(root):
        for number, line in lines_outside_code(doc):
            line = re.sub(r"`[^`]*`", "", line)  # links inside inline code are text
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto: ...
                    continue
                file_part, _, fragment = target.partition("#")
                where = doc if not file_part else (doc.parent / file_part)
                place = f"{doc.relative_to(root)}:{number}: {target}"
                if not where.exists():
                    broken.append(f"{place}: no such file")
                    continue
                if fragment and where.suffix == ".md" and fragment not in anchors(where.resolve()):
                    broken.append(f"{place}: no heading makes the anchor #{fragment}")
        broken.extend(check_citations(root, doc))
    return broken


def self_test():
    """The checker itself: it must pass near misses and catch each kind of break."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "docs").mkdir()
        (root / "docs" / "a.md").write_text(
            "# A\n\n## When a peer gossips (issue 13)\n\n## Mixing\n\n## Mixing\n\n"
            "**Pairwise mixing** (`--mixing pairwise`) pairs.\n\n```\n# not a heading\n```\n")
        good = ("[a](docs/a.md#when-a-peer-gossips-issue-13) [b](docs/a.md#mixing-1) [c](docs/a.md)\n"
                "([a.md](docs/a.md), \"When a peer gossips\", \"Pairwise mixing\")\n"
                "docs/a.md, \"Mixing\" and DESIGN.md, \"Anything\" and `[x](nowhere.md)`\n"
                "[web](https://example.org/x.md#y)\n")
        (root / "README.md").write_text(good)
        if check(root):
            print("self-test: near misses reported as broken:", *check(root), sep="\n  ")
            return 1
        breaks = {
            "[x](docs/b.md)": "no such file",
            "[x](docs/a.md#mixing-2)": "anchor",
            "[x](docs/a.md#not-a-heading)": "anchor",
            "docs/a.md, \"Stale rounds\"": "begins so",
            "[a.md](docs/a.md), \"Mixing\", \"Bandwidth\"": "begins so",
        }
        for text, reason in breaks.items():
            (root / "README.md").write_text(good + text + "\n")
            found = check(root)
            if len(found) != 1 or reason not in found[0]:
                print(f"self-test: {text!r} gave {found}, expected one report with {reason!r}")
                return 1
    print("self-test: near misses pass, every planted break is reported")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = Path(sys.argv[1]).resolve()
    broken = check(root)
    for item in broken:
        print(item)
    print(f"{len(broken)} broken link(s)" if broken else "every relative link resolves")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
