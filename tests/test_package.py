"""The package as a whole: importing it is cheap and side-effect free, and its modules import
one another without a circle."""

import ast
import subprocess
import sys
from pathlib import Path

import lmc_rl

PACKAGE = Path(lmc_rl.__file__).parent


def _fresh(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_the_package_imports_nothing_heavy_and_tunes_nothing():
    out = _fresh(
        "import sys, lmc_rl\n"
        "heavy = ['torch', 'gymnasium', 'mujoco', 'matplotlib', 'pandas',"
        " 'lmc_rl.learners.allocator']\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    assert out == ""


def test_the_command_line_parser_imports_no_torch():
    """``lmc-rl --help`` and a flag error answer without loading torch or gymnasium."""
    out = _fresh(
        "import sys, lmc_rl.cli\n"
        "lmc_rl.cli.build_parser()\n"
        "print(','.join(m for m in ['torch', 'gymnasium'] if m in sys.modules))"
    )
    assert out == ""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere (functions included), except under
    ``if TYPE_CHECKING``."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)

    def visit(node: ast.AST) -> None:
        if _is_type_checking_block(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1]])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    found.add(f"{base}.{alias.name}")
                elif base in modules:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(_module_name(path))
    return found


def test_the_package_import_graph_has_no_circle():
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in files}
    graph = {_module_name(p): _imports(p, modules) for p in files}
    # a package's __init__ re-exporting its submodules is how Python packages work, not a circle
    for name in modules:
        graph[name] -= {p for p in modules if name.startswith(p + ".")}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circle = path[path.index(target) :] + [target]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(_module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
    code = "import importlib\n" + "".join(f"importlib.import_module({n!r})\n" for n in names)
    _fresh(code)
