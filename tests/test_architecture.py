"""The package's shape: the torch-free face of the engine, no import circles, nothing shipped imports tests/.

The face is every module at the top level of `ldm_studio/engine/` plus the `metadata/` and `grids/`
packages: what the GUI may import at module level. Everything that needs torch lives in a subpackage
(checkpoints/, sampling/, pipelines/, runtime/, nets/) and the GUI reaches it only inside functions, when a
job runs.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import ldm_studio
import ldm_studio.engine
import ldm_studio.engine.metadata

PACKAGE_DIR = Path(ldm_studio.__file__).parent
FACE_PACKAGES = ("ldm_studio.engine.metadata", "ldm_studio.engine.grids")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def face_modules() -> list[str]:
    top = [
        f"ldm_studio.engine.{m.name}" for m in pkgutil.iter_modules(ldm_studio.engine.__path__) if not m.ispkg
    ]
    nested = [name for name in MODULES for pkg in FACE_PACKAGES if name == pkg or name.startswith(pkg + ".")]
    return ["ldm_studio.engine", *top, *nested]


def _run_at_import(node: ast.AST):
    """The statements that run when the module is imported: all but function bodies (TYPE_CHECKING counts)."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield child
            yield from _run_at_import(child)


def _imports(path: Path, *, module_level_only: bool) -> list[str]:
    """Absolute names of the modules `path` imports (a `from X import Y` of a submodule counts as X.Y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = list(_run_at_import(tree)) if module_level_only else list(ast.walk(tree))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                names.append(sub if sub in MODULES else base)
    return names


def import_graph(*, module_level_only: bool = False) -> dict[str, set[str]]:
    return {
        name: {m for m in _imports(path, module_level_only=module_level_only) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in `graph` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_engine_top_level_stays_small():
    top = [m.name for m in pkgutil.iter_modules(ldm_studio.engine.__path__) if not m.ispkg]
    assert "requests" in top
    assert len(top) <= 10, top


def test_every_subpackage_says_what_lives_there():
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name.count(".") >= 2:
            assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"{name} has no docstring"


def test_importing_the_torch_free_face_and_all_of_the_gui_does_not_import_torch():
    gui = [name for name in MODULES if name == "ldm_studio.gui" or name.startswith("ldm_studio.gui.")]
    modules = face_modules() + gui
    assert "ldm_studio.engine.requests" in modules and "ldm_studio.gui.main_window" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch')\n"
        "assert not bad, bad[:5]\n"
    )
    # A fresh interpreter: this test process has torch loaded already.
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_gui_imports_only_the_engine_face_at_module_level():
    face = set(face_modules())
    graph = import_graph(module_level_only=True)
    offenders = {
        name: sorted(m for m in deps if m.startswith("ldm_studio.engine") and m not in face)
        for name, deps in graph.items()
        if name.startswith("ldm_studio.gui")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_face_imports_no_torch_module_at_module_level():
    face = set(face_modules())
    for name in face:
        top_levels = {m.split(".")[0] for m in _imports(MODULES[name], module_level_only=True)}
        assert "torch" not in top_levels, name


def test_no_import_circle_among_package_modules():
    # Every import counts, those inside functions too: a circle closed by a deferred import is
    # still two modules that cannot be understood (or moved) one without the other.
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_the_circle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_never_imports_tests():
    offenders = sorted(
        name
        for name, path in MODULES.items()
        if any(m.split(".")[0] == "tests" for m in _imports(path, module_level_only=False))
    )
    assert offenders == []
