"""The package's layering, read from its source (nothing is imported): no import cycle among the
modules' module-level imports, `io` (the bottom layer) imports no stage package (only leaf
modules), no module uses another module's private names, and a function imports a module of the
package (outside the CLI) only with a comment saying which heavy dependency that defers."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "cifarflow"
STAGES = ("cifarflow.data", "cifarflow.nn", "cifarflow.training", "cifarflow.report")


def _module_name(path: Path) -> str:
    parts = ["cifarflow", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of what `from <node.module> import ...` (relative or not) names in `module`."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if _is_package(module) else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, nodes) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) of each import statement among `nodes`
    (`from x import y` names x.y when y is a module of the package)."""
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = [alias.name for alias in node.names]
            modules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            out += [(m, [], node.lineno) for m in modules]
            rest = [n for n in names if f"{target}.{n}" not in MODULES]
            if rest or not modules:
                out.append((target, rest, node.lineno))
    return [(m, names, line) for m, names, line in out if m == "cifarflow" or m.startswith("cifarflow.")]


def _module_level(tree: ast.Module):
    """The statements run when the module is imported: its body, into if/try blocks, not into
    functions or classes."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                stack += getattr(node, field, [])
        elif isinstance(node, ast.ExceptHandler):
            stack += node.body


TREES = {m: ast.parse(p.read_text(encoding="utf-8")) for m, p in MODULES.items()}


def _graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs: each imported module and the packages above it
    (importing cifarflow.config.names runs cifarflow/config/__init__.py first), except the packages
    the importer is inside of (they are already being imported)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, tree in TREES.items():
        inside = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
        for target, _, _ in _imports(module, _module_level(tree)):
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                name = ".".join(parts[:i])
                if name in MODULES and name not in inside and name != module:
                    graph[module].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_cycles_and_runs_the_packages_above_an_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert {"cifarflow.config", "cifarflow.config.variants"} <= _graph()["cifarflow.config.searches"] | {
        "cifarflow.config"
    }
    assert "cifarflow.training" in _graph()["cifarflow.config.searches"]


def test_no_import_cycle_among_module_level_imports():
    assert _cycles(_graph()) == []


# Modules that import nothing of the package but `errors`, so that any module may import them.
LEAVES = ("cifarflow.errors", "cifarflow.names", "cifarflow.nn.registry", "cifarflow.schema")


@pytest.mark.parametrize("module", LEAVES)
def test_a_leaf_imports_nothing_of_the_package_but_errors(module):
    assert {t for t, _, _ in _imports(module, ast.walk(TREES[module]))} <= {"cifarflow.errors"}


def test_io_imports_no_stage_package_only_leaves():
    found = [
        f"io.py:{line} imports {target}"
        for target, _, line in _imports("cifarflow.io", ast.walk(TREES["cifarflow.io"]))
        if target.startswith(STAGES) and target not in LEAVES
    ]
    assert found == []


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(module: str, tree: ast.Module) -> list[str]:
    """`from x import _name` and `alias._name` (alias a module of the package) in `module`,
    x another module of the package."""
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            target = _resolve(module, node) if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                name = f"{target}.{alias.name}" if target is not None else alias.name
                if name in MODULES:
                    aliases[alias.asname or alias.name] = name
                elif target in MODULES and target != module and _is_private(alias.name):
                    found.append(f"{module}:{node.lineno} imports {alias.name} from {target}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and aliases.get(node.value.id, module) != module
            and _is_private(node.attr)
        ):
            found.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr} of {aliases[node.value.id]}")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_uses_another_modules_private_names(module):
    assert _private_uses(module, TREES[module]) == []


def _local_project_imports(module: str, tree: ast.Module, lines: list[str]) -> list[str]:
    """Imports of a module of the package inside a function of `module` whose line has no comment
    (the comment says which heavy dependency the import defers)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)) and _imports(module, [sub]):
                    if "#" not in lines[sub.lineno - 1]:
                        found.append(f"{module}:{sub.lineno} {lines[sub.lineno - 1].strip()}")
    return found


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "cifarflow.cli"))
def test_a_function_imports_a_module_of_the_package_only_to_defer_a_named_dependency(module):
    lines = MODULES[module].read_text(encoding="utf-8").splitlines()
    assert _local_project_imports(module, TREES[module], lines) == []
