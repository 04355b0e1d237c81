"""The layout of unrolled/ holds: no import circle between its modules (lazy imports included), the networks import
no other room, and no module of the packages is over 400 lines."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports() -> dict[str, set[str]]:
    """Module -> the unrolled modules it imports anywhere in its body, lazy imports included (``from . import x``
    counts as x when x is a module). ``importlib.import_module`` calls are not seen: only the deprecation layer
    ``unrolled/_moved.py`` and the lazy names of ``unrolled/fast/__init__.py`` use them."""
    files = {}
    for f in (ROOT / "unrolled").rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {}
    for name, f in files.items():
        package = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                subs = {f"{target}.{a.name}" for a in node.names} & set(files)
                deps |= subs  # ``from pkg import module``: that module; ``from pkg import name``: pkg itself
                if len(subs) < len(node.names) and target in files:
                    deps.add(target)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in files}
        graph[name] = deps - {name}
    return graph


def test_no_import_circle_in_unrolled():
    graph = _imports()
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError(" -> ".join(path + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_networks_import_no_other_room():
    graph = _imports()
    for name, deps in graph.items():
        if name.startswith("unrolled.nets"):
            assert all(d.startswith("unrolled.nets") for d in deps), (name, deps)


def test_no_module_is_over_400_lines():
    long = {str(f.relative_to(ROOT)): n for pkg in ("solvers", "unrolled", "llrr", "benchmarks")
            for f in (ROOT / pkg).rglob("*.py") if (n := len(f.read_text().splitlines())) > 400}
    assert not long, long
