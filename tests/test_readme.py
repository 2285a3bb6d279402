"""The README's snippets run verbatim: each fenced ``bash`` or ``python`` block marked ``<!-- ci: run -->``
on the line above it runs, in README order, in one scratch folder (``runs/`` is made there, as a
user's would be). A block marked ``<!-- ci: skip (reason) -->`` is skipped with its reason; an unmarked
one is skipped as unmarked, so a new section's snippets join by adding the marker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"(?:<!--\s*ci:\s*(run|skip)\s*(?:\((.*?)\))?\s*-->\n)?```(bash|python)\n(.*?)```", re.S)
LINKED = ("studies", "examples", "benchmarks")  # what the snippets name relative to the checkout


def snippets(text: str) -> list[tuple[str, str | None, str, str, int]]:
    """Each fenced bash or python block: (mark, reason, language, code, line)."""
    found = []
    for match in FENCE.finditer(text):
        mark, reason, language, code = match.groups()
        found.append((mark or "", reason, language, code, text.count("\n", 0, match.start()) + 1))
    return found


SNIPPETS = snippets((REPO / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_runnable_snippets_and_every_skip_has_a_reason():
    assert sum(mark == "run" for mark, *_ in SNIPPETS) >= 3
    assert all(reason for mark, reason, *_ in SNIPPETS if mark == "skip")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A folder like a checkout's root (its study files linked in) and a ``tunelab`` on the PATH that
    runs this interpreter, so the snippets' commands run the code under test."""
    root = tmp_path_factory.mktemp("readme")
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    bin_dir = root / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "tunelab"
    shim.write_text(f"#!{sys.executable}\nfrom tunelab.cli import main\n\nmain()\n", encoding="utf-8")
    shim.chmod(0o755)
    env = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    return root, env


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mark", "reason", "language", "code", "line"), SNIPPETS, ids=[f"line-{s[4]}" for s in SNIPPETS]
)
def test_readme_snippet_runs_verbatim(scratch, mark, reason, language, code, line):
    if mark != "run":
        pytest.skip(reason or "not marked <!-- ci: run --> in README.md")
    root, env = scratch
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"README.md line {line}:\n{code}\n--- stderr:\n{done.stderr[-4000:]}"
