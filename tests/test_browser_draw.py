"""Mouse drawing in a real browser: recorded pen strokes in, the model's answer out, every stroke landing."""

from __future__ import annotations

import re

import numpy as np
import pytest
from apptest import canvas_strokes, ink_of, recorded_strokes
from browser import (
    EDGE_STARTS,
    answer,
    canvas_box,
    clear,
    draw_record,
    inked_pixels,
    mouse_stroke,
    new_page,
    on_page,
    open_app,
    straight,
    touch_stroke,
    wait_for_answer,
)

from digitlib.strokes import PEN_WIDTH


@pytest.fixture(scope="module")
def served_model():
    """Oracle: the model the app serves by default (the default model if trained, else the first one)."""
    from digitlib.artifacts import available_models
    from digitlib.registry import DEFAULT_MODEL
    from digitlib.serving import Predictor

    names = available_models()
    return Predictor(DEFAULT_MODEL if DEFAULT_MODEL in names else names[0])


@pytest.fixture(scope="module")
def clear_digits(served_model, strokes_file) -> list[dict]:
    """Recorded digits the served model reads right and very surely alone, drawn with the page's brush."""
    chosen = []
    for record in recorded_strokes(strokes_file)[:400]:
        said = served_model.read_drawing(ink_of(canvas_strokes(record, width=PEN_WIDTH))).answer
        if said.sure and said.digit == record["label"] and said.confidence > 0.97:
            chosen.append(record)
    return chosen


def prediction(text: str) -> str | None:
    """The digit in an answer's text ("Prediction\\n7|..."), or None when it gave none."""
    for part in text.split("|"):
        if part.startswith("Prediction"):
            return [line.strip() for line in part.splitlines() if line.strip()][-1]
    return None


def test_recorded_digits_drawn_with_the_mouse_get_the_right_answer(browser, server, clear_digits):
    page = open_app(browser, server.url)
    one_stroke = [r for r in clear_digits if len(r["canvas_strokes"]) == 1][:2]
    two_strokes = [r for r in clear_digits if len(r["canvas_strokes"]) == 2][:1]
    for record in one_stroke + two_strokes:
        assert prediction(draw_record(page, record)) == str(record["label"])
        clear(page)
        assert "Draw a digit from 0 to 9" in answer(page)


def test_every_stroke_lands_from_the_corners_and_edges_even_pressed_at_once(browser, server):
    page = open_app(browser, server.url)
    for where, (start, end) in EDGE_STARTS.items():
        before = answer(page)
        mouse_stroke(page, straight(start, end, 8), rest=False)  # pressed at once: no hover first
        assert wait_for_answer(page, before) != before, f"the stroke from the {where} was lost"


def test_undo_takes_back_one_stroke_and_clear_empties_the_canvas(browser, server, clear_digits):
    page = open_app(browser, server.url)
    record = next(r for r in clear_digits if len(r["canvas_strokes"]) == 2)
    before = answer(page)
    mouse_stroke(page, [tuple(p) for p in record["canvas_strokes"][0]])
    first = wait_for_answer(page, before)
    mouse_stroke(page, [tuple(p) for p in record["canvas_strokes"][1]])
    both = wait_for_answer(page, first)
    page.get_by_role("button", name="Undo").click()
    assert wait_for_answer(page, both) == first, "back to the answer for the first stroke alone"
    clear(page)
    assert "Draw a digit from 0 to 9" in answer(page)


@pytest.mark.parametrize("button", ["Clear", "Undo"])
def test_a_stroke_under_the_pen_while_undo_or_clear_arrives_lands(browser, server, button):
    """Oracle: the same page's answer and ink for the strokes that should remain, drawn after a Clear."""
    page = open_app(browser, server.url)
    first, second, third = (straight((60, 40), (60, 240), 12), straight((140, 40), (140, 240), 12),
                            straight((40, 140), (240, 140), 20))  # fmt: skip
    for stroke in (first, second):
        before = answer(page)
        mouse_stroke(page, stroke)
        wait_for_answer(page, before)
    before = answer(page)
    (x0, y0), *rest = on_page(page, third)
    page.mouse.move(x0, y0)
    page.mouse.down()
    # The button is pressed from the keyboard while the pen is down, so that the page's answer to it always
    # arrives in the middle of the stroke, however fast the server is.
    page.get_by_role("button", name=button).focus()
    page.keyboard.press("Enter")
    for x, y in rest:
        page.wait_for_timeout(25)
        page.mouse.move(x, y)
    page.mouse.up()
    said, ink = wait_for_answer(page, before), inked_pixels(page)
    clear(page)
    for stroke in [first, third] if button == "Undo" else [third]:
        before = answer(page)
        mouse_stroke(page, stroke)
        wait_for_answer(page, before)
    assert (said, ink) == (answer(page), inked_pixels(page)), f"the stroke drawn during {button} was lost"


def test_a_second_click_on_the_chosen_mode_keeps_it_chosen(browser, server):
    from playwright.sync_api import expect

    page = open_app(browser, server.url)
    for name, other in (("One digit", "A number"), ("Draw", "Photo")):
        page.get_by_role("radio", name=name, exact=True).click()
        page.wait_for_timeout(300)
        expect(page.get_by_role("radio", name=name, exact=True)).to_have_attribute("aria-checked", "true")
        expect(page.get_by_role("radio", name=other, exact=True)).to_have_attribute("aria-checked", "false")
    expect(page.locator("h1").first).to_have_text("Draw a digit")


def test_people_drawing_at_once_each_get_the_answer_to_their_own_drawing(browser, server, clear_digits):
    by_label = {}
    for record in clear_digits:
        if len(record["canvas_strokes"]) == 1:
            by_label.setdefault(record["label"], record)
    records = list(by_label.values())[:4]
    pages = [open_app(browser, server.url) for _ in records]
    befores = [answer(page) for page in pages]
    for page, record in zip(pages, records):  # every stroke is sent before any answer is awaited
        mouse_stroke(page, [tuple(p) for p in record["canvas_strokes"][0]])
    for page, record, before in zip(pages, records, befores):
        assert prediction(wait_for_answer(page, before)) == str(record["label"])
    for page in pages:
        page.context.close()


def test_a_number_is_read_on_the_wide_canvas(browser, server, clear_digits):
    page = open_app(browser, server.url)
    # Wide enough that the row once fitted a sliver of a column beside the wide canvas.
    page.set_viewport_size({"width": 1280, "height": 900})
    before = answer(page)
    page.get_by_text("A number", exact=True).click()
    page.locator("canvas.ink[width='560']").wait_for()
    wait_for_answer(page, before)
    records = [r for r in clear_digits if len(r["canvas_strokes"]) == 1][:3]
    ends = []
    for column, record in enumerate(records):
        points = np.asarray(record["canvas_strokes"][0], float)
        low, high = points.min(axis=0), points.max(axis=0)
        placed = (points - low) * (150 / (high[1] - low[1])) + [20 + 180 * column, 60]
        mouse_stroke(page, [tuple(p) for p in placed.round(1)])
        ends.append(placed[:, 0].max())
    mouse_stroke(page, [((ends[0] + 200) / 2, 200.0)])  # a click low between the first two: a decimal point
    expected = f"{records[0]['label']}.{records[1]['label']}{records[2]['label']}"
    page.get_by_test_id("stMetricValue").filter(has_text=expected).wait_for(timeout=20_000)
    canvas = page.locator("canvas.ink").bounding_box()
    assert page.get_by_test_id("stMetricValue").bounding_box()["y"] > canvas["y"] + canvas["height"], (
        "the reading below the wide canvas, not squeezed beside it"
    )
    digits = page.locator("figure.pic").filter(has_text=" · ")
    assert digits.count() == 3
    assert len({round(digits.nth(i).bounding_box()["y"]) for i in range(3)}) == 1, "the digits side by side"


def ink_pixels(page) -> int:
    """How many pixels of the canvas shown have ink on them."""
    return page.locator("canvas.ink").evaluate(
        "(c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
        ".filter((v, i) => i % 4 === 0 && v > 128).length"
    )


def test_the_drawing_is_still_there_after_a_visit_to_another_mode_or_page(browser, server, clear_digits):
    page = open_app(browser, server.url)
    record = next(r for r in clear_digits if len(r["canvas_strokes"]) == 2)
    said = prediction(draw_record(page, record))
    drawn = ink_pixels(page)
    for away, shown, back in (
        ("A number", "canvas.ink[width='560']", "One digit"),
        ("Photo", "input[type=file]", "Draw"),
    ):
        page.get_by_role("radio", name=away, exact=True).click()
        page.locator(shown).wait_for(state="attached", timeout=30_000)
        page.get_by_role("radio", name=back, exact=True).click()
        page.locator("canvas.ink[width='280']").wait_for()
        assert prediction(wait_for_answer(page)) == said
        assert ink_pixels(page) == drawn, f"the canvas lost the drawing that is answered, back from {away}"
    page.get_by_role("link", name="Dataset", exact=True).click()
    page.locator('[data-testid="stMain"] h1', has_text="Dataset").wait_for(timeout=30_000)
    page.get_by_role("link", name="Draw", exact=True).click()
    page.locator("canvas.ink").wait_for(timeout=30_000)
    assert prediction(wait_for_answer(page)) == said
    assert ink_pixels(page) == drawn, "the canvas lost the drawing that is answered, back from Dataset"
    before = answer(page)
    page.get_by_role("button", name="Undo").click()
    wait_for_answer(page, before)
    assert 0 < ink_pixels(page) < drawn, "Undo takes back the second stroke, not the whole drawing"
    page.context.close()


def test_a_right_digit_picked_in_the_browser_is_emptied_when_the_drawing_changes(
    browser, server, clear_digits
):
    from playwright.sync_api import expect

    page = open_app(browser, server.url)
    draw_record(page, clear_digits[0])
    picker = page.get_by_role("combobox", name="Keep it with its right digit")
    save = page.get_by_role("button", name="Save")
    for change in ("stroke", "undo"):
        picker.click()
        picker.press("ArrowDown")  # opens the list of digits
        page.get_by_role("option", name="7", exact=True).click()
        expect(picker).to_have_value("7")
        expect(save).to_be_enabled()
        before = answer(page)
        if change == "stroke":
            page.locator("canvas.ink").scroll_into_view_if_needed()  # the picker may sit below it
            mouse_stroke(page, straight((30, 250), (250, 250), 10))
        else:
            page.get_by_role("button", name="Undo").click()
        wait_for_answer(page, before)
        expect(picker, f"a 7 picked for the drawing before the {change} still shown").to_have_value("")
        expect(save).to_be_disabled()
    page.context.close()


@pytest.mark.parametrize(("width", "beside"), [(1200, False), (1280, True)])
def test_a_digit_is_read_beside_the_canvas_only_where_its_reading_has_room(browser, server, width, beside):
    page = open_app(browser, server.url)
    page.set_viewport_size({"width": width, "height": 900})
    before = answer(page)
    mouse_stroke(page, straight((140, 40), (140, 240), 10))
    wait_for_answer(page, before)
    canvas = page.locator("canvas.ink").bounding_box()
    reading = page.locator(".st-key-digit_canvas_reading").bounding_box()
    assert (reading["x"] > canvas["x"] + canvas["width"]) == beside
    assert (reading["y"] > canvas["y"] + canvas["height"]) != beside, "else below the canvas"
    assert page.locator(".bars").bounding_box()["width"] >= 180, "bars wide enough to read"
    page.context.close()


# The code of the choices above the canvas, which the browser loads only once the page shows them: until
# then Streamlit shows placeholders of another height, so the canvas moves when it arrives.
LATE_CODE = re.compile(r"/(ButtonGroup|Checkbox)\.[^/]+\.js$")
ONLY_HELD_LOADING_JS = """() =>
  document.querySelectorAll('[data-testid="stMain"] [data-testid="stSkeleton"]').length === 3
  && document.querySelector('[data-testid="stApp"]').getAttribute("data-test-script-state") === "notRunning"
"""


@pytest.mark.parametrize("finger", [False, True], ids=["mouse", "finger"])
def test_a_stroke_keeps_its_shape_when_the_page_moves_the_canvas_under_it(browser, server, finger):
    """Oracle: the same stroke drawn on a page that has finished loading."""
    stroke, draw = straight((40, 40), (240, 240), 20), touch_stroke if finger else mouse_stroke
    loaded = open_app(browser, server.url, phone=finger)
    empty = answer(loaded)
    draw(loaded, stroke)
    expected = wait_for_answer(loaded, empty), inked_pixels(loaded)
    loaded.context.close()

    page, held = new_page(browser, phone=finger), []

    def hold_late_code(route) -> None:
        """Held back until the page shows the canvas, as on a slow network."""
        if LATE_CODE.search(route.request.url):
            held.append(route)
        else:
            route.continue_()

    def finish_loading() -> None:
        for route in held:
            route.continue_()
        page.unroute("**/*.js", hold_late_code)  # nothing held from now on
        page.get_by_role("radio", name="A number", exact=True).wait_for()
        page.get_by_text("Teach it your handwriting").wait_for()

    page.route("**/*.js", hold_late_code)
    page.goto(server.url)
    page.get_by_text("Draw a digit from 0 to 9").wait_for(timeout=60_000)
    # Drawn once nothing else is to load: only the held choices, two segmented controls and a toggle.
    page.wait_for_function(ONLY_HELD_LOADING_JS, timeout=60_000)
    assert sorted(LATE_CODE.search(route.request.url)[1] for route in held) == ["ButtonGroup", "Checkbox"]
    shown = canvas_box(page)
    draw(page, stroke, halfway=finish_loading)
    assert canvas_box(page)["y"] != shown["y"], "the canvas did not move: this test no longer tests anything"
    drawn = wait_for_answer(page, empty), inked_pixels(page)
    assert drawn == expected, "the stroke bent where the canvas moved"
    page.context.close()
