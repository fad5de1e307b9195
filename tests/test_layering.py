"""Layering of ``src/hexlake``, checked on the import statements (ast, nothing is imported).

A *stage* is a package directly under ``hexlake`` (``collect``, ``gate``, ``warehouse``…). Rules:

1. No import cycle between stages. Edge modules (HTTP routers, CLI apps, operations, background
   service factories: ``ADAPTERS``; whole-system operations: ``ORCHESTRATORS``) wire stages together
   and may import any stage, so they are left out of the stage graph; imports under
   ``if TYPE_CHECKING:`` do not count; imports inside functions do (a hidden cycle is still a cycle).
   A stage that holds two layers (``PRIMITIVES``: privacy's hashing vs. its erase/export over every
   layer) is two nodes.
2. No stage imports another stage's ``backends`` package: backends are picked by their own stage
   (``open_log``, ``open_warehouse``…) and used through its protocol.
3. ``collect`` does not import ``serve`` (apart from its HTTP routers, which use serve's auth).

``KNOWN_EXCEPTIONS`` lists the edges still to be removed, each with why; a new one fails the test.
The checker is tested on a synthetic tree with a planted violation of each rule.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hexlake"
ADAPTERS = {"api", "cli", "operations", "service", "posthog", "segment"}
#: Whole-system operations that live in a stage folder but, like ``operations.py``, call many stages.
ORCHESTRATORS = {
    "hexlake.ops.doctor": "checks every stage's files and the running server (``hexlake doctor``)",
}
#: Stages that are two layers in one folder: primitives the other stages build on (the gate hashes
#: with ``privacy.hashing``) and operations over every layer (erase, export, retention, proof scan).
#: Modules not named here form the node ``<stage>.operations``, which may use any stage.
PRIMITIVES = {
    "privacy": {"config", "crypto", "detect", "geoip", "hashing", "secret", "suppression"},
}
#: (importing module, imported module prefix) -> why it is tolerated for now.
KNOWN_EXCEPTIONS = {
    ("hexlake.collect.sources", "hexlake.serve.principal"):
        "key kinds/scopes live in serve.principal while serve.auth reads collect's keystore; "
        "move Principal and the rate limiter next to the keystore to resolve",
    ("hexlake.collect.sources", "hexlake.serve.ratelimit"): "as above",
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or module.name)
    line: int


def module_name(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")


def imports_of(source: str, module: str) -> Iterator[Import]:
    """Absolute imports of ``hexlake`` in ``source``, except those under ``if TYPE_CHECKING:``."""
    tree = ast.parse(source)
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from hexlake.log import backends`` names the package in the imported name
            names = [node.module, *(f"{node.module}.backends" for a in node.names if a.name == "backends")]
        else:
            continue
        yield from (Import(module, n, node.lineno) for n in names if n.startswith("hexlake."))


def all_imports(root: Path) -> list[Import]:
    return [imp for path in sorted(root.rglob("*.py"))
            for imp in imports_of(path.read_text(), module_name(path, root))]


def stages(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}


def stage_of(module: str, known: set[str]) -> str | None:
    """The graph node of ``module``: its stage, or ``<stage>.operations`` (see ``PRIMITIVES``)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in known:
        return None
    if parts[1] in PRIMITIVES and len(parts) > 2 and parts[2] not in PRIMITIVES[parts[1]]:
        return f"{parts[1]}.operations"
    return parts[1]


def is_edge(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in ADAPTERS or module in ORCHESTRATORS


def excepted(imp: Import) -> bool:
    return any(imp.module == m and imp.target.startswith(t) for m, t in KNOWN_EXCEPTIONS)


def stage_graph(imports: list[Import], known: set[str]) -> dict[str, dict[str, list[Import]]]:
    """stage -> imported stage -> the imports behind the edge (edge modules and exceptions left out)."""
    graph: dict[str, dict[str, list[Import]]] = {}
    for imp in imports:
        src, dst = stage_of(imp.module, known), stage_of(imp.target, known)
        if src and dst and src != dst and not is_edge(imp.module) and not excepted(imp):
            graph.setdefault(src, {}).setdefault(dst, []).append(imp)
    return graph


def cycles(graph: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """Strongly connected groups of more than one stage (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    counter = itertools.count()

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(root: Path) -> list[str]:
    """Every broken rule in the tree at ``root``, one readable line each (empty: all good)."""
    known, imports = stages(root), all_imports(root)
    graph = stage_graph(imports, known)
    out = []
    for group in cycles(graph):
        edges = [f"{a} -> {b} ({graph[a][b][0].module}:{graph[a][b][0].line})"
                 for a in group for b in group if b in graph.get(a, {})]
        out.append(f"import cycle between stages {group}: " + "; ".join(edges))
    for imp in imports:
        src, dst = stage_of(imp.module, known), stage_of(imp.target, known)
        if src and dst and src.split(".")[0] != dst.split(".")[0] and ".backends" in imp.target \
                and imp.target.startswith(f"hexlake.{dst.split('.')[0]}.backends"):
            out.append(f"{imp.module}:{imp.line} imports another stage's backend {imp.target}")
        if src == "collect" and dst == "serve" and not is_edge(imp.module) and not excepted(imp):
            out.append(f"{imp.module}:{imp.line} (collect) imports {imp.target} (serve)")
    return sorted(set(out))


# -- the project -----------------------------------------------------------------------------------

def test_hexlake_follows_the_layering_rules() -> None:
    assert violations(SRC) == []


def test_known_exceptions_and_orchestrators_still_exist() -> None:
    """A fixed exception or a removed orchestrator must leave its list, so it cannot come back unnoticed."""
    imports = all_imports(SRC)
    for module, target in KNOWN_EXCEPTIONS:
        assert any(i.module == module and i.target.startswith(target) for i in imports), (module, target)
    for module in ORCHESTRATORS:
        assert (SRC.parent / (module.replace(".", "/") + ".py")).is_file(), module
    for stage, names in PRIMITIVES.items():
        assert all((SRC / stage / f"{n}.py").is_file() for n in names), stage


def module_graph(imports: list[Import], package: str) -> dict[str, dict[str, list[Import]]]:
    """module -> imported module, inside ``package`` (a module's own package ``__init__`` left out)."""
    modules = {i.module for i in imports if i.module.startswith(package + ".")}
    graph: dict[str, dict[str, list[Import]]] = {}
    for imp in imports:
        target = imp.target
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        if imp.module in modules and target in modules and not imp.module.startswith(target + "."):
            graph.setdefault(imp.module, {}).setdefault(target, []).append(imp)
    return graph


def test_warehouse_modules_import_each_other_without_a_cycle() -> None:
    """The engines, the loader and the seen-id filter once imported each other in a circle."""
    assert cycles(module_graph(all_imports(SRC), "hexlake.warehouse")) == []


def test_module_cycle_check_sees_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "warehouse/backends/duckdb.py": "def f():\n    from hexlake.warehouse.loader import RawLoader\n",
        "warehouse/loader.py": "from hexlake.warehouse.backends.duckdb import DuckDBWarehouse\n",
    })
    assert cycles(module_graph(all_imports(root), "hexlake.warehouse")) == [
        ["hexlake.warehouse.backends.duckdb", "hexlake.warehouse.loader"]]


def test_docs_architecture_names_every_stage_folder() -> None:
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    assert [s for s in sorted(stages(SRC)) if f"{s}/" not in page] == []


# -- the checker, on planted violations -------------------------------------------------------------

def make_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "hexlake"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text)
    return root


def test_checker_accepts_a_clean_tree(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "log/protocol.py": "",
        "log/backends/sqlite.py": "from hexlake.log.protocol import X\n",
        "warehouse/loader.py": "from hexlake.log.protocol import EventLog\n",
        "warehouse/api.py": "from hexlake.serve.auth import require\n",
        "serve/auth.py": "from hexlake.warehouse.loader import L\n",
        "collect/api.py": "from hexlake.serve.auth import require\n",
    })
    assert violations(root) == []


def test_checker_finds_a_cycle_even_through_a_function_level_import(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "gate/pipeline.py": "from hexlake.log.protocol import X\n",
        "log/protocol.py": "def f():\n    from hexlake.stream.state import S\n",
        "stream/state.py": "import hexlake.gate.pipeline\n",
    })
    (problem,) = violations(root)
    assert problem.startswith("import cycle between stages ['gate', 'log', 'stream']")


def test_checker_splits_a_stage_into_primitives_and_operations(tmp_path: Path) -> None:
    files = {
        "gate/pipeline.py": "from hexlake.privacy.hashing import Hasher\n",
        "warehouse/frames.py": "from hexlake.gate.pipeline import Gate\n",
        "privacy/erase.py": "def run():\n    from hexlake.warehouse.frames import x\n",
    }
    assert violations(make_tree(tmp_path / "ok", files)) == []  # erase is an operation over the layers
    files["privacy/hashing.py"] = "from hexlake.privacy.erase import run\n"  # a primitive using it
    (problem,) = violations(make_tree(tmp_path / "bad", files))
    assert problem.startswith("import cycle between stages ['gate', 'privacy', 'privacy.operations', 'warehouse']")


def test_checker_ignores_typing_only_imports(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "ops/runs.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hexlake.warehouse.p import W\n",
        "warehouse/query.py": "from hexlake.ops.audit import A\n",
    })
    assert violations(root) == []


def test_checker_finds_a_cross_stage_backend_import(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "log/backends/postgres.py": "",
        "stream/consumer.py": "from hexlake.log.backends.postgres import PostgresLog\n",
    })
    assert violations(root) == [
        "hexlake.stream.consumer:1 imports another stage's backend hexlake.log.backends.postgres"]


def test_checker_finds_collect_importing_serve(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "serve/metrics.py": "",
        "collect/ingest.py": "\nfrom hexlake.serve.metrics import EVENTS\n",
    })
    assert violations(root) == ["hexlake.collect.ingest:2 (collect) imports hexlake.serve.metrics (serve)"]
