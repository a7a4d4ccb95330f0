"""Architecture rules that a reviewer would otherwise have to remember."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "explorer"
UI = LIBRARY / "ui"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_library_never_imports_streamlit_outside_explorer_ui():
    modules = list(LIBRARY.rglob("*.py"))
    assert any(UI in path.parents for path in modules if "streamlit" in _imports(path))  # the rule sees imports
    offenders = [
        str(path.relative_to(ROOT)) for path in modules if UI not in path.parents and "streamlit" in _imports(path)
    ]
    assert offenders == []


def test_model_code_uses_keras_ops_not_tensorflow():
    for name in ("architectures.py", "tasks.py", "decoding.py", "probe.py", "training.py"):
        assert "tensorflow" not in _imports(ROOT / "explorer" / name), name
