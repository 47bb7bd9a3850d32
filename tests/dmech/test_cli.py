import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "dmech", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )


def test_info_names_jax_every_core_dependency_and_the_devices():
    out = _cli("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["versions"]["jax"].startswith("0.10")
    for name in (
        "jaxlib",
        "equinox",
        "optax",
        "flax",
        "jax-md",
        "diffrax",
        "lineax",
        "optimistix",
        "numpy",
        "scipy",
        "meshio",
    ):
        assert info["versions"][name] != "MISSING", name
    assert info["devices"] and info["x64_enabled"] is False
    text = _cli("info")
    assert text.returncode == 0 and "jax" in text.stdout and "devices" in text.stdout


def test_demo_writes_its_picture(tmp_path):
    out = _cli("demo", "--quick", "--out", str(tmp_path / "demo.png"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip().splitlines()[-1])
    assert path == tmp_path / "demo.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "iteration" in out.stderr and "compliance" in out.stderr  # progress is shown


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("```")[0].strip() for b in readme.split("```bash")[1:]]
    assert len(blocks) == 2, "the README has exactly two set-up commands"
    demo, tests = blocks
    assert demo.endswith("dmech demo") and "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text()
