"""MkDocs hook: pages keep linking to repository files the way they do on GitHub.

docs/*.md link to files outside docs/ (``../benchmarks/results/report/x.png``,
``../core/src/dbplex/hookspecs.py``), which MkDocs cannot serve. This hook copies each such file
into the site under ``_repo/`` and points the link there, so the plots show and the source opens
as text; a link to a directory keeps its text and names the path instead. A link to something
that does not exist is left alone for MkDocs' validation to report (strict mode: an error).

``<!-- dbplex:readme SECTION; SECTION -->`` on a line of its own includes those ``##`` sections of README.md, with
README's links rebased, so getting-started.md shows the quickstart without a copy to drift.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

PREFIX = "_repo"
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
README = re.compile(r"^<!-- dbplex:readme (.+?) -->$", re.M)


def on_files(files: Files, config: Any) -> Files:
    """Add every repository file some page links to."""
    root = Path(config.config_file_path).resolve().parent
    docs = Path(config.docs_dir).resolve()
    wanted: set[str] = set()
    for file in list(files.documentation_pages()):
        text = include_readme(file.content_string, file.src_uri, root, docs)
        for _, _, target in outside_links(text, file.src_uri, root, docs):
            if (root / target).is_file():
                wanted.add(target)
    for target in sorted(wanted):
        files.append(File.generated(config, f"{PREFIX}/{target}", abs_src_path=str(root / target)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    root = Path(config.config_file_path).resolve().parent
    docs = Path(config.docs_dir).resolve()
    markdown = include_readme(markdown, page.file.src_uri, root, docs)
    here = posixpath.dirname(page.file.src_uri)
    pieces: list[str] = []
    position = 0
    for match, original, target in outside_links(markdown, page.file.src_uri, root, docs):
        bang, text, _ = match.groups()
        pieces.append(markdown[position : match.start()])
        anchor = original.partition("#")[2]
        if (root / target).is_file():
            relative = posixpath.relpath(f"{PREFIX}/{target}", here or ".")
            pieces.append(f"{bang}[{text}]({relative}{'#' + anchor if anchor else ''})")
        elif (root / target).is_dir():
            shown = f"`{target.rstrip('/')}/`"
            pieces.append(text if shown in text else f"{text} ({shown} in the repository)")
        else:
            pieces.append(match.group(0))
        position = match.end()
    pieces.append(markdown[position:])
    return "".join(pieces)


def outside_links(text: str, src_uri: str, root: Path, docs: Path) -> list[tuple[re.Match[str], str, str]]:
    """Links of ``text`` (outside code fences) to paths in the repository but outside docs/:
    each with its target as written and as a path from the repository root."""
    fenced = [(match.start(), match.end()) for match in FENCE.finditer(text)]
    found = []
    for match in LINK.finditer(text):
        if any(start <= match.start() < end for start, end in fenced):
            continue
        original = match.group(3)
        path = original.partition("#")[0]
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path) or path.startswith("/"):
            continue
        absolute = Path(os.path.normpath(docs / posixpath.dirname(src_uri) / path))
        if absolute == docs or docs in absolute.parents or root not in absolute.parents:
            continue
        found.append((match, original, absolute.relative_to(root).as_posix()))
    return found


def include_readme(text: str, src_uri: str, root: Path, docs: Path) -> str:
    """``text`` with each README marker replaced by the sections it names, links rebased to the page."""

    def sections(marker: re.Match[str]) -> str:
        readme = (root / "README.md").read_text(encoding="utf-8")
        parts = []
        for title in (part.strip() for part in marker.group(1).split(";")):
            found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
            if found is None:
                raise ValueError(f"{src_uri}: README.md has no section '## {title}'")
            parts.append(rebase(found.group(0).rstrip() + "\n", root, docs / posixpath.dirname(src_uri)))
        return "\n".join(parts)

    return README.sub(sections, text)


def rebase(text: str, root: Path, page_dir: Path) -> str:
    """README's relative links (from the repository root) made relative to ``page_dir``."""

    def move(match: re.Match[str]) -> str:
        bang, label, target = match.groups()
        path, _, anchor = target.partition("#")
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path) or path.startswith("/"):
            return match.group(0)
        moved = os.path.relpath(root / path, page_dir).replace(os.sep, "/")
        return f"{bang}[{label}]({moved}{'#' + anchor if anchor else ''})"

    return LINK.sub(move, text)
