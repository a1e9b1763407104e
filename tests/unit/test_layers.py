"""The folders show the layers (docs/api.md, "Layers"): each module imports only layers below it.

Every import in every module under host/tpmcard counts, including those inside functions and
under ``TYPE_CHECKING``: a lazy import upwards is still an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import tpmcard

PACKAGE = Path(tpmcard.__file__).parent

#: (layer, rank, module prefixes). A module may import its own layer's modules and any layer of
#: a lower rank; layers of one rank (channel and tpm; services and sim) may not import each other.
LAYERS: list[tuple[str, int, tuple[str, ...]]] = [
    (
        "base",
        0,
        (
            "tpmcard.constants",
            "tpmcard.ecpoint",
            "tpmcard.errors",
            "tpmcard.lifetime",
            "tpmcard.manifest",
            "tpmcard.paths",
            "tpmcard.sw",
            "tpmcard.tlv",
            "tpmcard.tpm_structures",
        ),
    ),
    ("transport", 1, ("tpmcard.transport",)),
    ("apdu", 2, ("tpmcard.apdu",)),
    ("channel", 3, ("tpmcard.channel",)),
    ("tpm", 3, ("tpmcard.tpm",)),
    ("services", 4, ("tpmcard.services",)),
    ("sim", 4, ("tpmcard.sim",)),
    ("api", 5, ()),  # the package itself: `import tpmcard` (connect, pair, open_card, errors)
    ("bench", 5, ("tpmcard.bench",)),
    ("cli", 6, ("tpmcard.cli",)),
]


def layer_of(module: str) -> tuple[str, int]:
    if module == "tpmcard":
        return "api", 5
    for name, rank, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name, rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/api.md")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    root = PACKAGE.parent
    return (root / relative).with_suffix(".py").exists() or (root / relative).is_dir()


def imports_of(path: Path) -> set[str]:
    """The tpmcard modules ``path`` imports (``from tpmcard import x`` counts as tpmcard.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tpmcard"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("tpmcard"):
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if is_module(candidate) else node.module)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    for path in SOURCES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_only_downwards(path: Path) -> None:
    importer = module_name(path)
    layer, rank = layer_of(importer)
    wrong = []
    for imported in sorted(imports_of(path)):
        other, other_rank = layer_of(imported)
        if other != layer and other_rank >= rank:
            wrong.append(f"{imported} ({other})")
    assert not wrong, f"{importer} ({layer}) imports upwards or sideways: {', '.join(wrong)}"


def test_the_check_sees_a_sideways_import(tmp_path: Path) -> None:
    # The test above can fail: channel -> tpm is sideways, apdu -> channel upwards.
    source = tmp_path / "m.py"
    source.write_text(
        "def f():\n    from tpmcard.tpm.adapter import Tpm\n    from tpmcard import channel\n"
    )
    assert imports_of(source) == {"tpmcard.tpm.adapter", "tpmcard.channel"}
    assert layer_of("tpmcard.tpm.adapter") == ("tpm", 3)
    assert layer_of("tpmcard.channel") == ("channel", 3)


def import_cycles() -> list[set[str]]:
    """Strongly connected groups of modules in the import graph (every import counts)."""
    graph = {module_name(p): imports_of(p) - {"tpmcard"} for p in SOURCES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            while w not in graph and "." in w:  # tpmcard.x.Name: the module tpmcard.x
                w = w.rsplit(".", 1)[0]
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(group)

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles_but_the_cli_registering_its_commands() -> None:
    # tpmcard.cli imports its command modules at its end so that they register on the group
    # they import from it (click's pattern); no other modules import each other, even lazily.
    for group in import_cycles():
        assert all(m == "tpmcard.cli" or m.startswith("tpmcard.cli.") for m in group), group
