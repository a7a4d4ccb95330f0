"""The layer order of the code base, checked on its import graph and by importing it in a clean process.

- `explorer/`'s import graph (every import, function-level ones included; those under `TYPE_CHECKING` aside)
  has no cycle;
- building any configuration imports neither Keras nor TensorFlow, and neither does drawing a figure (viz,
  graphs);
- the library imports no page and no entry point, and page files are named only by the page registry;
- the Streamlit side (app.py, app_pages/, explorer/ui/) names no task and no architecture: it asks the registries.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from explorer.architectures import ARCHITECTURES
from explorer.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "explorer"
HEAVY = ("keras", "tensorflow", "jax")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an `if TYPE_CHECKING:` block."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(inner) for inner in ast.walk(child))
    return skipped


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in its code, outside TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in LIBRARY.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) & modules for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_the_graph_sees_lazy_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    # architectures imports explorer.networks only inside `build`: the graph must still see it.
    assert "explorer.networks" in graph["explorer.architectures"]
    assert "explorer.networks" not in imports_of(LIBRARY / "tasks.py", set(graph))


def test_the_library_import_graph_has_no_cycle():
    assert find_cycle(import_graph()) is None


def _clean_run(code: str) -> dict:
    """Run `code` in a fresh interpreter; it prints a JSON object on its last line."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_building_every_configuration_imports_no_keras():
    loaded = _clean_run(
        "import json, sys\n"
        "from explorer.config import RunConfig\n"
        "from explorer.presets import default_config, pretrain_configs, pairs\n"
        "from explorer.urlstate import config_from_params, params_from_config\n"
        "configs = pretrain_configs()\n"
        "assert [RunConfig.from_dict(c.to_dict()).key() for c in configs] == [c.key() for c in configs]\n"
        "shown = [default_config(task, arch) for task, arch in pairs()]\n"
        "links = [config_from_params(params_from_config(c))[0] for c in shown]\n"
        "assert [c.key() for c in links] == [c.key() for c in shown]\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    assert loaded == []


def test_drawing_figures_imports_no_keras():
    """viz and graphs turn arrays and configs into figures: a figure never needs a model framework."""
    loaded = _clean_run(
        "import json, sys\n"
        "import numpy as np\n"
        "import explorer.viz\n"
        "from explorer.graphs import folded_dot, unrolled_dot\n"
        "from explorer.presets import default_config, pairs\n"
        "from explorer.tasks import make_batch\n"
        "for task, arch in pairs():\n"
        "    config = default_config(task, arch)\n"
        "    source = make_batch(config.task, 1).encoder_inputs[0].reshape(-1)\n"
        "    folded_dot(config)\n"
        "    unrolled_dot(config, source, make_batch(config.task, 1).targets[0].reshape(-1))\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    assert loaded == []


def test_viz_and_graphs_import_no_model_framework_directly():
    for name in ("viz.py", "graphs.py", "facts.py", "tasks.py", "config.py", "presets.py", "urlstate.py"):
        tree = ast.parse((LIBRARY / name).read_text())
        top = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not top & set(HEAVY), name


def test_the_library_imports_no_page_and_only_the_page_registry_names_page_files():
    registry = LIBRARY / "ui" / "pages.py"
    for path in LIBRARY.rglob("*.py"):
        graph_imports = imports_of(path, set())
        assert not {name for name in graph_imports if name.split(".")[0] in ("app", "app_pages")}, path
        if path != registry:
            assert "app_pages/" not in path.read_text(), f"{path} names a page file; ask explorer.ui.pages"


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_the_streamlit_side_names_no_task_and_no_architecture():
    names = set(TASKS) | set(ARCHITECTURES)
    files = [ROOT / "app.py", *(ROOT / "app_pages").glob("*.py"), *(LIBRARY / "ui").glob("*.py")]
    assert len(files) > 10
    offenders = {str(path.relative_to(ROOT)): sorted(_string_constants(path) & names) for path in files}
    assert {path: found for path, found in offenders.items() if found} == {}


def test_the_name_check_would_see_a_named_entry(tmp_path):
    page = tmp_path / "page.py"
    name = next(iter(ARCHITECTURES))
    page.write_text(f"if arch == {name!r}:\n    pass\n")
    assert name in _string_constants(page)
