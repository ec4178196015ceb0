"""On a phone: the canvas fits the screen, the answer sits right below, a finger draws from anywhere on it."""

from __future__ import annotations

from apptest import recorded_strokes
from browser import (
    EDGE_STARTS,
    PHONE,
    answer,
    canvas_box,
    inked_pixels,
    open_app,
    straight,
    touch_stroke,
    wait_for_answer,
    wait_for_blank_canvas,
)

from digitlib.collection import list_drawings, opened


def test_every_touch_stroke_lands_from_the_corners_and_the_top_edge(browser, server):
    page = open_app(browser, server.url, phone=True)
    for where, (start, end) in EDGE_STARTS.items():
        before = answer(page)
        touch_stroke(page, straight(start, end, 10))
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
    touch_stroke(page, straight((140, 40), (140, 240), 10))
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


def test_a_tap_on_undo_right_after_a_finger_stroke_takes_it_back(browser, server):
    """Oracle: the page's answer for the first stroke alone, before the second was drawn."""
    page = open_app(browser, server.url, phone=True)
    before = answer(page)
    touch_stroke(page, straight((90, 40), (90, 240), 10))
    first_alone = wait_for_answer(page, before)
    undo = page.get_by_role("button", name="Undo").bounding_box()
    tap = {"x": undo["x"] + undo["width"] / 2, "y": undo["y"] + undo["height"] / 2}
    touch_stroke(page, straight((40, 140), (240, 140), 10))
    # At once, as a finger that lifts from the canvas and taps Undo would.
    session = page.context.new_cdp_session(page)
    session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [tap]})
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    session.detach()
    page.wait_for_timeout(1000)
    assert wait_for_answer(page) == first_alone, "the tap on Undo was lost, or took back the wrong stroke"
    page.context.close()


def test_a_finger_teaches_each_digit_in_turn_on_a_clean_canvas(browser, server, strokes_file):
    """Oracle: the drawings database, which holds each taught drawing with the digit asked for."""
    records = recorded_strokes(strokes_file)
    page = open_app(browser, server.url, phone=True)
    page.get_by_text("Teach it your handwriting").click()
    page.get_by_text("0 of 10 digits taught").wait_for(timeout=20_000)
    for digit in (0, 1):
        record = next(r for r in records if r["label"] == digit)
        # Drawn on the settled page, as a person would: the end of the rerun can still move the canvas.
        before = wait_for_answer(page)
        for stroke in record["canvas_strokes"]:
            touch_stroke(page, [tuple(point) for point in stroke])
        wait_for_answer(page, before)
        assert inked_pixels(page) > 0
        page.get_by_role("button", name=f"Keep it as a {digit}").click()
        page.get_by_text(f"{digit + 1} of 10 digits taught").wait_for(timeout=20_000)
        assert wait_for_blank_canvas(page) == 0, f"the canvas is cleared after the {digit} is kept"
    with opened(server.log.parent / "drawings.sqlite3", create=False) as connection:
        assert sorted(drawing.label for drawing in list_drawings(connection, None)) == [0, 1]
    page.context.close()
