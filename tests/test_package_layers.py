"""The package's folders follow its data path: no import circle (imports inside functions and
under TYPE_CHECKING included), and each layer imports only the layers before it."""

from __future__ import annotations

import ast
from pathlib import Path

import lmc_rl

PACKAGE = Path(lmc_rl.__file__).parent

# config -> records -> learners -> training -> measuring -> analysis -> experiment -> sweep ->
# the public API (lmc_rl/__init__.py) -> cli
LAYERS = (
    "config",
    "records",
    "learners",
    "training",
    "measuring",
    "analysis",
    "experiment",
    "sweep",
    "__init__",
    "cli",
    "__main__",
)


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name."""
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_edges(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, wherever the import statement stands."""
    modules = module_names(root)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the module pkg.sub where there is one
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                while target and target not in modules:  # `import a.b.c` names a, a.b, a.b.c
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1] if len(parts) > 1 else "__init__")


def test_the_package_has_no_import_circle() -> None:
    assert circles(import_edges(PACKAGE)) == []


def test_each_layer_imports_only_the_layers_before_it() -> None:
    against = [
        f"{module} -> {target}"
        for module, targets in sorted(import_edges(PACKAGE).items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert against == []


def test_every_folder_says_what_it_holds_and_may_import() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import:" in doc, init
    folders = {init.parent.name for init in PACKAGE.glob("*/__init__.py")}
    files = {path.stem for path in PACKAGE.glob("*.py")}
    assert folders | files == set(LAYERS)


def test_a_circle_under_type_checking_or_in_a_function_is_found(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "a").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("")
    (root / "a" / "one.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import two\n"
    )
    (root / "b.py").write_text("def f():\n    from pkg.a import one\n")
    (root / "c.py").write_text("from . import b\n")
    edges = import_edges(root)
    assert edges["pkg.c"] == {"pkg.b"}
    assert circles(edges) == [["pkg.a.one", "pkg.b"]]
