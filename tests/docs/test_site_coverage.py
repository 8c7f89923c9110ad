"""The documentation site leaves no hook, contract method, CLI command or config field undocumented.

The reference pages are generated when the site builds (mkdocs.yml): the hooks and contracts by
mkdocstrings from the code's docstrings, the CLI by mkdocs-click from the click tree, the
configuration by docs/hooks/config_reference.py from the msgspec Structs. A generator renders
an undocumented item as a bare name, so these tests check what it would be given, without
building the site (``tox -e docs`` does that, strictly): that each item has its text, and that
each reference page asks for every item.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import click
import msgspec.inspect as mi
import pytest

from dbplex.cli.main import cli
from tests.docs.test_contract_signatures import CONTRACTS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CORE = ROOT / "core" / "src"
MKDOCS = ROOT / "mkdocs.yml"


def _hook_module(name: str) -> ModuleType:
    """One of docs/hooks/*.py, imported from its file (they are MkDocs hooks, not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", DOCS / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _directives(page: str) -> list[str]:
    """The objects a page hands to mkdocstrings (``::: dotted.name`` lines)."""
    return re.findall(r"^::: ([\w.]+)\s*$", (DOCS / page).read_text(encoding="utf-8"), re.M)


def test_every_hook_has_a_docstring_and_is_rendered() -> None:
    tree = ast.parse((CORE / "dbplex" / "hookspecs.py").read_text(encoding="utf-8"))
    hooks = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("dbplex_")]
    assert hooks, "hookspecs.py defines no dbplex_* hook"
    undocumented = [hook.name for hook in hooks if not (ast.get_docstring(hook) or "").strip()]
    assert not undocumented, f"hooks without a docstring (the reference would show a bare signature): {undocumented}"
    page = (DOCS / "reference" / "hooks.md").read_text(encoding="utf-8")
    assert "dbplex.hookspecs" in _directives("reference/hooks.md")
    filters = re.search(r"filters: \[(.*)\]", page)
    patterns = re.findall(r'"([^"]+)"', filters.group(1)) if filters else []
    hidden = [hook.name for hook in hooks if patterns and not any(re.search(p, hook.name) for p in patterns)]
    assert not hidden, f"docs/reference/hooks.md filters these hooks out: {hidden}"


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_every_contract_method_has_a_docstring_and_is_rendered(name: str) -> None:
    path = CONTRACTS[name]
    module = ".".join(path.relative_to(CORE).with_suffix("").parts)
    assert f"{module}.{name}" in _directives("reference/contracts.md"), (
        f"docs/reference/contracts.md has no '::: {module}.{name}'"
    )
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name]
    assert (ast.get_docstring(cls) or "").strip(), f"{name} has no docstring"
    methods = [node for node in cls.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]
    undocumented = [method.name for method in methods if not (ast.get_docstring(method) or "").strip()]
    assert not undocumented, f"{name} methods without a docstring: {undocumented}"
    # an attribute's doc is its '#:' comment (docs/hooks/sphinx_style.py), else mkdocstrings omits it
    lines = path.read_text(encoding="utf-8").splitlines()
    attributes = [
        node.target.id
        for node in cls.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and not node.target.id.startswith("_")
        and not lines[node.lineno - 2].strip().startswith("#:")
    ]
    assert not attributes, f"{name} attributes without a '#:' comment above them: {attributes}"


def test_contracts_page_renders_only_known_contracts() -> None:
    """A contract added to the page must also be in CONTRACTS, so its methods are checked here
    and its signatures in docs/plugins.md."""
    shown = {directive.rsplit(".", 1)[1] for directive in _directives("reference/contracts.md")}
    assert shown == set(CONTRACTS)


def _commands(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        context = click.Context(command, info_name=path)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, f"{path} lists {name} but cannot load it"
            found += _commands(sub, f"{path} {name}")
    return found


def test_every_cli_command_and_option_has_help() -> None:
    commands = _commands(cli, "dbplex")
    assert any(path == "dbplex bench run" for path, _ in commands), "the walk missed the lazy subcommands"
    silent = [path for path, command in commands if not (command.help or "").strip()]
    assert not silent, f"commands without help (the CLI reference would show nothing): {silent}"
    bare = [
        f"{path} {param.opts[0]}"
        for path, command in commands
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    ]
    assert not bare, f"options without help: {bare}"


def test_cli_reference_sees_the_lazy_subcommands() -> None:
    """mkdocs-click walks a group's ``commands``: the site's hook must have loaded every lazy one."""
    assert "docs/hooks/cli_commands.py" in MKDOCS.read_text(encoding="utf-8")
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert ":module: dbplex.cli.main" in page and ":command: cli" in page
    _hook_module("cli_commands").load_all(cli)
    for path, command in _commands(cli, "dbplex"):
        if isinstance(command, click.Group):
            listed = set(command.list_commands(click.Context(command)))
            assert listed <= set(command.commands), f"{path}: mkdocs-click would miss {listed - set(command.commands)}"


def test_every_config_field_is_explained() -> None:
    from dbplex.config import Config

    reference = _hook_module("config_reference")
    missing: list[str] = []
    seen: set[type] = set()
    pending: list[type] = [Config]
    while pending:
        struct = pending.pop()
        if struct in seen:
            continue
        seen.add(struct)
        comments = reference.field_comments(struct)
        info = mi.type_info(struct)
        assert isinstance(info, mi.StructType)
        for field in info.fields:
            inner = reference.struct_of(field.type)
            if inner is not None:
                pending.append(inner)
            if field.name not in comments and not (inner is not None and inner.__doc__):
                missing.append(f"{struct.__name__}.{field.name}")
    assert not missing, f"config fields without a '#:' comment (the reference would leave 'meaning' empty): {missing}"
    assert "<!-- dbplex:config-reference -->" in (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")


def test_every_page_is_in_the_nav() -> None:
    """The strict build fails on a page left out of the nav; this says so without building."""
    nav = set(re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", MKDOCS.read_text(encoding="utf-8"), re.M))
    pages = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md") if "hooks" not in page.parts}
    assert not pages - nav, f"pages missing from mkdocs.yml's nav: {sorted(pages - nav)}"
    assert not nav - pages, f"mkdocs.yml's nav names pages that do not exist: {sorted(nav - pages)}"
