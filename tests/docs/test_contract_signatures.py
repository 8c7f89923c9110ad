"""docs/plugins.md states every hook and contract method with the signature the code has.

A third-party author implements the contracts from that page alone, so a signature there that
differs from the code, or a method the page leaves out, is a bug in the documentation. The page
writes signatures as bare ``def`` lines (no colon, no body) in Python blocks: at the top level for
the hooks, under ``class NAME(Protocol):`` for a contract's methods.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "plugins.md"
CORE = ROOT / "core" / "src" / "dbplex"

#: every contract a plugin implements, by where the code defines it.
CONTRACTS = {
    "Pool": CORE / "pool.py",
    "Connector": CORE / "pooling" / "connector.py",
    "Migrator": CORE / "migrate" / "backend.py",
    "Lock": CORE / "migrate" / "locking.py",
    "Partitioner": CORE / "partition" / "backend.py",
    "Listing": CORE / "partition" / "backend.py",
    "HashRouting": CORE / "partition" / "backend.py",
    "AsyncPartitionReader": CORE / "partition" / "backend.py",
    "Baseline": CORE / "bench" / "baseline.py",
    "Analyzer": CORE / "analyze" / "model.py",
    "SlowLog": CORE / "slowlog" / "model.py",
    "Checker": CORE / "check" / "backend.py",
    "Describer": CORE / "schema" / "model.py",
    "ChangeFeed": CORE / "changes" / "feed.py",
    "AsyncChangeFeed": CORE / "changes" / "feed.py",
}

HOOKS = "hooks"


def _signature(function: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> str:
    """``name(params) -> returns`` as ``ast.unparse`` spells it, without ``self``; ``async`` first
    for a coroutine function."""
    args = function.args
    if method and args.posonlyargs:
        args.posonlyargs = args.posonlyargs[1:]
    elif method and args.args:
        args.args = args.args[1:]
    returns = f" -> {ast.unparse(function.returns)}" if function.returns is not None else ""
    coroutine = "async " if isinstance(function, ast.AsyncFunctionDef) else ""
    return f"{coroutine}{function.name}({ast.unparse(args)}){returns}"


def _public_methods(cls: ast.ClassDef) -> dict[str, str]:
    return {
        node.name: _signature(node, method=True)
        for node in cls.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")
    }


def code_signatures() -> dict[str, dict[str, str]]:
    """Signatures in the code: the hookspecs under ``"hooks"``, each contract's methods under its name."""
    found: dict[str, dict[str, str]] = {}
    hookspecs = ast.parse((CORE / "hookspecs.py").read_text(encoding="utf-8"))
    found[HOOKS] = {
        node.name: _signature(node, method=False)
        for node in hookspecs.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("dbplex_")
    }
    for name, path in CONTRACTS.items():
        module = ast.parse(path.read_text(encoding="utf-8"))
        classes = [node for node in module.body if isinstance(node, ast.ClassDef) and node.name == name]
        assert classes, f"{path.relative_to(ROOT)} defines no class {name}: update CONTRACTS in this test"
        found[name] = _public_methods(classes[0])
    return found


def documented_signatures() -> dict[str, dict[str, str]]:
    """Bare ``def`` lines of the page's Python blocks, by the class block they sit in (``"hooks"`` at top level)."""
    found: dict[str, dict[str, str]] = {}
    for block in re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL):
        owner = HOOKS
        for line in block.splitlines():
            code = line.split("#", 1)[0].rstrip()
            heading = re.match(r"class (\w+)\(", code)
            if heading:
                owner = heading.group(1)
            elif code.strip().startswith(("def ", "async def ")) and not code.endswith(":"):
                if not code.startswith(" "):
                    owner = HOOKS
                function = ast.parse(code.strip() + ": ...").body[0]
                assert isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                found.setdefault(owner, {})[function.name] = _signature(function, method=owner != HOOKS)
    return found


def test_every_hook_and_contract_method_is_documented_as_the_code_declares_it() -> None:
    code, documented = code_signatures(), documented_signatures()
    wrong = []
    for owner, methods in code.items():
        for name, signature in methods.items():
            stated = documented.get(owner, {}).get(name)
            if stated != signature:
                where = "the hooks block" if owner == HOOKS else f"class {owner}"
                wrong.append(f"{where}: code has `{signature}`, docs/plugins.md has `{stated}`")
    assert not wrong, "\n".join(wrong)


def test_the_page_documents_no_hook_or_method_the_code_lacks() -> None:
    code, documented = code_signatures(), documented_signatures()
    stale = [
        f"{owner}.{name}"
        for owner, methods in documented.items()
        if owner in code
        for name in methods
        if name not in code[owner]
    ]
    assert not stale, f"docs/plugins.md documents what the code no longer has: {stale}"


@pytest.mark.parametrize("owner", sorted(CONTRACTS))
def test_each_contract_has_a_block_on_the_page(owner: str) -> None:
    assert owner in documented_signatures(), f"docs/plugins.md has no ```python block with `class {owner}(Protocol):`"
