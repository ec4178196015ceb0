"""Server CPU per stroke on the Draw page, in a real browser.

Starts `streamlit run app.py` on a free port, opens it in one headless Chromium page (1200x900) and replays
real pen strokes from drawn_dev.jsonl.gz with the mouse: single-stroke digits that the app's default model
reads right when drawn alone, Clear pressed between digits. After 3 warm-up strokes it measures, for each
stroke, the server's CPU time (user + system, from /proc, of the streamlit process and its children) from
just before the mouse-down until the answer is on screen and the app is idle, and reports the mean per
stroke ("server CPU ms per stroke"; /proc counts in clock ticks, usually 10 ms, so only the mean over many
strokes means much; the Clear reruns are counted apart). In the page, a MutationObserver timestamps
(performance.now()) every pointer-up (a stroke's end: the canvas sends its strokes then) and every change
of the answer: the Prediction metric's value, or the "not a digit" error or "Not sure" warning; stroke end
to answer is the time between the two, up to the DOM change (not the paint after it). Also: the server's
resident memory (VmRSS) before and after the measured strokes, and the time from launching `streamlit run`
to its health check answering and to the canvas being visible in the page (Chromium is started first, so
its own start-up is not included).

Not measured: the browser's own CPU, network latency (all on 127.0.0.1), and more than one session at a
time (see bench_load.py). Prints one line per stroke and, as its last line, one JSON object of all figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # digitlib, and the browser tests' server helpers
from browser import CHROMIUM_ARGS, AppServer, serving  # noqa: E402

from digitlib.strokes import CANVAS_SIZE, PEN_WIDTH  # noqa: E402

STROKES_FILE = "drawn_dev.jsonl.gz"
MIN_CONFIDENCE = 0.9  # a margin, so the mouse's rounding of the points cannot change the answer
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1200, "height": 900}

# Installed in the page before the app loads: browser-clock timestamps of every pointer-up (a stroke's end)
# and of every change of the answer shown (the Prediction metric's value, "not a digit", "not sure", or null
# when there is none).
PROBE_JS = """
(() => {
  const probe = { ups: [], answers: [] };
  window.__probe = probe;
  // pointerup, not mouseup: the canvas cancels the mouse events by preventing pointerdown's default.
  window.addEventListener("pointerup", () => probe.ups.push(performance.now()), true);
  const answer = () => {
    for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
      const label = metric.querySelector('[data-testid="stMetricLabel"]');
      const value = metric.querySelector('[data-testid="stMetricValue"]');
      if (label && value && label.textContent.trim() === "Prediction") return value.textContent.trim();
    }
    for (const alert of document.querySelectorAll('[data-testid^="stAlertContent"]')) {
      if (alert.textContent.includes("doesn't look like a digit")) return "not a digit";
      if (alert.textContent.includes("Not sure")) return "not sure";
    }
    return null;
  };
  let last;
  new MutationObserver(() => {
    const shown = answer();
    if (shown !== last) { last = shown; probe.answers.push([performance.now(), shown]); }
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""

# True once the app is idle and the answer has changed since the last stroke's end to an answer or, when
# `cleared`, since `since` to none. (The app's script state alone is not enough: a short run can flip it to
# running and back within one frame.)
SETTLED_JS = """
({ cleared, since }) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
  const probe = window.__probe;
  const after = cleared ? since : probe.ups[probe.ups.length - 1];
  const changes = probe.answers.filter(([t]) => t >= after).map(([, value]) => value);
  if (cleared) return changes.length > 0 && changes[changes.length - 1] === null;
  return changes.some((value) => value !== null);
}
"""


@dataclass(frozen=True)
class Sample:
    """One recorded drawing: its index in the file, its digit and its single stroke in canvas pixels."""

    index: int
    label: int
    stroke: list[list[float]]


def strokes_path() -> Path:
    """drawn_dev.jsonl.gz: $DIGITLIB_DRAWN_STROKES, else beside $DIGITLIB_MNIST, else in ../shared/data."""
    if os.environ.get("DIGITLIB_DRAWN_STROKES"):
        return Path(os.environ["DIGITLIB_DRAWN_STROKES"])
    mnist = os.environ.get("DIGITLIB_MNIST")
    return Path(mnist).parent / STROKES_FILE if mnist else ROOT.parent / "shared" / "data" / STROKES_FILE


def app_model() -> str:
    """The model the app's sidebar picks by default: DEFAULT_MODEL if trained, else the first available."""
    from digitlib.artifacts import available_models
    from digitlib.registry import preferred_model

    names = available_models()
    if not names:
        sys.exit("no trained model in the models folder: the app cannot answer")
    return preferred_model(names)


def read_right(predictor: Any, stroke: list[list[float]], label: int) -> bool:
    """Whether the app answers `label`, with a margin, for this stroke drawn alone with the default brush."""
    from digitlib.strokes import pen_strokes

    read = predictor.read_strokes(pen_strokes([stroke], PEN_WIDTH), CANVAS_SIZE, CANVAS_SIZE)
    if read is None or read.blocked:
        return False
    answer = read.answer
    return answer.sure and answer.digit == label and answer.confidence >= MIN_CONFIDENCE


def read_samples(path: Path, count: int, model: str) -> list[Sample]:
    """`count` different single-stroke drawings that `model` reads right alone, their digits cycling 0-9."""
    from digitlib.serving import Predictor

    predictor = Predictor(model)
    wanted = {digit: -(-(count - digit) // 10) for digit in range(10)}  # how many of each digit
    found: dict[int, list[Sample]] = {digit: [] for digit in range(10)}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            record = json.loads(line)
            label, strokes = record["label"], record["canvas_strokes"]
            if len(strokes) != 1 or len(found[label]) >= wanted[label]:
                continue
            if read_right(predictor, strokes[0], label):
                found[label].append(Sample(index, label, strokes[0]))
            if all(len(found[d]) >= wanted[d] for d in range(10)):
                break
    short = {d: wanted[d] - len(found[d]) for d in range(10) if len(found[d]) < wanted[d]}
    if short:
        sys.exit(f"{path} has too few single-stroke drawings read right: missing {short} (digit: count)")
    return [found[n % 10][n // 10] for n in range(count)]


def process_tree(pid: int) -> list[int]:
    """`pid` and its living descendants."""
    pids, index = [pid], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                pids += [int(child) for child in (task / "children").read_text().split()]
        index += 1
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its children (living, and exited ones it has waited for)."""
    ticks = 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            # Fields after the command name, which may hold spaces: utime is the 14th field, cutime the 16th.
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(value) for value in fields[11 : 15 if each == pid else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of `pid` and its living descendants, in MiB."""
    kib = 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/{each}/status").read_text().splitlines()
            kib += next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
    return kib / 1024


def log_problems(log: Path) -> list[str]:
    """The server log's lines that mention a traceback or an error."""
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if "Traceback" in line or "Error" in line]


def spread(values_ms: list[float]) -> dict[str, float | None]:
    """p50, p95 and max of some milliseconds (None when there are none)."""
    if not values_ms:
        return {"p50": None, "p95": None, "max": None}
    p50, p95 = np.percentile(values_ms, [50, 95])
    return {"p50": rounded(float(p50)), "p95": rounded(float(p95)), "max": rounded(max(values_ms))}


def rounded(value: float | None, digits: int = 1) -> float | None:
    """`value` rounded, None kept."""
    return None if value is None else round(value, digits)


def rounded_floats(figures: dict[str, Any]) -> dict[str, Any]:
    """`figures` with its float values rounded to 0.1."""
    return {key: rounded(value) if isinstance(value, float) else value for key, value in figures.items()}


def draw(page: Any, stroke: list[list[float]]) -> None:
    """Draw one stroke on the canvas with real mouse events: move to its start, down, moves, up."""
    box = page.locator("canvas.ink").bounding_box()
    scale = box["width"] / CANVAS_SIZE
    points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in stroke]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point)
    page.mouse.up()


def stroke_and_answer(page: Any, server: AppServer, sample: Sample, timeout_s: float) -> dict[str, Any]:
    """Draw a sample and wait until its answer is shown and the app is idle: the answer, its latency, CPU."""
    cpu = cpu_seconds(server.process.pid)
    draw(page, sample.stroke)
    page.wait_for_function(SETTLED_JS, arg={"cleared": False, "since": 0}, timeout=timeout_s * 1000)
    cpu = cpu_seconds(server.process.pid) - cpu
    probe = page.evaluate("window.__probe")
    up = probe["ups"][-1]
    at, answer = next((t, value) for t, value in probe["answers"] if t >= up and value is not None)
    right = answer == str(sample.label)
    return {
        "index": sample.index,
        "label": sample.label,
        "answer": answer,
        "right": right,
        "latency_ms": at - up,
        "cpu_ms": cpu * 1000,
    }


def clear(page: Any, server: AppServer, timeout_s: float) -> float:
    """Press Clear and wait until no answer is shown and the app is idle; the server's CPU ms for it."""
    cpu = cpu_seconds(server.process.pid)
    since = page.evaluate("performance.now()")
    page.get_by_role("button", name="Clear", exact=True).click()
    page.wait_for_function(SETTLED_JS, arg={"cleared": True, "since": since}, timeout=timeout_s * 1000)
    return (cpu_seconds(server.process.pid) - cpu) * 1000


def describe(stroke: dict[str, Any]) -> str:
    """One stroke's line of the report."""
    mark = "right" if stroke["right"] else f"WRONG (expected {stroke['label']})"
    return (
        f"sample {stroke['index']:>4}: answered {stroke['answer']!r} {mark}, stroke end -> answer "
        f"{stroke['latency_ms']:.0f} ms, server CPU {stroke['cpu_ms']:.0f} ms"
    )


def open_page(browser: Any, server: AppServer, timeout_s: float) -> tuple[Any, float]:
    """A page of its own with the probe, showing the app; seconds from launching the server to the canvas."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    page.goto(server.url, wait_until="commit")
    page.locator("canvas.ink").wait_for(state="visible", timeout=timeout_s * 1000)
    visible_s = time.monotonic() - server.launched
    idle = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
    idle.wait_for(timeout=timeout_s * 1000)
    return page, visible_s


def measure(
    browser: Any, server: AppServer, samples: list[Sample], warm_up: int, timeout_s: float
) -> dict[str, Any]:
    """Open the app, warm up, then draw and clear each measured sample; every figure, by name."""
    pid = server.process.pid
    rss_idle = rss_mib(pid)
    page, visible_s = open_page(browser, server, timeout_s)
    print(f"streamlit run -> health check {server.health_s:.2f} s, -> canvas visible {visible_s:.2f} s")
    warm = []
    for sample in samples[:warm_up]:
        warm.append(stroke_and_answer(page, server, sample, timeout_s))
        print(f"warm-up {describe(warm[-1])}")
        clear(page, server, timeout_s)
    rss_before, strokes, clears = rss_mib(pid), [], []
    for sample in samples[warm_up:]:
        strokes.append(stroke_and_answer(page, server, sample, timeout_s))
        print(describe(strokes[-1]))
        clears.append(clear(page, server, timeout_s))
    rss_after = rss_mib(pid)
    page.context.close()
    latencies = [stroke["latency_ms"] for stroke in strokes]
    return {
        "strokes": len(strokes),
        "right": sum(stroke["right"] for stroke in strokes),
        "server_cpu_ms_per_stroke": rounded(statistics.mean(stroke["cpu_ms"] for stroke in strokes)),
        "server_cpu_ms_per_clear": rounded(statistics.mean(clears)),
        "stroke_end_to_answer_ms": spread(latencies),
        "server_rss_mib": {
            "idle_after_start": rounded(rss_idle),
            "before_strokes": rounded(rss_before),
            "after_strokes": rounded(rss_after),
        },
        "start_up_s": {"health_check": round(server.health_s, 3), "canvas_visible": round(visible_s, 3)},
        "warm_up": [rounded_floats(stroke) for stroke in warm],
        "per_stroke": [rounded_floats(stroke) for stroke in strokes],
    }


def summary(figures: dict[str, Any]) -> str:
    """The report's main figures, a few lines."""
    latency, rss = figures["stroke_end_to_answer_ms"], figures["server_rss_mib"]
    return "\n".join(
        [
            f"{figures['right']}/{figures['strokes']} strokes answered right; server CPU per stroke "
            f"{figures['server_cpu_ms_per_stroke']} ms (per Clear {figures['server_cpu_ms_per_clear']} ms)",
            f"stroke end -> answer p50 {latency['p50']} ms, p95 {latency['p95']} ms, max {latency['max']} ms",
            f"server RSS MiB: idle {rss['idle_after_start']}, before the strokes {rss['before_strokes']}, "
            f"after {rss['after_strokes']}; load average before and after {figures['load_average_1m']}",
            f"{len(figures['server_log_problems'])} lines with Traceback or Error in the server log",
        ]
    )


def finish(
    figures: dict[str, Any],
    problems: list[str],
    load_before: float,
    summarise: Callable[[dict[str, Any]], str],
    out: Path | None,
) -> None:
    """Print the summary, the log's problems and the JSON report (last); write it to `out` if given."""
    from digitlib.artifacts import machine_description

    # The machine's 1-minute load average before and after: timings on a busy machine mean little.
    figures |= {
        "load_average_1m": [load_before, round(os.getloadavg()[0], 2)],
        "server_log_problems": problems,
    }
    figures["machine"] = machine_description()
    print(summarise(figures))
    for line in problems[:20]:
        print(f"  log: {line}")
    if out:
        out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))


def main() -> None:
    """Parse the options, run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--strokes", type=int, default=12, help="measured strokes (default 12)")
    parser.add_argument("--warm-up", type=int, default=3, help="strokes before measuring (default 3)")
    parser.add_argument("--drawings", type=Path, default=strokes_path(), help="drawn_dev.jsonl.gz")
    parser.add_argument("--out", type=Path, help="also write the JSON report there (for `digitlib report`)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for each answer")
    args = parser.parse_args()
    if args.strokes < 1:
        parser.error("--strokes must be at least 1")

    from playwright.sync_api import sync_playwright

    load_before = round(os.getloadavg()[0], 2)
    model = app_model()
    samples = read_samples(args.drawings, args.warm_up + args.strokes, model)
    print(f"model {model}; {len(samples)} single-stroke drawings from {args.drawings}")
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with serving(Path(folder)) as server:
            figures = measure(browser, server, samples, args.warm_up, args.timeout)
        browser.close()
        problems = log_problems(server.log)
    finish(figures | {"model": model}, problems, load_before, summary, args.out)


if __name__ == "__main__":
    main()
