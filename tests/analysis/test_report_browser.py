"""The report in a real browser: headless Chromium renders it, with no page error and no broken image.

Needs ``chromium`` (Debian: ``apt-get install -y chromium chromium-driver``); skipped without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

BROWSER = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)),
    None,
)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="chromium is not installed (apt-get install chromium)"
)

# Appended to a copy of the page: after load, log how many images decoded and how many did not.
PROBE = """<script>window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).length;
  console.log("tunelab-probe images=" + images.length + " broken=" + broken);
});</script>"""


def render(page: Path, screenshot: Path, height: int = 2000) -> str:
    """Screenshot ``page`` with headless Chromium; returns its log (console messages included)."""
    command = [
        str(BROWSER),
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        f"--user-data-dir={screenshot.parent / 'chromium-profile'}",
        f"--screenshot={screenshot}",
        f"--window-size=1280,{height}",
        page.resolve().as_uri(),
    ]
    env = os.environ | {"HOME": str(screenshot.parent)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert screenshot.is_file(), f"no screenshot; chromium said:\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def console(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_report_renders_in_chromium(report_dir, tmp_path):
    shot = tmp_path / "report.png"
    log = render(report_dir / "report.html", shot)
    assert console(log) == []  # the page has no script, so any console message is an error
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (2000, 1280)
    assert image[..., :3].std() > 0.05  # text, tables and figures, not a blank page
    assert (image[..., :3] < 0.5).mean() > 0.005  # some dark ink

    probe = report_dir / "probe.html"
    probe.write_text(
        (report_dir / "report.html").read_text(encoding="utf-8").replace("</body>", PROBE + "</body>")
    )
    try:
        messages = console(render(probe, tmp_path / "probe.png", height=600))
    finally:
        probe.unlink()
    found = [re.search(r"tunelab-probe images=(\d+) broken=(\d+)", m) for m in messages]
    counts = [(int(m[1]), int(m[2])) for m in found if m]
    assert counts == [(len(list((report_dir / "figures").glob("*.png"))), 0)], messages
