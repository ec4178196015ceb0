"""Real-browser tests: the app served by `streamlit run`, headless Chromium through Playwright, drawing on it.

Without Chromium or Playwright the browser tests skip, unless DIGITLIB_REQUIRE_BROWSER=1 (CI): then they fail.
Any traceback in the server's log fails the test module that served it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT

REQUIRE_ENV = "DIGITLIB_REQUIRE_BROWSER"
SERVER_START_S = 60
ANSWER_S = 20
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
# The answer area of the Draw page as text: what the page says about the drawing, and its 28x28 input.
# None while the script runs, or while an element whose code comes late still shows its placeholder.
ANSWER_JS = """
() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || document.querySelector('[data-testid="stApp"]')?.getAttribute("data-test-script-state")
      !== "notRunning" || main.querySelector('[data-testid="stSkeleton"]')) return null;
  const input = [...main.querySelectorAll("figure.pic")]
    .find((f) => f.textContent.startsWith("What the model sees"));
  const said = [...main.querySelectorAll('[data-testid="stMetric"], [data-testid="stAlert"]')]
    .map((e) => e.innerText).join("|");
  return said + "|" + (input
    ? input.querySelector("img").src.length + ":" + input.querySelector("img").src.slice(-40) : "");
}
"""


def unavailable(reason: str):
    """Skip, or fail where the browser tests are required (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class AppServer:
    """A running `streamlit run app.py`: its URL, process, log, launch time (monotonic seconds) and how long
    it took to answer its first health check."""

    def __init__(self, url: str, process: subprocess.Popen, log: Path, launched: float):
        self.url, self.process, self.log, self.launched = url, process, log, launched
        self.health_s = 0.0

    def tracebacks(self) -> list[str]:
        """The tracebacks the server has logged so far, each with its last lines."""
        text = self.log.read_text(errors="replace")
        return [text[i : i + 2000] for i in range(len(text)) if text.startswith("Traceback", i)]

    def loaded_libraries(self) -> str:
        """The shared libraries and files the server process has mapped."""
        return Path(f"/proc/{self.process.pid}/maps").read_text()


@contextlib.contextmanager
def serving(folder: Path, env: dict[str, str] | None = None):
    """`streamlit run app.py` on a free port, saving drawings in `folder`; the server, stopped afterwards."""
    if importlib.util.find_spec("streamlit") is None:
        unavailable("streamlit is not installed")
    port, log = free_port(), folder / "streamlit.log"
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port)]  # fmt: skip
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DIGITLIB_DRAWINGS_DB": str(folder / "drawings.sqlite3"),
        **(env or {}),
    }
    launched = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = AppServer(f"http://127.0.0.1:{port}", process, log, launched)
    try:
        while not healthy(server.url):
            if process.poll() is not None or time.monotonic() > launched + SERVER_START_S:
                pytest.fail(
                    f"streamlit did not serve:\n{log.read_text(errors='replace')[-3000:]}", pytrace=False
                )
            time.sleep(0.05)  # often: the start-up benchmark reads health_s
        server.health_s = time.monotonic() - launched
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a server's process group: SIGTERM, then SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app server of a test module; a traceback in its log fails the module."""
    with serving(tmp_path_factory.mktemp("server")) as running:
        yield running
        assert not running.tracebacks(), "the server logged a traceback:\n" + running.tracebacks()[0]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium: the system's, else Playwright's own."""
    if importlib.util.find_spec("playwright") is None:
        unavailable("playwright is not installed (pip install playwright)")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    executable = next((found for name in SYSTEM_CHROMIUM if (found := shutil.which(name))), None)
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
        except PlaywrightError as error:
            unavailable(
                f"cannot start Chromium ({executable or 'Playwright own'}): {str(error).splitlines()[0]}"
            )
        yield chromium
        chromium.close()


def new_page(browser, phone: bool = False):
    """A blank page in its own browser context (own session and storage), on a phone or a desktop."""
    if phone:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3)
    else:
        context = browser.new_context(viewport=DESKTOP)
    return context.new_page()


def open_app(browser, url: str, phone: bool = False, path: str = ""):
    """A page of the app in its own browser context (own session and storage), once the canvas is shown."""
    page = new_page(browser, phone)
    page.goto(f"{url}/{path}")
    if not path:
        page.locator("canvas.ink").wait_for(timeout=SERVER_START_S * 1000)
        wait_for_answer(page)
    return page


def answer(page) -> str | None:
    """What the page says about the drawing, with a fingerprint of its 28x28 input; None until it is shown."""
    return page.evaluate(ANSWER_JS)


def wait_for_answer(page, other_than: str | None = None, timeout_s: float = ANSWER_S) -> str:
    """Wait until the page's answer differs from `other_than` and is steady for half a second; the answer.

    Strokes drawn quickly rerun the page several times: only a settled answer reflects all of them.
    """
    page.wait_for_function(
        f"""(before) => {{
          const now = ({ANSWER_JS})();
          const seen = window.__answerSeen || (window.__answerSeen = {{ value: undefined, since: 0 }});
          if (now !== seen.value) {{ seen.value = now; seen.since = performance.now(); }}
          return now !== null && now !== before && performance.now() - seen.since > 500;
        }}""",
        arg=other_than,
        polling=100,
        timeout=timeout_s * 1000,
    )
    return answer(page)


def canvas_box(page) -> dict:
    """Where the canvas is on the page, in CSS pixels."""
    return page.locator("canvas.ink").bounding_box()


INKED_JS = """(canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < pixels.length; i += 4) ink += pixels[i] > 127;
  return ink;
}"""


def inked_pixels(page) -> int:
    """How many of the canvas's pixels the browser shows inked."""
    return page.locator("canvas.ink").evaluate(INKED_JS)


def wait_for_blank_canvas(page, timeout_s: float = 5) -> int:
    """Wait up to `timeout_s` for the canvas to show no ink; the inked pixels it shows then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # The canvas draws what a rerun sent it a moment after the elements above it show theirs.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            f"(canvas) => ({INKED_JS})(canvas) === 0",
            arg=page.locator("canvas.ink").element_handle(),
            polling=100,
            timeout=timeout_s * 1000,
        )
    return inked_pixels(page)


def on_page(page, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Canvas-pixel points in the page's CSS pixels, wherever the canvas is and however large it is shown."""
    box = canvas_box(page)
    scale = box["width"] / float(page.locator("canvas.ink").get_attribute("width"))
    return [(box["x"] + x * scale, box["y"] + y * scale) for x, y in points]


def straight(start: tuple[float, float], end: tuple[float, float], count: int) -> list[tuple[float, float]]:
    """`count` points evenly along a straight stroke from `start` to `end`."""
    (x0, y0), (x1, y1) = start, end
    return [(x0 + (x1 - x0) * i / (count - 1), y0 + (y1 - y0) * i / (count - 1)) for i in range(count)]


# Strokes starting in each corner and along the top edge, where a canvas's own controls would catch them.
EDGE_STARTS = {
    "top-left corner": ((2, 2), (60, 60)),
    "top-right corner": ((277, 2), (220, 60)),
    "bottom-left corner": ((2, 277), (60, 220)),
    "bottom-right corner": ((277, 277), (220, 220)),
    "middle of the top edge": ((140, 1), (140, 70)),
    "top edge, right third": ((210, 2), (200, 60)),
    "just below the top-right corner": ((270, 20), (200, 90)),
}


def mouse_stroke(
    page, points: list[tuple[float, float]], rest: bool = False, halfway: Callable[[], None] | None = None
) -> None:
    """A mouse stroke through canvas-pixel points; `rest` lets the pointer rest before pressing.

    `halfway()` runs halfway along the stroke, the button still down; the points stay where the canvas was.
    """
    (x0, y0), *rest_of_stroke = on_page(page, points)
    page.mouse.move(x0, y0)
    if rest:
        page.wait_for_timeout(300)
    page.mouse.down()
    for i, (x, y) in enumerate(rest_of_stroke, start=1):
        if halfway is not None and i == len(points) // 2:
            halfway()
        page.mouse.move(x, y)
    page.mouse.up()


def touch_stroke(page, points: list[tuple[float, float]], halfway: Callable[[], None] | None = None) -> None:
    """A stroke drawn with a finger (Chromium's touch events through the DevTools protocol).

    `halfway()` runs halfway along the stroke, the finger still down; the points stay where the canvas was.
    """
    session = page.context.new_cdp_session(page)
    at = [{"x": x, "y": y} for x, y in on_page(page, points)]
    session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at[0]]})
    for i, point in enumerate(at[1:], start=1):
        if halfway is not None and i == len(points) // 2:
            halfway()
        session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    session.detach()


def draw_record(page, record: dict) -> str:
    """Draw a recorded digit stroke by stroke with the mouse; the answer once it has changed."""
    before = answer(page)
    for stroke in record["canvas_strokes"]:
        mouse_stroke(page, [tuple(p) for p in stroke])
    return wait_for_answer(page, before)


def clear(page) -> None:
    """Press Clear and wait for the empty canvas's prompt."""
    before = answer(page)
    page.get_by_role("button", name="Clear").click()
    wait_for_answer(page, before)
