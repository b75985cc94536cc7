"""The library's modules import without cycles: the module-level imports form a DAG, and each
encoders module imports on its own in a fresh interpreter (no order of imports is needed)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fusemix_lite"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, everywhere: bool = False) -> set[str]:
    """Modules of the package imported at module level (not inside functions or classes, unless
    ``everywhere``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not everywhere:
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue  # typing only, never executed
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("fusemix_lite"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if mod.startswith("fusemix_lite"):
                    for a in node.names:  # "from . import x" may name a submodule
                        sub = f"{mod}.{a.name}"
                        out.add(sub if (PKG.parent / (sub.replace(".", "/") + ".py")).exists() else mod)
            for child in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(node, child, []) or [])
            if everywhere and not isinstance(node, (ast.Import, ast.ImportFrom)):
                visit([n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)
                       and not any(n is c for f in ("body", "orelse", "finalbody", "handlers")
                                   for c in (getattr(node, f, []) or []))])

    visit(ast.parse(path.read_text()).body)
    return out - {name}


def _graph() -> dict[str, set[str]]:
    graph = {_module_name(p): _top_level_imports(p) for p in PKG.rglob("*.py")}
    for mod in list(graph):  # importing a.b.c runs a/__init__ and a/b/__init__ first (unless mod is inside them)
        own = {mod.rsplit(".", i)[0] for i in range(1, mod.count(".") + 1)}
        for dep in list(graph[mod]):
            parts = dep.split(".")
            graph[mod].update(p for p in (".".join(parts[:i]) for i in range(2, len(parts)))
                              if p in graph and p not in own)
    return graph


def test_module_level_imports_have_no_cycle():
    graph = _graph()
    assert "fusemix_lite.encoders.registry" in graph and graph["fusemix_lite.encoders.registry"]
    state: dict[str, int] = {}

    def walk(mod, stack):
        state[mod] = 1
        for dep in sorted(graph.get(mod, ())):
            if dep == mod or dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                walk(dep, stack + [dep])
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            walk(mod, [mod])


def test_the_walker_sees_module_level_imports():
    """The walker above sees relative module-level imports (so it could find a cycle)."""
    graph = _graph()
    assert "fusemix_lite.encoders.base" in graph["fusemix_lite.encoders.registry"]
    assert "fusemix_lite.encoders.hub" in graph["fusemix_lite.encoders.whisper"]


def test_encoders_have_no_cycle_even_through_lazy_imports():
    """The encoders used to form a four-file cycle held apart by imports inside functions
    (registry -> hub -> whisper -> hub, hub -> registry): none is left, lazy or not."""
    enc = PKG / "encoders"
    graph = {_module_name(p): {d for d in _top_level_imports(p, everywhere=True) if d.startswith("fusemix_lite.encoders.")}
             for p in enc.glob("*.py") if p.name != "__init__.py"}
    done: set[str] = set()

    def walk(mod, stack):
        for dep in sorted(graph.get(mod, ())):
            if dep in stack:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if dep not in done:
                walk(dep, stack + [dep])
        done.add(mod)

    for mod in sorted(graph):
        walk(mod, [mod])


ENCODER_MODULES = sorted(_module_name(p) for p in (PKG / "encoders").glob("*.py"))


@pytest.mark.parametrize("module", ENCODER_MODULES)
def test_each_encoders_module_imports_alone(module):
    run = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
