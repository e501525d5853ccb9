"""The layering of docs/architecture.md: math never imports streamlit or plotly; pages never do tensor math."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MATH = ["surfaces", "optimizers", "trajectories", "training"]
UI_ONLY = {"streamlit", "plotly"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module.split(".")[0])
    return mods


def files_under(*dirs: str) -> list[Path]:
    return [p for d in dirs if (ROOT / d).exists() for p in sorted((ROOT / d).rglob("*.py"))]


@pytest.mark.parametrize("path", files_under(*MATH), ids=lambda p: str(p.relative_to(ROOT)))
def test_math_never_imports_ui(path):
    assert not imported_modules(path) & UI_ONLY, f"{path} imports a UI package"


@pytest.mark.parametrize("path", files_under("plots"), ids=lambda p: str(p.relative_to(ROOT)))
def test_plots_take_numpy_not_tensors(path):
    assert "torch" not in imported_modules(path), f"{path}: plots take numpy results, not tensors"


@pytest.mark.parametrize("path", [ROOT / "app.py", *files_under("app_pages")], ids=lambda p: p.name)
def test_pages_do_no_tensor_math(path):
    if path.exists():
        assert "torch" not in imported_modules(path), f"{path}: pages call trajectories/optimizers, never torch"


def test_there_is_something_to_check():
    # guards against the globs above silently matching nothing
    assert len(files_under(*MATH)) >= 10
