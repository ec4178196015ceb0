"""End to end in a real browser: draw digits with the mouse on the Draw page, read the prediction, clear.

Starts `streamlit run app.py` on a free local port, opens it in headless Chromium through Playwright
and replays pen strokes recorded from real people (drawn_dev.jsonl.gz, beside $DIGITLIB_MNIST, or
$DIGITLIB_DRAWN_STROKES) as mouse down / moves / up on the canvas. It also measures the time from the
last mouse-up to the Prediction metric changing, and takes a full-page screenshot of every page:
into docs/screenshots/ when DIGITLIB_SCREENSHOTS=1, else into pytest's tmp_path.

Without Chromium or Playwright the tests skip, unless DIGITLIB_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"

REQUIRE_ENV = "DIGITLIB_REQUIRE_BROWSER"
SCREENSHOTS_ENV = "DIGITLIB_SCREENSHOTS"
STROKES_ENV = "DIGITLIB_DRAWN_STROKES"
STROKES_FILE = "drawn_dev.jsonl.gz"
CANVAS_SIZE = 280  # the strokes are in the pixel coordinates of a 280x280 canvas

# Samples of drawn_dev.jsonl.gz, by index, with their labels: clear digits that the CNN and even the MLP
# read right with high confidence (one stroke for the 3, two for the 7 and the 4). They are drawn with
# the app's default brush, not the record's `stroke_width`.
SAMPLES = [(8, 3), (140, 7), (157, 4)]
SCREENSHOT_SAMPLE = 8
# Every page of the app, by its title in the navigation; screenshots are named after the lowercase title.
PAGES = ["Draw", "Dataset", "Training", "Evaluation", "Misclassified"]

SERVER_START_S = 60  # streamlit itself starts in a few seconds
FIRST_PREDICTION_S = 60  # the first prediction loads TensorFlow and the model
PREDICTION_S = 20
PAGE_LOAD_S = 60
VIEWPORT = {"width": 1200, "height": 900}
MAX_SCREENSHOT_HEIGHT = 4000  # px: keeps the PNGs small
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

# Installed in every page before the app loads: timestamps (browser clock) of mouse-ups, of every change
# of the Prediction metric's value (None = no metric) and of the script run state, to measure latency
# without polling from Python.
PROBE_JS = """
(() => {
  const probe = { mouseups: [], values: [], states: [] };
  window.__digitProbe = probe;
  window.addEventListener("mouseup", () => probe.mouseups.push(performance.now()), true);
  let lastValue, lastState;
  const check = () => {
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')].find((m) => {
      const label = m.querySelector('[data-testid="stMetricLabel"]');
      return label && label.textContent.trim() === "Prediction";
    });
    const valueEl = metric && metric.querySelector('[data-testid="stMetricValue"]');
    const value = valueEl ? valueEl.textContent.trim() : null;
    if (value !== lastValue) { lastValue = value; probe.values.push([performance.now(), value]); }
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app ? app.getAttribute("data-test-script-state") : null;
    if (state !== lastState) { lastState = state; probe.states.push([performance.now(), state]); }
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ["data-test-script-state"],
  });
})();
"""

# Ink on the canvas's drawing layer (bright opaque pixels); the background has a canvas of its own.
INK_JS = """
(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 128 && data[i] > 128) ink++;
  return ink;
}
"""


def _unavailable(reason: str):
    """Skip, or fail where the browser test is required (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


@contextlib.contextmanager
def _screenshot_on_failure(page, folder: Path):
    """On a failure, save what the browser showed and say where."""
    try:
        yield
    except (Exception, pytest.fail.Exception):
        path = folder / "failure.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            print(f"\n[browser] screenshot of the failure: {path}")
        except Exception:  # the page may be gone; the original error is what matters
            pass
        raise


def _report(capsys, line: str) -> None:
    """Print into the test output even without `-s`."""
    with capsys.disabled():
        print(f"\n[browser] {line}", flush=True)


# ---------------------------------------------------------------------------------------------------
# Data: recorded pen strokes


def strokes_path() -> Path | None:
    """drawn_dev.jsonl.gz: $DIGITLIB_DRAWN_STROKES, else beside $DIGITLIB_MNIST."""
    explicit = os.environ.get(STROKES_ENV)
    if explicit:
        return Path(explicit)
    mnist = os.environ.get("DIGITLIB_MNIST")
    return Path(mnist).parent / STROKES_FILE if mnist else None


def load_records(indices) -> dict[int, dict]:
    """The records at `indices` (JSON objects with `label`, `stroke_width`, `canvas_strokes`)."""
    path = strokes_path()
    if path is None or not path.is_file():
        _unavailable(f"no recorded strokes: set {STROKES_ENV} or DIGITLIB_MNIST (looked for {path})")
    wanted, records = set(indices), {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            if index in wanted:
                records[index] = json.loads(line)
                if len(records) == len(wanted):
                    break
    assert set(records) == wanted, f"{path} has no records {sorted(wanted - set(records))}"
    return records


def to_screen(strokes, box: dict) -> list[list[tuple[float, float]]]:
    """Strokes in 280x280 canvas pixels -> page coordinates inside the canvas's bounding box."""
    sx, sy = box["width"] / CANVAS_SIZE, box["height"] / CANVAS_SIZE
    return [[(box["x"] + x * sx, box["y"] + y * sy) for x, y in stroke] for stroke in strokes]


# ---------------------------------------------------------------------------------------------------
# The app server and the browser


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _has_model() -> bool:
    folder = Path(os.environ.get("DIGITLIB_MODELS") or ROOT / "models")
    return any(folder.glob("*.keras"))


@pytest.fixture(scope="module")
def server_drawings_db(tmp_path_factory) -> Path:
    """Where the app under test saves drawings: a fresh database, never the user's own."""
    return tmp_path_factory.mktemp("drawings") / "drawings.sqlite3"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, server_drawings_db):
    """`streamlit run app.py` on a free 127.0.0.1 port, with this environment; its base URL."""
    if importlib.util.find_spec("streamlit") is None:
        _unavailable("streamlit is not installed")
    if not (ROOT / "app.py").is_file():
        _unavailable(f"no app at {ROOT / 'app.py'}")
    if not _has_model():
        _unavailable("no trained model in the models folder (train one with `python -m digitlib train`)")
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DIGITLIB_DRAWINGS_DB": str(server_drawings_db)}
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"streamlit exited with {server.returncode}:\n{_log_tail(log)}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not serve within {SERVER_START_S} s:\n{_log_tail(log)}", pytrace=False)
            time.sleep(0.2)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=15)


def _chromium_executable() -> str | None:
    for candidate in SYSTEM_CHROMIUM:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium: the system's, else Playwright's own."""
    if importlib.util.find_spec("playwright") is None:
        _unavailable("playwright is not installed (pip install playwright)")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    executable = _chromium_executable()
    with sync_playwright() as playwright:
        chromium, problem = None, None
        try:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as error:
            problem = str(error).splitlines()[0]
        if chromium is None:
            where = executable or "no system Chromium; Playwright's own"
            _unavailable(f"cannot start Chromium ({where}): {problem}")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    yield page
    context.close()


# ---------------------------------------------------------------------------------------------------
# Page helpers


def wait_for_script(page, timeout_s: float = PAGE_LOAD_S) -> None:
    """Wait until the app's script has run and is idle."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_s * 1000)


def canvas(page):
    """The canvas layer that takes the mouse (inside the component's open shadow root)."""
    return page.locator("canvas.upper-canvas")


def ink(page) -> int:
    return page.locator("canvas.dc-canvas.lower-canvas").evaluate(INK_JS)


def prediction(page):
    """The Prediction metric (an `st.metric` labelled exactly "Prediction")."""
    return page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text("Prediction", exact=True)
    )


def draw(page, strokes) -> None:
    """Replay strokes with real mouse events: down, moves, up per stroke."""
    target = canvas(page)
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, f"canvas has no box on screen: {box}"
    for stroke in to_screen(strokes, box):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*point)
        page.mouse.up()


def latency_after_last_mouseup(page, label: int) -> dict[str, float | None]:
    """Milliseconds from the last mouse-up (browser clock) to: the first change of the Prediction metric
    (`changed`), the metric showing `label` (`right`) and the end of that rerun (`idle`). The canvas
    component sends a drawing 200 ms after its last change (a debounce), so 200 ms is the floor."""
    probe = page.evaluate("window.__digitProbe")
    up = probe["mouseups"][-1]
    changed = next((t for t, _ in probe["values"] if t > up), None)
    right = next((t for t, value in probe["values"] if t > up and value == str(label)), None)
    idle = next((t for t, state in probe["states"] if right and t >= right and state == "notRunning"), None)
    times = {"changed": changed, "right": right, "idle": idle}
    return {key: None if t is None else t - up for key, t in times.items()}


def settle(page) -> None:
    """Let the browser lay out and paint twice."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def screenshot(page, path: Path) -> None:
    """The whole page. Streamlit scrolls inside its main block, not the document, so a `full_page`
    screenshot alone stops at the viewport: grow the viewport to the content's height first."""
    height = page.get_by_test_id("stMain").evaluate("(main) => main.scrollHeight")
    height = max(VIEWPORT["height"], min(height, MAX_SCREENSHOT_HEIGHT))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    try:
        settle(page)
        page.wait_for_load_state("networkidle")
        wait_for_script(page)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)
    shrink_png(path)


def shrink_png(path: Path) -> None:
    """256 colours are plenty for a screenshot of the app and make the PNG about a third the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def clear(page) -> None:
    page.get_by_role("button", name="Clear", exact=True).click()


def open_app(page, url: str) -> None:
    page.goto(url)
    canvas(page).wait_for(timeout=PAGE_LOAD_S * 1000)
    wait_for_script(page)


# ---------------------------------------------------------------------------------------------------
# Tests


def test_drawn_digits_are_predicted_and_clear_resets(page, app_url, capsys, record_property, tmp_path):
    with _screenshot_on_failure(page, tmp_path):
        _draw_predict_clear(app_url, page, capsys, record_property)


def _draw_predict_clear(app_url, page, capsys, record_property):
    from playwright.sync_api import expect

    latencies = []
    records = load_records(index for index, _ in SAMPLES)
    open_app(page, app_url)
    expect(prediction(page)).to_have_count(0)
    assert ink(page) == 0, "the canvas should start empty"

    for n, (index, label) in enumerate(SAMPLES):
        record = records[index]
        assert record["label"] == label, f"sample {index} is a {record['label']}, expected {label}"
        draw(page, record["canvas_strokes"])
        assert ink(page) > 0, "the strokes left no ink on the canvas"
        timeout_s = FIRST_PREDICTION_S if n == 0 else PREDICTION_S
        value = prediction(page).get_by_test_id("stMetricValue")
        expect(value).to_have_text(str(label), timeout=timeout_s * 1000)
        wait_for_script(page, PREDICTION_S)
        latency = latency_after_last_mouseup(page, label)
        latencies.append(latency["right"])
        strokes = len(record["canvas_strokes"])
        _report(
            capsys,
            f"sample {index} (a {label}, {strokes} stroke(s), {'first' if n == 0 else 'next'} drawing): "
            f"last mouse-up -> Prediction changed {_ms(latency['changed'])}, "
            f"shows the digit {_ms(latency['right'])}, app idle {_ms(latency['idle'])}",
        )
        record_property(f"latency_ms_sample_{index}", latency)

        clear(page)
        expect(prediction(page)).to_have_count(0, timeout=PREDICTION_S * 1000)
        wait_for_script(page)
        settle(page)  # let the canvas repaint
        assert ink(page) == 0, "Clear left ink on the canvas"

    warm = [ms for ms in latencies[1:] if ms is not None]  # the first includes the model's first call
    if warm:
        mean = sum(warm) / len(warm)
        _report(capsys, f"drawings after the first: last mouse-up -> digit shown in {mean:.0f} ms on average, "
                f"{max(warm):.0f} ms at most")


def test_every_page_renders_and_screenshots(page, app_url, tmp_path, capsys):
    folder = SCREENSHOT_DIR if os.environ.get(SCREENSHOTS_ENV) == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    with _screenshot_on_failure(page, tmp_path):
        _screenshot_every_page(app_url, page, folder, capsys)


def _screenshot_every_page(app_url, page, folder: Path, capsys):
    from playwright.sync_api import expect

    open_app(page, app_url)
    nav_links = page.locator('[data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]')
    expect(nav_links.first).to_be_attached()
    links = {}
    for name in PAGES:
        link = nav_links.filter(has=page.get_by_text(name, exact=True))
        found = nav_links.all_inner_texts()
        assert link.count() == 1, f"no single link to the {name} page in the navigation: {found}"
        links[name] = link.get_attribute("href")

    record = load_records([SCREENSHOT_SAMPLE])[SCREENSHOT_SAMPLE]
    for name in PAGES:
        page.goto(links[name] if links[name].startswith("http") else app_url + links[name])
        wait_for_script(page)
        if name == "Draw":
            canvas(page).wait_for()
            draw(page, record["canvas_strokes"])
            value = prediction(page).get_by_test_id("stMetricValue")
            expect(value).to_have_text(str(record["label"]), timeout=FIRST_PREDICTION_S * 1000)
            wait_for_script(page)
        exceptions = page.get_by_test_id("stException")
        assert exceptions.count() == 0, f"{name} page shows an exception: {exceptions.first.inner_text()[:500]}"
        target = folder / f"{name.lower()}.png"
        screenshot(page, target)
        _report(capsys, f"screenshot {target} ({target.stat().st_size // 1024} KiB)")


def test_a_drawing_saved_with_its_right_digit_is_listed_and_downloads(page, app_url, server_drawings_db, tmp_path):
    with _screenshot_on_failure(page, tmp_path):
        _save_list_download(app_url, page, server_drawings_db, tmp_path)


def _save_list_download(app_url, page, database: Path, tmp_path: Path):
    import re

    import numpy as np
    from playwright.sync_api import expect

    from digitlib.collection import list_drawings, load_canvas, opened

    index, label = SAMPLES[0]
    open_app(page, app_url)
    draw(page, load_records([index])[index]["canvas_strokes"])
    expect(prediction(page).get_by_test_id("stMetricValue")).to_have_text(str(label), timeout=FIRST_PREDICTION_S * 1000)
    wait_for_script(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Wrong? Tell me the right digit").click()
    page.get_by_role("option", name=str(label), exact=True).click()
    wait_for_script(page)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(f"Saved as a {label}.")).to_be_visible(timeout=PREDICTION_S * 1000)
    with opened(database, create=False) as connection:
        (saved,) = list_drawings(connection)
        canvas = load_canvas(connection, saved.id)
    assert (saved.label, saved.predicted) == (label, label) and saved.input.max() == 1.0, "the drawing as the model read it"
    assert canvas.shape[:2] == (CANVAS_SIZE, CANVAS_SIZE), "the canvas as the browser sent it"

    page.get_by_role("link", name="See your drawings").click()
    wait_for_script(page)
    expect(page.get_by_text(re.compile(rf"^{label} · .+ said {label} "))).to_be_visible(timeout=PAGE_LOAD_S * 1000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download .npz").click()
    target = tmp_path / "your_drawings.npz"
    download.value.save_as(target)
    with np.load(target) as exported:
        assert exported["labels"].tolist() == [label]
        image = exported["images"][0]
    assert image.shape == (CANVAS_SIZE, CANVAS_SIZE) and image.dtype == np.uint8
    assert image.max() == 255 and image[0, 0] == 0, "white ink on a black background, like drawn_dev"
