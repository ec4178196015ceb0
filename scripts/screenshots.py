"""Retake the screenshots in docs/screenshots/ from a fresh `streamlit run app.py`, drawing real pen strokes.

Run from the project root with DIGITLIB_MNIST set: `python scripts/screenshots.py`. It drives the same
headless Chromium as the real-browser tests (tests/browser.py) and prints the files it wrote.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM_ARGS, answer, mouse_stroke, open_app, serving, wait_for_answer  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

OUT = ROOT / "docs" / "screenshots"
SETTLE_MS = 1500  # charts and images finish drawing a moment after the script's run ends
# A clear 3 from the recorded strokes, and three digits for a number.
DIGIT, NUMBER = 8, (140, 179, 341)


def records() -> list[dict]:
    """The recorded pen strokes of drawn_dev."""
    path = Path(os.environ["DIGITLIB_MNIST"]).parent / "drawn_dev.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def draw(page: Page, strokes: list[list[list[float]]], dx: float = 0.0, scale: float = 1.0) -> None:
    """Draw strokes with the mouse, moved and scaled, and wait for the answer."""
    before = answer(page)
    for stroke in strokes:
        mouse_stroke(page, [(x * scale + dx, y * scale) for x, y in stroke])
    wait_for_answer(page, before)


def shoot(page: Page, name: str) -> None:
    """A screenshot of the page as shown, at most 3,000 px tall."""
    page.wait_for_timeout(SETTLE_MS)
    height = min(3000, page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight"))
    page.set_viewport_size({"width": page.viewport_size["width"], "height": max(height, 600)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(OUT / f"{name}.png")


def main() -> None:
    """Screenshot every page of the app, with drawings on the Draw page."""
    from playwright.sync_api import sync_playwright

    recorded = records()
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as folder,
        serving(Path(folder)) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = open_app(browser, server.url)
        draw(page, recorded[DIGIT]["canvas_strokes"])
        shoot(page, "draw")
        phone = open_app(browser, server.url, phone=True)
        draw(phone, recorded[DIGIT]["canvas_strokes"])
        phone.screenshot(path=str(OUT / "phone.png"))
        print(OUT / "phone.png")
        page = open_app(browser, server.url)
        page.get_by_text("A number", exact=True).click()
        page.locator("canvas.ink[width='560']").wait_for()
        for column, index in enumerate(NUMBER):
            draw(page, recorded[index]["canvas_strokes"], dx=165 * column - 10, scale=0.8)
        shoot(page, "number")
        for name in ("dataset", "training", "evaluation", "misclassified"):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{server.url}/{name}")
            page.locator('[data-testid="stMain"] h1').wait_for(timeout=60_000)
            shoot(page, name)


if __name__ == "__main__":
    main()
