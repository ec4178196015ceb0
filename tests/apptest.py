"""Running the app's pages through Streamlit's AppTest, and reading what they show."""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from conftest import ROOT

APP = str(ROOT / "app.py")
RUN_TIMEOUT = 120  # s: a page's first run loads a model and MNIST
DIGIT_CANVAS, NUMBER_CANVAS = "digit_canvas", "number_canvas"
FIGURE = re.compile(
    r'<figure class="pic"[^>]*><img[^>]*src="data:image/png;base64,([^"]+)"[^>]*>'
    r"(?:<figcaption>(.*?)</figcaption>)?"
)
BAR = re.compile(r'<span>([^<]+)</span><div class="track".*?<span class="value">([^<]+)</span>')


def app(monkeypatch, models: Path, page: str | None = None):
    """The app, run once on `page` (default: the home page), reading models from `models`."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DIGITLIB_MODELS", str(models))
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    if page is not None:
        at.switch_page(page)
    return run(at)


def run(at):
    """Run the app again and check that nothing crashed."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric_values(at) -> dict[str, str]:
    """Label -> shown value of every st.metric."""
    return {m.label: m.value for m in at.metric}


def texts(elements) -> str:
    """All the text of some elements, joined."""
    return "\n".join(str(e.value) for e in elements)


def pictures(at) -> list[tuple[str, np.ndarray]]:
    """(caption, pixels) of every picture the page shows inline, in order."""
    found = []
    for element in at.get("html"):
        for data, caption in FIGURE.findall(element.proto.body):
            pixels = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_UNCHANGED)
            if pixels.ndim == 3:
                pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
            found.append((html.unescape(caption), pixels))
    return found


def shown_bars(body: str) -> dict[str, str]:
    """Answer -> shown probability of every probability bar in some HTML."""
    return {name: html.unescape(value) for name, value in BAR.findall(body)}


def bars(at) -> dict[str, str]:
    """Answer -> shown probability of every probability bar on the page."""
    return {
        name: value for element in at.get("html") for name, value in shown_bars(element.proto.body).items()
    }


def captions(at) -> list[str]:
    """The captions of every picture the page shows inline."""
    return [caption for caption, _ in pictures(at)]


def picture(at, caption_start: str) -> np.ndarray:
    """The pixels of the one picture whose caption starts with `caption_start`."""
    (found,) = [pixels for caption, pixels in pictures(at) if caption.startswith(caption_start)]
    return found


@cache
def recorded_strokes(path: str) -> tuple[dict, ...]:
    """Every record of drawn_dev.jsonl.gz: label, institution and the pen strokes in canvas pixels."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return tuple(json.loads(line) for line in lines)


def canvas_strokes(record: dict, width: float | None = None, dx: float = 0.0) -> list[dict]:
    """A record's strokes as the canvas sends them, moved `dx` pixels to the right."""
    pen = record["stroke_width"] if width is None else width
    return [{"width": pen, "points": [[x + dx, y] for x, y in stroke]} for stroke in record["canvas_strokes"]]


def ink_of(strokes: list[dict], width: int = 280) -> np.ndarray:
    """Oracle: the strokes drawn as the app draws them."""
    from digitlib.strokes import PenStroke, draw_strokes

    return draw_strokes([PenStroke(np.asarray(s["points"], float), s["width"]) for s in strokes], 280, width)


def draw(at, strokes: list[dict], key: str = DIGIT_CANVAS):
    """Put strokes on the page's canvas, as the browser sends them after a stroke, and rerun."""
    epoch = at.session_state[f"{key}_strokes"]["epoch"] if f"{key}_strokes" in at.session_state else 0
    at.session_state[key] = {"drawing": {"epoch": epoch, "strokes": strokes}}
    return run(at)
