"""The dependency rule of docs/architecture.md, read from that file and checked on every module.

Parsed with ast (nothing is imported), so a violation anywhere fails here, not only in code the
other tests happen to load: packages and dsp subpackages import only from layers below their
own, nothing imports a private name (`_x`) or a private module of another package or dsp
subpackage, every dsp module lives in a subpackage, and each subpackage has a purpose (its
docstring) and a public surface (`__all__`) that its importers stay within. Tests are exempt
from the private-name rule: a kernel's test may reach into the module it tests.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dsp", "ingest", "stream", "closedloop", "hardware", "console", "vagus")
CHECKED = (*PACKAGES, "bench", "scripts")  # bench and scripts sit outside the layers
PROJECT = (*CHECKED, "tests")

# Imports that still point the wrong way, each until its module moves (docs/architecture.md).
# An entry that no longer occurs fails too, so the list only shrinks.
KNOWN_EXCEPTIONS = {
    ("ingest/importers/inline.py", "stream"),  # pseudonymisation (stream.ids) of imported data
    ("ingest/virtual/haptic_band.py", "hardware"),  # the virtual band speaks the hardware profile
}


@dataclass(frozen=True)
class Import:
    path: str  # importing file, relative to ROOT
    line: int
    module: str  # the project module imported (or imported from)
    names: tuple[str, ...]  # names taken from it (empty for `import a.b`)
    attributes: tuple[str, ...] = ()  # private attributes read off an imported module


def _layers(key: str) -> list[list[str]]:
    """`key: a < b c < d` from docs/architecture.md's fenced block -> [[a], [b, c], [d]]."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    match = re.search(rf"^{key}: (.+)$", text, re.MULTILINE)
    assert match, f"docs/architecture.md has no '{key}:' line of layers"
    return [layer.split() for layer in match.group(1).split(" < ")]


def _rank(layers: list[list[str]]) -> dict[str, int]:
    return {name: i for i, layer in enumerate(layers) for name in layer}


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _files(tops: tuple[str, ...]) -> Iterator[Path]:
    for top in tops:
        yield from sorted((ROOT / top).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[Import]:
    """Every import of a project module in one file, relative ones resolved."""
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(), filename=rel)
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    aliases: dict[str, str] = {}  # local name -> project module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT:
                    yield Import(rel, node.lineno, alias.name, ())
                    local = alias.asname or alias.name.split(".")[0]
                    aliases[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            module = _resolved(node, package)
            if module.split(".")[0] in PROJECT:
                yield Import(rel, node.lineno, module, tuple(a.name for a in node.names))
                for alias in node.names:
                    if _is_module(f"{module}.{alias.name}"):
                        aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
    yield from _private_attributes(rel, tree, aliases)


def _resolved(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _private_attributes(rel: str, tree: ast.AST, aliases: dict[str, str]) -> Iterator[Import]:
    """module._private, read through any name bound to a project module."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        chain: list[str] = []
        value = node.value
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in aliases:
            target = ".".join([aliases[value.id], *chain])
            if _is_module(target):
                yield Import(rel, node.lineno, target, (), (node.attr,))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _unit(module: str) -> str:
    """What privacy is judged by: a top-level package, or a dsp subpackage."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "dsp" and len(parts) > 1 else parts[0]


def _dsp_subpackages() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "dsp").glob("*/__init__.py"))


def test_every_package_and_dsp_subpackage_has_a_layer() -> None:
    assert sorted(_rank(_layers("packages"))) == sorted(PACKAGES)
    missing = set(_dsp_subpackages()) - set(_rank(_layers("dsp")))
    assert not missing, f"dsp subpackages without a layer in docs/architecture.md: {missing}"


def test_dsp_modules_live_in_subpackages() -> None:
    flat = sorted(p.name for p in (ROOT / "dsp").glob("*.py") if p.name != "__init__.py")
    assert not flat, f"modules directly in dsp/, outside any subpackage: {flat}"
    assert len(_dsp_subpackages()) >= 4


def test_packages_import_only_from_lower_layers() -> None:
    rank = _rank(_layers("packages"))
    found, wrong = set(), []
    for path in _files(PACKAGES):
        for imp in _imports(path):
            mine, theirs = imp.path.split("/")[0], imp.module.split(".")[0]
            if theirs == mine:
                continue
            if theirs not in rank or rank[theirs] >= rank[mine]:
                if (imp.path, theirs) in KNOWN_EXCEPTIONS:
                    found.add((imp.path, theirs))
                else:
                    wrong.append(f"{imp.path}:{imp.line} imports {imp.module}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)
    assert found == KNOWN_EXCEPTIONS, f"exceptions that no longer occur: {KNOWN_EXCEPTIONS - found}"


def test_dsp_subpackages_import_only_from_lower_layers() -> None:
    rank = _rank(_layers("dsp"))
    wrong = []
    for path in _files(("dsp",)):
        parts = path.relative_to(ROOT / "dsp").parts
        for imp in _imports(path):
            theirs = imp.module.split(".")
            if theirs[0] != "dsp":  # the package layers hold imports of other packages
                continue
            if len(parts) == 1:  # dsp/__init__.py: the namespace imports nothing of the project
                wrong.append(f"{imp.path}:{imp.line} imports {imp.module}")
            elif len(theirs) < 2:
                wrong.append(f"{imp.path}:{imp.line} imports {imp.module} (name a subpackage)")
            elif theirs[1] != parts[0] and rank.get(theirs[1], 1 << 30) >= rank.get(parts[0], 0):
                wrong.append(f"{imp.path}:{imp.line} imports {imp.module}")
    assert not wrong, "dsp imports against the layers:\n" + "\n".join(wrong)


def test_no_private_names_across_packages() -> None:
    wrong = []
    for path in _files(CHECKED):
        mine = _unit(_module_name(path))
        for imp in _imports(path):
            if _unit(imp.module) == mine:
                continue
            private = [n for n in (*imp.names, *imp.attributes) if _private(n)]
            private += [p for p in imp.module.split(".") if _private(p)]
            if private:
                wrong.append(f"{imp.path}:{imp.line} takes {', '.join(private)} of {imp.module}")
    assert not wrong, "private names used across packages:\n" + "\n".join(wrong)


def _declared_all(init: Path) -> tuple[list[str], set[str]]:
    """(the literal __all__, the names the __init__ binds) of a subpackage's __init__.py."""
    tree = ast.parse(init.read_text())
    bound: set[str] = set()
    declared: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            bound.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            declared = ast.literal_eval(node.value)
    assert ast.get_docstring(tree), f"{init.relative_to(ROOT)} does not say what it is for"
    assert declared is not None, f"{init.relative_to(ROOT)} has no __all__"
    return declared, bound


@pytest.mark.parametrize("sub", _dsp_subpackages())
def test_dsp_subpackage_states_its_public_surface(sub: str) -> None:
    declared, bound = _declared_all(ROOT / "dsp" / sub / "__init__.py")
    assert len(declared) == len(set(declared)), "names listed twice in __all__"
    assert set(declared) <= bound, f"__all__ names nothing binds: {set(declared) - bound}"
    assert not [n for n in declared if _private(n)]


def test_importers_stay_within_a_subpackage_surface() -> None:
    surfaces = {
        s: set(_declared_all(ROOT / "dsp" / s / "__init__.py")[0]) for s in _dsp_subpackages()
    }
    wrong = []
    for path in _files(CHECKED):
        mine = _unit(_module_name(path))
        for imp in _imports(path):
            parts = imp.module.split(".")
            if parts[0] != "dsp" or len(parts) != 2 or _unit(imp.module) == mine:
                continue
            outside = [
                n
                for n in imp.names
                if n not in surfaces.get(parts[1], set()) and not _is_module(f"{imp.module}.{n}")
            ]
            if outside:
                wrong.append(f"{imp.path}:{imp.line} takes {', '.join(outside)} of {imp.module}")
    assert not wrong, "names taken from a dsp subpackage but not in its __all__:\n" + "\n".join(
        wrong
    )
