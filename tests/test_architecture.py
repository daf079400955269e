"""The package's shape, as docs/architecture.md draws it: the library never imports the CLI, and no two
top-level parts of lvmgate import each other (function-level imports count: they are imports too)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import lvmgate

ROOT = Path(lvmgate.__file__).parent

# docs/architecture.md's map: a part may import its own layer (without cycles) and the layers below.
LAYERS = {
    "foundation": {
        "errors",
        "tmd",
        "io",
        "results",
        "criteria",
        "stats",
        "policy",
        "sentences",
        "gate",
        "lazy",
    },
    "report": {"report"},
    "data": {"corpus", "encoders", "stores", "synth", "decoders", "sequences"},
    "model": {"lvm", "metrics", "training"},
    "sections": {
        *("validation", "baseline", "compare", "arithmetic", "grid"),
        *("retrieval", "analysis", "deploy", "readiness"),
    },
    "gates": {"artifacts", "sources", "testing"},
    "entry": {"pytest_plugin", "cli", "__main__"},
}
RANK = {part: i for i, parts in enumerate(LAYERS.values()) for part in parts}


def _imports(path: Path) -> set[str]:
    """Every lvmgate module `path` imports, anywhere in the file, as dotted names."""
    mod = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m == "lvmgate" or m.startswith("lvmgate.")}


def _part(module: str) -> str | None:
    """The top-level part of lvmgate a module belongs to: `lvmgate.lvm.load` -> `lvm`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        src = _part(".".join(path.relative_to(ROOT.parent).with_suffix("").parts))
        if src is None or src == "__init__":
            continue
        for target in _imports(path):
            dst = _part(target)
            if dst and dst != src and ((ROOT / dst).is_dir() or (ROOT / f"{dst}.py").is_file()):
                edges[src].add(dst)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_the_library_never_imports_the_cli():
    offenders = sorted(
        str(p.relative_to(ROOT.parent))
        for p in ROOT.rglob("*.py")
        if p.parent.name != "cli"
        and p.name != "__main__.py"
        and any(m.startswith("lvmgate.cli") for m in _imports(p))
    )
    assert offenders == []


def test_no_two_parts_of_the_package_import_each_other():
    assert _cycles(_graph()) == []


def test_every_part_has_a_layer_and_imports_only_its_own_or_lower_layers():
    parts = {p.stem if p.is_file() else p.name for p in ROOT.iterdir() if (p.suffix == ".py" or p.is_dir())}
    parts -= {"__init__", "__pycache__", "templates"}
    assert parts - set(RANK) == set(), "place the new part in LAYERS and docs/architecture.md"
    upward = sorted(f"{a} -> {b}" for a, targets in _graph().items() for b in targets if RANK[b] > RANK[a])
    assert upward == []


def test_the_cycle_finder_finds_a_cycle():  # the check above could not fail if this did not hold
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_imports_are_read_from_function_bodies_too():
    assert "lvmgate.cli" in _imports(ROOT / "__main__.py")
    assert "lvmgate.lvm.checkpoint" in _imports(ROOT / "lvm" / "load.py")  # imported inside a function
