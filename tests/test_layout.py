"""The architecture as the import graph shows it: the engine (`sra_rag.engine`) never imports the
application around it (generation, models, rag, cli, demo, eval, the adapters)."""

import ast
from pathlib import Path

import sra_rag

PACKAGE = Path(sra_rag.__file__).parent


def _imports(source: str, package: str) -> set[str]:
    """Every sra_rag name that `source`, a module of `package`, imports, as an absolute dotted name."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found |= {target} | {f"{target}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name == "sra_rag" or name.startswith("sra_rag.")}


def test_the_engine_imports_nothing_from_the_application():
    engine = sorted((PACKAGE / "engine").glob("*.py"))
    assert len(engine) > 10
    upward = {
        f"{path.name} -> {name}"
        for path in engine
        for name in _imports(path.read_text(encoding="utf-8"), "sra_rag.engine")
        if not name.startswith("sra_rag.engine")
    }
    assert not upward, f"the engine imports the application: {sorted(upward)}"


def test_the_check_sees_an_upward_import():
    """The graph is read from the sources: relative and absolute imports out of the engine count."""
    attention = (PACKAGE / "engine" / "attention.py").read_text(encoding="utf-8")
    assert "sra_rag.engine.eager" in _imports(attention, "sra_rag.engine")
    assert "sra_rag.generation" in _imports("from ..generation import Generator\n", "sra_rag.engine")
    assert "sra_rag.rag" in _imports("import sra_rag.rag\n", "sra_rag.engine")
