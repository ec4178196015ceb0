"""On a phone: the canvas fits the screen, the answer sits right below, a finger draws from anywhere on it."""

from __future__ import annotations

from browser import PHONE, answer, canvas_box, open_app, touch_stroke, wait_for_answer

# Short strokes starting in each corner and along the top edge, where the old canvas's hidden toolbar sat.
STARTS = {
    "top-left corner": [(3, 3), (40, 50)],
    "top-right corner": [(277, 3), (240, 50)],
    "bottom-left corner": [(3, 277), (40, 230)],
    "bottom-right corner": [(277, 277), (240, 230)],
    "middle of the top edge": [(140, 2), (150, 60)],
    "top edge, right third": [(210, 2), (200, 60)],
}


def steps(points: list[tuple[float, float]], count: int = 10) -> list[tuple[float, float]]:
    """A straight stroke from the first point to the last, as a finger's touch moves."""
    (x0, y0), (x1, y1) = points
    return [(x0 + (x1 - x0) * i / (count - 1), y0 + (y1 - y0) * i / (count - 1)) for i in range(count)]


def test_every_touch_stroke_lands_from_the_corners_and_the_top_edge(browser, server):
    page = open_app(browser, server.url, phone=True)
    for where, points in STARTS.items():
        before = answer(page)
        touch_stroke(page, steps(points))
        assert wait_for_answer(page, before) != before, f"the stroke from the {where} was lost"
    page.context.close()


def test_on_a_phone_the_canvas_fits_and_the_answer_is_right_below_it(browser, server):
    page = open_app(browser, server.url, phone=True)
    box = canvas_box(page)
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], "the whole canvas is on screen"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    for name in ("Undo", "Clear"):
        assert page.get_by_role("button", name=name).is_visible()
    before = answer(page)
    touch_stroke(page, steps([(140, 40), (140, 240)]))
    wait_for_answer(page, before)
    said = page.locator(
        '[data-testid="stMain"] [data-testid="stMetric"], [data-testid="stMain"] [data-testid="stAlert"]'
    ).first
    top = said.bounding_box()["y"]
    assert box["y"] + box["height"] <= top <= box["y"] + box["height"] + 250, "the answer follows the canvas"
    page.locator("canvas.ink").evaluate("canvas => canvas.scrollIntoView({block: 'start'})")
    shown = said.bounding_box()
    assert shown["y"] + shown["height"] <= PHONE["height"], "canvas and answer on one screen"
    page.context.close()
