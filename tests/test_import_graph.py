"""Imports point one way (shared/design.md): fails on any arrow that points the wrong way."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_PACKAGES = ("dmech", "operators", "pinn", "koopman")
LEARNED = ("operators", "pinn", "koopman")

# dmech's physical subpackages and the physical subpackages each may import.
PHYSICAL = {
    "geometry": set(),
    "fem": {"geometry"},
    "cfd": {"geometry"},
    "atomistic": {"geometry"},
    "micro": {"geometry", "fem"},
    "topopt": {"geometry", "fem"},
    "design": {"geometry", "fem", "cfd", "atomistic", "micro", "topopt"},
}
# Shared infrastructure: depends on nothing physical.
INFRASTRUCTURE = {"nn", "train", "data", "bench", "testing", "_custom_types", "_version"}


def _imports(path: Path, module: str):
    """Absolute names imported by one source file (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:  # `from . import fem` imports a subpackage
                yield node.lineno, f"{name}.{alias.name}"


def violations(root: Path) -> list[str]:
    """One message per offending import statement."""
    found: dict[tuple[Path, int], str] = {}
    for top in TOP_PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            module = ".".join(parts)
            for lineno, name in _imports(path, module):
                target = name.split(".")
                where = f"{path.relative_to(root)}:{lineno} imports {name}"
                if target[0] in TOP_PACKAGES and target[0] != top:
                    if top == "dmech":
                        found.setdefault(
                            (path, lineno), f"{where}: dmech never imports the learned packages"
                        )
                    elif target[0] in LEARNED:
                        found.setdefault(
                            (path, lineno),
                            f"{where}: {top} and {target[0]} never import each other",
                        )
                    continue
                if top != "dmech" or target[0] != "dmech" or len(parts) < 2 or len(target) < 2:
                    continue
                source, dest = parts[1], target[1]
                if dest not in PHYSICAL or dest == source:
                    continue
                if source in INFRASTRUCTURE:
                    message = f"dmech.{source} depends on nothing physical"
                elif source in PHYSICAL and dest not in PHYSICAL[source]:
                    message = f"dmech.{source} may not import dmech.{dest}"
                else:
                    continue
                found.setdefault((path, lineno), f"{where}: {message}")
    return list(found.values())


def test_imports_point_one_way():
    assert violations(ROOT) == []


def test_every_subpackage_is_classified():
    subpackages = {p.name for p in (ROOT / "dmech").iterdir() if (p / "__init__.py").exists()}
    unknown = subpackages - set(PHYSICAL) - INFRASTRUCTURE
    assert not unknown, f"classify these dmech subpackages in this test: {sorted(unknown)}"


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        ("dmech/fem/_solve.py", "from ..cfd import stepper\n", "may not import dmech.cfd"),
        ("dmech/fem/_solve.py", "import operators\n", "never imports the learned"),
        ("dmech/nn/_x.py", "from dmech.fem import solve\n", "nothing physical"),
        ("pinn/_x.py", "from koopman import dmd\n", "never import each other"),
        ("dmech/topopt/_x.py", "from .. import cfd\n", "may not import dmech.cfd"),
    ],
)
def test_a_wrong_arrow_is_caught(tmp_path, module, source, message):
    for top in TOP_PACKAGES:
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    path = tmp_path / module
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "__init__.py").write_text("")
    path.write_text(source)
    found = violations(tmp_path)
    assert len(found) == 1 and message in found[0], found


def test_allowed_arrows_pass(tmp_path):
    for top in TOP_PACKAGES:
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    (tmp_path / "dmech" / "topopt").mkdir()
    (tmp_path / "dmech" / "topopt" / "_x.py").write_text("from ..fem import solve\nimport jax\n")
    (tmp_path / "operators" / "_x.py").write_text("from dmech.cfd import burgers\n")
    assert violations(tmp_path) == []
