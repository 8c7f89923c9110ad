"""The docs stand alone and say what the code does: dependency ranges, links, no outside pointers."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("plugins/*/README.md")])
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
MENTIONED_PAGE = re.compile(r"`([A-Za-z0-9_./-]+\.md)`")


def requirements(pyproject: Path) -> list[str]:
    """The plugin's driver requirements as written (``psycopg-pool>=3.3,<3.4``), without dbplex itself."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [r.replace(" ", "") for r in project["dependencies"] if not r.startswith("dbplex")]


@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
def test_a_backend_page_states_the_driver_ranges_its_package_declares(backend: str) -> None:
    page = (ROOT / "docs" / f"{backend}.md").read_text()
    for requirement in requirements(ROOT / "plugins" / backend / "pyproject.toml"):
        assert f"`{requirement}`" in page, f"docs/{backend}.md does not state `{requirement}`"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_of_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.exists() and ROOT in resolved.parents, f"{page.relative_to(ROOT)} links to {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_page_a_page_names_is_in_the_repository(page: Path) -> None:
    """A page named in code font (`docs/x.md`) must exist here too: the docs stand on their own."""
    for named in MENTIONED_PAGE.findall(page.read_text()):
        assert (ROOT / named).exists() or (page.parent / named).exists(), f"{page.relative_to(ROOT)} names {named}"


def test_the_plugin_guide_lists_every_capability_the_suite_certifies() -> None:
    """docs/plugins.md's capability table is the one list of ``dbplex.testing.capabilities``."""
    from dbplex.testing.capabilities import ALL, HOOK_CAPABILITIES

    page = (ROOT / "docs" / "plugins.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| (flag|the `([a-z_]+)` hook) \|", page, re.MULTILINE)
    assert sorted(name for name, _, _ in rows) == sorted(ALL)
    assert {name: hook for name, _, hook in rows if hook} == {name: name for name in HOOK_CAPABILITIES}


def test_the_asyncio_page_shows_the_fastapi_example_as_it_runs() -> None:
    """docs/asyncio.md holds the code between the snippet markers of examples/fastapi_app.py,
    which tests/aio/test_fastapi_app.py serves requests to."""
    example = (ROOT / "examples" / "fastapi_app.py").read_text()
    code = example.split("# --8<-- [start:app]\n")[1].split("# --8<-- [end:app]")[0].strip()
    assert f"```python\n{code}\n```" in (ROOT / "docs" / "asyncio.md").read_text()
