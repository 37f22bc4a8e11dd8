"""The KPI report opened in headless Chromium (Debian's package): charts render, no console errors.

Chromium runs offline on the file:// URL with networking pointed nowhere, so a chart that needed
the network would not render. Two runs: ``--dump-dom`` (the page's inline self-check writes how
many SVG charts were laid out with a visible size into ``body[data-charts-rendered]``; every
console message, error or not, is logged on stderr and must be absent) and ``--screenshot`` (the
image must not be blank). Skips only when chromium is not installed: ``.ci/system-deps`` installs
it when run as root with network (``make test`` runs it first; the fixture runs it too).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from lxml import html as lxml_html
from PIL import Image, ImageStat
from report_helpers import chromium_binary

pytestmark = pytest.mark.slow

FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in CI; the sandbox refuses root
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--proxy-server=127.0.0.1:9",  # any network request would fail (and log a console error)
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:  # pytest run without `make test`: try the same installer (a no-op unless root)
        script = Path(__file__).resolve().parents[2] / ".ci" / "system-deps"
        run = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900, check=False)
        binary = chromium_binary()
        if binary is None:
            why = (run.stderr.strip().splitlines() or ["no reason given"])[-1]
            pytest.skip(f"chromium is not installed and could not be installed ({why})")
    return binary


def _run(chromium: str, *args: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_renders_in_headless_chromium(chromium, kpi_report, tmp_path) -> None:
    url = kpi_report.path.as_uri()
    dom = _run(chromium, "--virtual-time-budget=5000", "--dump-dom", url, tmp_path=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], "console messages in the report page:\n" + "\n".join(console)
    body = lxml_html.fromstring(dom.stdout).find("body")
    assert body is not None and body.get("data-charts") == str(kpi_report.figures)
    assert int(body.get("data-charts-rendered")) == kpi_report.figures >= 6

    shot = tmp_path / "report.png"
    run = _run(chromium, "--window-size=1280,2400", f"--screenshot={shot}", url, tmp_path=tmp_path)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    assert not [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    stat = ImageStat.Stat(image)
    assert max(stat.stddev) > 20, "the screenshot is blank"
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "too few colours for a page with charts"
    # the chart colours are on screen: DSO line blue and the green best-possible line / aging bar
    pixels = {c for _, c in colours}
    assert any(_near(p, (0x25, 0x63, 0xEB)) for p in pixels)
    assert any(_near(p, (0x16, 0xA3, 0x4A)) for p in pixels)


def test_a_broken_page_is_caught(chromium, tmp_path) -> None:
    """The console check can fail: a page with a script error and a network fetch is reported."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="http://example.invalid/x.png"><script>nope();</script></body></html>')
    run = _run(chromium, "--dump-dom", page.as_uri(), tmp_path=tmp_path)
    console = [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
    assert any(re.search(r"Uncaught ReferenceError", ln) for ln in console), run.stderr[-2000:]


def _near(pixel: tuple[int, int, int], target: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, target, strict=True))
