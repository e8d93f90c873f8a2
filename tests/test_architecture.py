"""The import structure of worker/, read from the source (imports inside functions too):
no cycles between modules, and no import running back up the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parent.parent / "worker"

# Lower layers never import higher ones. cli sits above api (`serve` starts the API; the API
# never reaches into the CLI); worker.app and worker.beat build the Celery side, with tasks.
LAYERS = {
    "pipeline": 0,
    "sources": 0,
    "storage": 0,
    "services": 1,
    "tasks": 2,
    "app": 2,
    "beat": 2,
    "api": 3,
    "cli": 4,
}


def _module_names() -> dict[str, Path]:
    names = {}
    for path in WORKER.rglob("*.py"):
        parts = path.relative_to(WORKER.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _imports(module: str) -> set[str]:
    """The worker modules `module` imports, wherever in it the import stands."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return groups


class TestImports:
    def test_the_graph_is_read(self) -> None:
        """The reader finds the imports the tree is known to have, function-level ones too."""
        assert "worker.services.batches" in GRAPH["worker.services.parts"]
        assert "worker.pipeline.identity" in GRAPH["worker.services.ingest"]
        assert "worker.api.app" in GRAPH["worker.cli.serve"]  # imported inside a function

    def test_no_import_cycles(self) -> None:
        """No two worker modules import each other, directly or through others."""
        assert _cycles() == []

    @pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) is not None))
    def test_no_import_back_up_the_layers(self, module: str) -> None:
        """pipeline, sources and storage import no services, tasks or interfaces; services no
        tasks or interfaces; tasks no interfaces; the API not the CLI."""
        layer = _layer(module)
        upward = sorted(
            target
            for target in GRAPH[module]
            if (target_layer := _layer(target)) is not None
            and layer is not None
            and target_layer > layer
        )
        assert upward == []
