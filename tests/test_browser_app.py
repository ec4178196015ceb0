"""The whole app in a real browser: pages, server libraries, letters, and visitors' drawings kept apart."""

from __future__ import annotations

import time

import pytest
from apptest import canvas_strokes, recorded_strokes
from browser import answer, mouse_stroke, open_app, wait_for_answer

# Every page but Draw, with the tables (grids) it shows when first opened.
PAGES = {"dataset": 1, "training": 3, "evaluation": 3, "misclassified": 0, "drawings": 0}
# One of each of these letters from the letters people drew: none reads as a digit.
LETTERS = "AEHKNX"
SETTLE_S = 5  # seconds a table's grid may take to size its columns
TILES = 'button[title^="Inspect test image #"]'  # the Misclassified page's images


def overflows(page) -> list[int]:
    """How many pixels each table's grid on the page is wider than its box (0 when it fits)."""
    return page.evaluate(
        "[...document.querySelectorAll('.dvn-scroller')].map(grid => grid.scrollWidth - grid.clientWidth)"
    )


def cut_short(page, selector: str) -> list[str]:
    """The text of each element matching `selector` that is, or holds, text wider than its box."""
    return page.locator(selector).evaluate_all(
        """(found) => found
             .filter((e) => [e, ...e.querySelectorAll("*")].some((x) => x.scrollWidth > x.clientWidth))
             .map((e) => e.innerText)"""
    )


def visit(page, url: str) -> None:
    """Open a page of the app by its address and wait until its script has run."""
    page.goto(url)
    page.locator('[data-testid="stMain"] h1').wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=60_000,
    )


def draw_strokes(page, strokes: list[dict]) -> str:
    """Draw strokes given in canvas pixels with the mouse; the answer once it has settled."""
    before = answer(page)
    for stroke in strokes:
        mouse_stroke(page, [tuple(point) for point in stroke["points"]])
    return wait_for_answer(page, before)


def test_every_page_shows_its_tables_whole_and_the_server_never_loads_tensorflow(
    browser, server, strokes_file
):
    page = open_app(browser, server.url)
    draw_strokes(page, canvas_strokes(recorded_strokes(strokes_file)[8], width=18))
    for name, tables in PAGES.items():
        visit(page, f"{server.url}/{name}")
        # A table's grid scrolls sideways when its columns do not fit: a column cut off at the edge. Grids
        # appear and size themselves a moment after the run ends, so a table is judged once it has settled.
        page.wait_for_function(
            f"() => document.querySelectorAll('.dvn-scroller').length >= {tables}", timeout=30_000
        )
        widths = overflows(page)
        settled = time.monotonic() + SETTLE_S
        while max(widths, default=0) > 1 and time.monotonic() < settled:
            page.wait_for_timeout(200)
            widths = overflows(page)
        assert len(widths) == tables and max(widths, default=0) <= 1, (
            f"a table on {name} is cut off at its side: {widths}"
        )
    libraries = server.loaded_libraries()
    assert "onnxruntime" in libraries, "the model is served"
    assert "tensorflow" not in libraries.lower(), "TensorFlow was loaded into the server"
    page.context.close()


def test_no_figure_is_cut_short_on_a_small_laptop_screen(browser, server):
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    for name in ("dataset", "training", "evaluation"):
        visit(page, f"{server.url}/{name}")
        page.locator('[data-testid="stMetricValue"]').first.wait_for()
        cut = cut_short(page, '[data-testid="stMetricValue"]')
        assert not cut, f"figures on {name} end in an ellipsis: {cut}"
    page.close()


def test_a_page_opened_by_its_own_address_keeps_the_apps_navigation(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{server.url}/evaluation")
    page.locator('[data-testid="stMain"] h1', has_text="Evaluation").wait_for(timeout=60_000)
    links = page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
    assert [link.splitlines()[-1].strip() for link in links] == [
        "Draw",
        "Dataset",
        "Training",
        "Evaluation",
        "Misclassified",
        "Your drawings",
    ]
    page.context.close()


def test_letters_people_drew_are_plainly_not_digits(browser, server, shared_data_dir):
    from digitlib.registry import DEFAULT_MODEL, spec

    if not spec(DEFAULT_MODEL).knows_letters:
        pytest.skip("the default model has no 'not a digit' class")
    records = recorded_strokes(str(shared_data_dir / "nondigit_dev.jsonl.gz"))
    chosen = [next(r for r in records if r["letter"] == letter) for letter in LETTERS]
    page = open_app(browser, server.url)
    said = {}
    for record in chosen:
        said[record["letter"]] = draw_strokes(page, canvas_strokes(record, width=18))
        before = answer(page)
        page.get_by_role("button", name="Clear").click()
        wait_for_answer(page, before)
    plain = [letter for letter, text in said.items() if "doesn't look like a digit" in text]
    assert len(plain) >= len(LETTERS) - 1, f"only {plain} got the plain message: {said}"
    page.context.close()


def test_a_visitor_sees_and_deletes_only_their_own_drawings(browser, server, strokes_file):
    record = recorded_strokes(strokes_file)[8]
    theirs = (record["label"] + 1) % 10  # alice writes her `theirs` the way others write this digit
    alice, bob = open_app(browser, server.url), open_app(browser, server.url)
    draw_strokes(alice, canvas_strokes(record, width=18))
    digit = alice.get_by_test_id("stSelectbox").filter(has_text="right digit").get_by_role("combobox")
    digit.click()
    digit.press_sequentially(str(theirs))
    digit.press("Enter")
    alice.get_by_role("button", name="Save").click()
    alice.get_by_text("Saved as").wait_for(timeout=20_000)
    alice.goto(f"{server.url}/drawings")
    alice.get_by_role("button", name="Delete").first.wait_for(timeout=30_000)
    assert alice.get_by_role("button", name="Delete").count() == 1, "alice sees her drawing after a reload"
    bob.goto(f"{server.url}/drawings")
    bob.get_by_text("No drawings kept yet").wait_for(timeout=30_000)
    assert bob.get_by_role("button", name="Delete").count() == 0, "bob sees none of alice's drawings"
    # The server knows a visitor from the cookie their browser sends, before any script in the page runs.
    (token,) = [c for c in alice.context.cookies() if c["name"] == "digit-studio-visitor"]
    again = browser.new_context()
    again.add_cookies([token])
    returning = again.new_page()
    returning.goto(f"{server.url}/drawings")
    returning.get_by_role("button", name="Delete").first.wait_for(timeout=30_000)
    # Her kept drawing teaches her Draw page, not bob's.
    for page in (alice, bob):
        page.goto(server.url)
        page.locator("canvas.ink").wait_for(timeout=60_000)
        wait_for_answer(page)
    said = draw_strokes(alice, canvas_strokes(record, width=18))
    assert f"Prediction\n\n{theirs}|Like a drawing you kept" in said, said
    said = draw_strokes(bob, canvas_strokes(record, width=18))
    assert f"Prediction\n\n{record['label']}|Confidence" in said, said
    for page in (alice, bob, returning):
        page.context.close()


def test_the_photo_uploader_takes_one_photo_without_offering_more(browser, server, tmp_path):
    import cv2
    import numpy as np

    paper = np.full((300, 300), 230, np.uint8)
    cv2.putText(paper, "7", (90, 240), cv2.FONT_HERSHEY_SIMPLEX, 8, 30, 25)
    cv2.imwrite(str(tmp_path / "seven.png"), paper)
    page = open_app(browser, server.url)
    page.get_by_text("Photo", exact=True).click()
    page.locator("input[type=file]").set_input_files(str(tmp_path / "seven.png"))
    page.get_by_text("The ink found in it").wait_for(timeout=30_000)
    assert page.get_by_test_id("stFileChip").count() == 1
    assert not page.get_by_role("button", name="Add files").is_visible(), "no '+' to add a second photo"
    page.context.close()


@pytest.mark.parametrize("phone", [False, True], ids=["mouse", "touch"])
def test_clicking_a_misclassified_image_inspects_it(browser, server, phone):
    page = open_app(browser, server.url, phone=phone, path="misclassified")
    tile = page.locator(TILES).first
    tile.wait_for(timeout=60_000)
    number = tile.get_attribute("title").split("#")[1]
    tile.tap() if phone else tile.click()
    page.get_by_text(f"Test image #{number}: true").wait_for(timeout=30_000)
    assert f"inspected={number}" in page.url, "the inspected image is kept in the address"
    page.context.close()


def test_on_a_phone_no_page_is_wider_than_the_screen(browser, server):
    page = open_app(browser, server.url, phone=True, path="dataset")
    for name in ["", *PAGES]:
        visit(page, f"{server.url}/{name}")
        page.wait_for_timeout(1_000)  # charts size themselves a moment after the run ends
        overflow = page.locator('[data-testid="stMain"]').evaluate(
            "(main) => main.scrollWidth - main.clientWidth"
        )
        assert overflow <= 1, f"{name or 'draw'} scrolls sideways on a phone by {overflow} px"
    page.context.close()


def test_misclassified_shows_whole_button_labels_and_tiles_in_level_rows(browser, server):
    page = open_app(browser, server.url, path="misclassified")
    tiles = page.locator(TILES)
    tiles.first.wait_for(timeout=60_000)
    # Laid out once no element still waits for its code behind a placeholder.
    page.locator('[data-testid="stMain"] [data-testid="stSkeleton"]').first.wait_for(state="detached")
    page.wait_for_timeout(1_000)
    cut = cut_short(
        page, '[data-testid="stMain"] [data-testid="stButton"] [data-testid="stMarkdownContainer"]'
    )
    assert not cut, f"button labels cut short: {cut}"
    rows = {}
    for tile in tiles.all():
        rows.setdefault(round(tile.bounding_box()["y"]), set()).add(
            round(tile.locator("img").bounding_box()["y"])
        )
    assert all(len(tops) == 1 for tops in rows.values()), f"images of one row at different heights: {rows}"
    page.context.close()
