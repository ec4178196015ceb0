"""The Draw page in AppTest: strokes in, the library's answer out, with every view of what the model sees."""

from __future__ import annotations

import io

import numpy as np
import pytest
from apptest import (
    DIGIT_CANVAS,
    NUMBER_CANVAS,
    app,
    bars,
    canvas_strokes,
    captions,
    draw,
    ink_of,
    metric_values,
    picture,
    pictures,
    recorded_strokes,
    run,
    texts,
)
from conftest import committed, photographed
from PIL import Image

from digitlib.classes import NOT_A_DIGIT, NOT_SURE, Answer
from digitlib.pictures import as_uint8
from digitlib.serving import Predictor
from ui import drawings
from ui.text import percent


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    """A models folder with only the committed CNN."""
    return committed("cnn", folder=tmp_path_factory.mktemp("cnn"))


@pytest.fixture(scope="module")
def default_model(tmp_path_factory):
    """A models folder with only the committed default model, which knows "not a digit"."""
    from digitlib.registry import DEFAULT_MODEL

    return committed(DEFAULT_MODEL, folder=tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def records(strokes_file) -> tuple[dict, ...]:
    return recorded_strokes(strokes_file)


def reading(models, strokes: list[dict], width: int = 280):
    """Oracle: the library's stages and answer for some strokes, outside the app."""
    name = next(p.name.split(".")[0] for p in models.glob("*.onnx"))
    read = Predictor(name, models).read_drawing(ink_of(strokes, width))
    return read.stages, read.answer


def read_right(models, records, count: int, strokes: int | None = None) -> list[int]:
    """Oracle: the first records (with `strokes` strokes, if given) the model reads right and sure, alone."""
    chosen = []
    for i, record in enumerate(records[:300]):
        if strokes is not None and len(record["canvas_strokes"]) != strokes:
            continue
        _, answer = reading(models, canvas_strokes(record))
        if answer.sure and answer.digit == record["label"]:
            chosen.append(i)
        if len(chosen) == count:
            return chosen
    pytest.fail(f"fewer than {count} drawings read right")


def test_without_a_drawing_the_page_prompts_and_predicts_nothing(monkeypatch, tiny_models):
    at = app(monkeypatch, tiny_models)
    assert at.title[0].value == "Draw a digit"
    assert "Draw a digit from 0 to 9" in texts(at.info)
    assert "Prediction" not in metric_values(at)
    assert at.slider(key="brush").value == 18
    assert at.button[0].disabled and at.button[1].disabled, "nothing to undo or clear"


def show(at, view: str):
    """Turn on a view of the Draw page: "show_why" (the map of why) or "show_stages" (the recipe's steps)."""
    at.toggle(key=view).set_value(True)
    return run(at)


def test_real_drawings_get_the_librarys_answer_and_what_the_model_sees(monkeypatch, trained_cnn, records):
    at = app(monkeypatch, trained_cnn)
    for index in read_right(trained_cnn, records, 3):
        strokes = canvas_strokes(records[index])
        stages, answer = reading(trained_cnn, strokes)
        draw(at, strokes)
        assert metric_values(at) == {
            "Prediction": str(records[index]["label"]),
            "Confidence": percent(answer.confidence),
        }
        assert bars(at)[str(answer.digit)] == percent(answer.confidence), "the bar says what the answer says"
        assert np.array_equal(picture(at, "What the model sees"), as_uint8(stages.centered))
        if "show_stages" not in at.session_state or not at.session_state["show_stages"]:
            assert "Centred by mass in 28×28" not in captions(at), "the recipe's steps only when asked for"
            show(at, "show_stages")
        assert np.array_equal(picture(at, "Centred by mass in 28×28"), as_uint8(stages.centered))
        _x, _y, width, height = stages.bbox
        assert f"Ink found: a {width}×{height} box" in captions(at)


def test_the_why_map_and_the_nearest_training_images_are_the_librarys(monkeypatch, tmp_path, records, mnist):
    from digitlib.neighbours import load_index
    from ui.views import why_picture

    folder = committed("cnn", folder=tmp_path)
    strokes = canvas_strokes(records[read_right(folder, records, 1)[0]])
    stages, answer = reading(folder, strokes)
    predictor = Predictor("cnn", folder)
    index = load_index(predictor.files)
    rows, similarity = index.nearest(predictor.embed(stages.centered), 8)
    at = draw(app(monkeypatch, folder), strokes)
    assert not [c for c in captions(at) if c.startswith("Why")], "the map only when asked for"
    show(at, "show_why")
    assert np.array_equal(
        picture(at, f"Why {answer.digit}:"), why_picture(predictor, stages.centered, answer.digit)
    )
    shown = [(caption, pixels) for caption, pixels in pictures(at) if " · " in caption]
    assert [caption for caption, _ in shown] == [
        f"{index.labels[r]} · {s:.2f}" for r, s in zip(rows, similarity)
    ]
    (x_train, _), _ = mnist
    assert all(np.array_equal(pixels, x_train[row]) for (_, pixels), row in zip(shown, rows))


def test_an_unsure_answer_names_the_two_best_guesses(monkeypatch, tiny_models, records):
    unsure = next(
        i for i, r in enumerate(records) if reading(tiny_models, canvas_strokes(r))[1].verdict == NOT_SURE
    )
    _, answer = reading(tiny_models, canvas_strokes(records[unsure]))
    (first, _), (second, _) = answer.top_two
    at = draw(app(monkeypatch, tiny_models), canvas_strokes(records[unsure]))
    warning = texts(at.warning)
    assert warning.startswith("Not sure") and f" {first} (" in warning and f" {second} (" in warning
    shown = bars(at)
    assert f"({shown[str(first)]})" in warning and f"({shown[str(second)]})" in warning, "as the bars say"
    assert "Prediction" not in metric_values(at)


def test_a_letter_is_plainly_not_a_digit(monkeypatch, default_model, shared_data_dir):
    letters = recorded_strokes(str(shared_data_dir / "nondigit_dev.jsonl.gz"))
    index = next(
        i
        for i, r in enumerate(letters)
        if reading(default_model, canvas_strokes(r))[1].verdict == NOT_A_DIGIT
    )
    at = show(draw(app(monkeypatch, default_model), canvas_strokes(letters[index])), "show_why")
    assert "doesn't look like a digit" in texts(at.error)
    assert "Prediction" not in metric_values(at) and not at.warning, "no digit, and no 'not sure'"
    assert not [c for c in captions(at) if c.startswith("Why")], "no map of an answer it did not give"


def test_a_model_without_letters_says_it_cannot_tell_a_letter(
    monkeypatch, trained_cnn, default_model, shared_data_dir
):
    letter = canvas_strokes(recorded_strokes(str(shared_data_dir / "nondigit_dev.jsonl.gz"))[0])
    note = "never learnt what is not a digit"
    shown = texts(draw(app(monkeypatch, trained_cnn), letter).get("html"))
    assert f"CNN (reference) {note}" in shown, "beside the bars of a model with no 'not a digit'"
    assert note not in texts(draw(app(monkeypatch, default_model), letter).get("html")), "inknet knows them"


def test_a_drawing_said_not_a_digit_is_kept_with_the_probability_of_not_a_digit(
    monkeypatch, default_model, shared_data_dir, drawings_db_path
):
    from digitlib.collection import list_drawings, opened

    letters = recorded_strokes(str(shared_data_dir / "nondigit_dev.jsonl.gz"))
    strokes, answer = next(
        (canvas_strokes(r), answer)
        for r in letters
        if (answer := reading(default_model, canvas_strokes(r))[1]).verdict == NOT_A_DIGIT
    )
    at = draw(app(monkeypatch, default_model), strokes)
    at.selectbox(key=f"{DIGIT_CANVAS}_right").select(1)  # meant as a 1, read as not a digit
    run(at)
    at.button(key=f"{DIGIT_CANVAS}_save").click()
    run(at)
    with opened(drawings_db_path, create=False) as connection:
        (saved,) = list_drawings(connection, None)
    assert saved.predicted == NOT_A_DIGIT
    assert saved.confidence == pytest.approx(answer.other, abs=1e-6) and saved.confidence > 0.5, (
        "kept with how sure the model was that it is not a digit, not with its best digit's probability"
    )


def test_undo_takes_back_the_last_stroke_and_clear_empties_the_canvas(monkeypatch, trained_cnn, records):
    index = read_right(trained_cnn, records, 1, strokes=2)[0]
    strokes = canvas_strokes(records[index])
    at = draw(app(monkeypatch, trained_cnn), strokes)
    assert metric_values(at)["Prediction"] == str(records[index]["label"])
    at.button[0].click()  # Undo
    run(at)
    _, first_stroke = reading(trained_cnn, strokes[:1])
    assert np.array_equal(
        picture(at, "What the model sees"), as_uint8(reading(trained_cnn, strokes[:1])[0].centered)
    )
    assert metric_values(at).get("Prediction", "?") == (str(first_stroke.digit) if first_stroke.sure else "?")
    at.button[1].click()  # Clear
    run(at)
    assert "Prediction" not in metric_values(at) and "Draw a digit from 0 to 9" in texts(at.info)


def test_undo_pressed_before_the_page_read_the_last_stroke_takes_back_that_stroke(
    monkeypatch, trained_cnn, records
):
    strokes = canvas_strokes(records[read_right(trained_cnn, records, 1, strokes=2)[0]])
    at = draw(app(monkeypatch, trained_cnn), strokes[:1])
    first_alone = picture(at, "What the model sees")
    # The second stroke reached the server with the press of Undo, before any run of the page read it.
    epoch = at.session_state[f"{DIGIT_CANVAS}_strokes"]["epoch"]
    at.session_state[DIGIT_CANVAS] = {"drawing": {"epoch": epoch, "strokes": strokes}}
    at.button[0].click()  # Undo
    run(at)
    assert np.array_equal(picture(at, "What the model sees"), first_alone), "the first stroke, alone"


# A face, two eyes and a smile: four separate marks, which a model may well read as a 0.
SMILEY = [
    {
        "width": 12,
        "points": [[140 + 100 * np.cos(a), 140 + 100 * np.sin(a)] for a in np.linspace(0, 6.3, 40)],
    },
    {"width": 18, "points": [[105, 110], [106, 111]]},
    {"width": 18, "points": [[175, 110], [176, 111]]},
    {
        "width": 12,
        "points": [[140 + 55 * np.cos(a), 150 + 40 * np.sin(a)] for a in np.linspace(0.3, 2.8, 12)],
    },
]


@pytest.mark.parametrize(
    ("strokes", "hint", "answers"),
    [
        ([{"width": 6, "points": [[140, 140], [141, 141]]}], "only a dot", False),
        ([{"width": 18, "points": [[140, 140]]}], "only a dot", False),
        ([{"width": 40, "points": [[140, 140], [150, 145]]}], "only a dot", False),
        ([{"width": 10, "points": [[40, 140], [240, 145]]}], "flat line", False),
        ([{"width": 6, "points": [[140, 120], [140, 160]]}], "Draw bigger", True),
        ([{"width": 18, "points": [[140, 110], [140, 160]]}], "with a thinner pen", True),
        ([{"width": 18, "points": [[140, -5], [140, 200]]}], "runs off the canvas", True),
        (SMILEY, "Those are 4 separate marks, not one digit", False),
    ],
    ids=["dot", "tap", "tap of the widest pen", "line", "small", "thick for its size", "cut off", "smiley"],
)
def test_ink_that_cannot_be_read_well_gets_a_hint(monkeypatch, trained_cnn, strokes, hint, answers):
    at = draw(app(monkeypatch, trained_cnn), strokes)
    # A hint that stops the reading stands out as a warning; advice on a drawing that is read is an info.
    assert hint in texts(at.info if answers else at.warning)
    assert hint not in texts(at.warning if answers else at.info)
    assert ("Prediction" in metric_values(at) or "Not sure" in texts(at.warning)) == answers, (
        "a dot or a line is no reading at all"
    )
    assert bool(bars(at)) == answers, "no probabilities of a reading it does not give"
    assert picture(at, "What the model sees").shape == (28, 28), "but still what the model would see"


def png_bytes(image: np.ndarray) -> bytes:
    """An image encoded as PNG, as a user's file would be."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def photo_mode(at):
    """Switch the Draw page to reading an uploaded photo."""
    at.segmented_control(key="source").set_value("Photo")
    return run(at)


def test_a_photo_and_a_drawing_are_separate_inputs(monkeypatch, trained_cnn, records):
    from digitlib.photo import picture_ink

    first, second = read_right(trained_cnn, records, 2)
    paper = 255 - ink_of(canvas_strokes(records[second]))  # dark ink on white paper, as a scan would be
    at = draw(app(monkeypatch, trained_cnn), canvas_strokes(records[first]))
    photo_mode(at)
    assert at.title[0].value == "Read a digit from a photo", "not the drawing's title"
    at.file_uploader[0].upload("scan.png", png_bytes(paper), "image/png")
    run(at)
    expected = Predictor("cnn", trained_cnn).read_drawing(picture_ink(png_bytes(paper))).answer
    assert metric_values(at)["Prediction"] == str(expected.digit)
    assert at.get("image")[0].captions == ["Your photo"], "the photo's thumbnail"
    assert np.array_equal(picture(at, "The ink found in it"), picture_ink(png_bytes(paper)))
    at.segmented_control(key="source").set_value("Draw")
    run(at)
    assert metric_values(at)["Prediction"] == str(records[first]["label"]), (
        "the drawing is still there and read"
    )


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("notes.png", b"this is text, renamed to .png", "not a readable PNG or JPEG"),
        ("empty.png", b"", "empty"),
        ("bomb.png", None, "too large"),
    ],
)
def test_an_unusable_upload_gives_a_clear_message(monkeypatch, tiny_models, name, content, message):
    content = png_bytes(np.zeros((12_000, 12_000), np.uint8)) if content is None else content
    at = photo_mode(app(monkeypatch, tiny_models))
    at.file_uploader[0].upload(name, content, "image/png")
    run(at)
    assert message in texts(at.error) and "Prediction" not in metric_values(at)


def number_mode(at):
    """Switch the Draw page to reading numbers."""
    at.segmented_control(key="mode").set_value("A number")
    return run(at)


def number_strokes(records, chosen: list[int], height: float = 120) -> list[dict]:
    """Recorded digits side by side on the wide canvas, each scaled to `height` px in a 135 px column."""
    strokes = []
    for column, index in enumerate(chosen):
        points = [np.asarray(stroke, float) for stroke in records[index]["canvas_strokes"]]
        low, high = np.vstack(points).min(axis=0), np.vstack(points).max(axis=0)
        scale = height / max(high[1] - low[1], 1)
        place = np.array([10 + 135 * column, 80])
        strokes += [{"width": 12, "points": ((p - low) * scale + place).round(1).tolist()} for p in points]
    return strokes


def test_a_number_is_read_digit_by_digit(monkeypatch, trained_cnn, records):
    from digitlib.numbers import read_number

    chosen = read_right(trained_cnn, records, 4)
    strokes = number_strokes(records, chosen)
    expected = read_number(Predictor("cnn", trained_cnn), ink_of(strokes, 560))
    at = number_mode(app(monkeypatch, trained_cnn))
    assert at.title[0].value == "Draw a number" and "Write a number" in texts(at.info)
    draw(at, strokes, NUMBER_CANVAS)
    assert metric_values(at)["Number"] == expected.text
    assert "4 digits found, left to right" in captions(at)
    shown = [pixels for caption, pixels in pictures(at) if " · " in caption]
    assert all(np.array_equal(p, as_uint8(d.image)) for p, d in zip(shown, expected.digits))


def test_saving_a_drawing_keeps_it_with_its_right_digit_and_what_the_model_said(
    monkeypatch, trained_cnn, records, drawings_db_path
):
    from digitlib.collection import list_drawings, opened

    index = read_right(trained_cnn, records, 1)[0]
    strokes = canvas_strokes(records[index])
    stages, answer = reading(trained_cnn, strokes)
    at = draw(app(monkeypatch, trained_cnn), strokes)
    assert at.button(key=f"{DIGIT_CANVAS}_save").disabled, "nothing to save before a digit is picked"
    wrong = (answer.digit + 1) % 10
    at.selectbox(key=f"{DIGIT_CANVAS}_right").select(wrong)
    run(at)
    at.button(key=f"{DIGIT_CANVAS}_save").click()
    run(at)
    assert f"Saved as {'an' if wrong == 8 else 'a'} {wrong} (the model said {answer.digit})" in texts(
        at.success
    )
    at.selectbox(key=f"{DIGIT_CANVAS}_right").select(answer.digit)
    run(at)
    at.button(key=f"{DIGIT_CANVAS}_save").click()
    run(at)
    with opened(drawings_db_path, create=False) as connection:
        (saved,) = list_drawings(connection, None)
    assert (saved.label, saved.predicted, saved.model) == (answer.digit, answer.digit, "cnn"), (
        "saved again: one row, new digit"
    )
    assert np.allclose(saved.input, stages.centered, atol=1e-6)
    assert str(drawings_db_path) not in "".join(
        texts(e) for e in (at.success, at.info, at.caption, at.markdown)
    )


def counted(function, calls: list):
    """`function`, noting each call in `calls`."""

    def wrapper(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return wrapper


def test_a_drawing_kept_with_its_digit_teaches_the_page_that_visitors_convention(
    monkeypatch, default_model, records
):
    index = read_right(default_model, records, 1)[0]
    strokes = canvas_strokes(records[index])
    _, answer = reading(default_model, strokes)
    at = draw(app(monkeypatch, default_model), strokes)
    theirs = (answer.digit + 1) % 10  # this visitor writes their `theirs` this way
    assert "teaches this page your handwriting" in at.selectbox(key=f"{DIGIT_CANVAS}_right").help
    at.selectbox(key=f"{DIGIT_CANVAS}_right").select(theirs)
    run(at)
    at.button(key=f"{DIGIT_CANVAS}_save").click()
    run(at)
    read = []
    monkeypatch.setattr(Predictor, "kept_drawings", counted(Predictor.kept_drawings, read))
    draw(at, canvas_strokes(records[index], dx=8))  # drawn again, a little to the right
    draw(at, canvas_strokes(records[index], dx=4))
    assert len(read) == 1, "the kept drawings' features are read once, not on every stroke"
    assert metric_values(at)["Prediction"] == str(theirs)
    assert metric_values(at)["Like a drawing you kept"] == ">99.9%"
    said = texts(at.info)
    assert f"You kept a drawing like this one as {'an' if theirs == 8 else 'a'} {theirs}." in said
    assert f"The model alone reads {'an' if answer.digit == 8 else 'a'} {answer.digit}" in said
    assert any(caption == f"Your kept {theirs}" for caption, _ in pictures(at))
    # Another visitor, with nothing kept, gets the model's answer.
    other = draw(app(monkeypatch, default_model), strokes)
    assert metric_values(other)["Prediction"] == str(answer.digit)
    assert "You kept" not in texts(other.info)


def test_teaching_asks_for_each_digit_in_turn_and_keeps_each_as_asked(
    monkeypatch, tiny_models, records, drawings_db_path
):
    from digitlib.collection import list_drawings, opened, save_drawing

    at = app(monkeypatch, tiny_models)
    at.toggle(key="teach").set_value(True)
    run(at)
    assert "Draw a 0** as you usually write it" in texts(at.info) and "0 of 10 digits taught" in texts(
        at.info
    )
    strokes = canvas_strokes(records[0])
    stages, _ = reading(tiny_models, strokes)
    draw(at, strokes)
    assert f"{DIGIT_CANVAS}_right" not in [box.key for box in at.selectbox], "the digit to keep is asked"
    at.button(key=f"{DIGIT_CANVAS}_teach").click()
    run(at)
    with opened(drawings_db_path, create=False) as connection:
        (kept,) = list_drawings(connection, None)
    assert kept.label == 0, f"kept as the 0 asked for, though drawn as {records[0]['label']}"
    assert np.allclose(kept.input, stages.centered, atol=1e-6)
    assert at.session_state[f"{DIGIT_CANVAS}_strokes"]["strokes"] == [], "cleared for the next digit"
    assert "Draw a 1**" in texts(at.info) and "1 of 10 digits taught" in texts(at.info)
    assert "Draw a 1 on the black canvas" in texts(at.info), "not any digit from 0 to 9"
    opens = []
    monkeypatch.setattr(drawings, "opened", counted(drawings.opened, opens))
    draw(at, strokes)
    assert len(opens) == 1, "the visitor's kept drawings are looked up once per stroke"
    with opened(drawings_db_path) as connection:
        for digit in range(1, 10):
            save_drawing(connection, at.session_state["visitor_session"], *kept_as(kept, digit))
    draw(at, strokes)
    assert "All ten digits taught" in texts(at.success), texts(at.info)
    assert at.selectbox(key=f"{DIGIT_CANVAS}_right").value is None, "then kept with any digit, as before"


def kept_as(kept, digit: int) -> tuple:
    """save_drawing's arguments after the owner: a kept drawing moved `digit` px, saved as `digit`."""
    moved = np.roll(kept.input, digit, axis=1)  # another input: the same one would be saved over
    return np.zeros((280, 280), np.uint8), moved, digit, kept.predicted, kept.confidence, kept.model


def test_the_right_digit_is_asked_again_when_the_drawing_changes(monkeypatch, trained_cnn, records):
    strokes = canvas_strokes(records[read_right(trained_cnn, records, 1)[0]])
    at = draw(app(monkeypatch, trained_cnn), strokes)
    at.selectbox(key=f"{DIGIT_CANVAS}_right").select(7)
    run(at)
    at.toggle(key="show_stages").set_value(True)
    run(at)
    assert at.selectbox(key=f"{DIGIT_CANVAS}_right").value == 7, "kept while the drawing stays the same"
    bar = {"width": 12, "points": [[40.0, 140.0], [240.0, 140.0]]}
    draw(at, [*strokes, bar])
    assert at.selectbox(key=f"{DIGIT_CANVAS}_right").value is None, "a 7 picked for another drawing"
    assert "Session State" not in texts(at.warning), "emptied without Streamlit's warning"
    assert at.button(key=f"{DIGIT_CANVAS}_save").disabled


def test_a_not_sure_answer_is_kept_as_not_sure(monkeypatch, tiny_models, records, drawings_db_path):
    from digitlib.collection import list_drawings, opened

    unsure = next(
        i for i, r in enumerate(records) if reading(tiny_models, canvas_strokes(r))[1].verdict == NOT_SURE
    )
    at = draw(app(monkeypatch, tiny_models), canvas_strokes(records[unsure]))
    at.selectbox(key=f"{DIGIT_CANVAS}_right").select(int(records[unsure]["label"]))
    run(at)
    at.button(key=f"{DIGIT_CANVAS}_save").click()
    run(at)
    assert "the model said not sure" in texts(at.success)
    with opened(drawings_db_path, create=False) as connection:
        assert [d.predicted for d in list_drawings(connection, None)] == [NOT_SURE]


def test_a_number_is_saved_digit_by_digit(monkeypatch, trained_cnn, records, drawings_db_path):
    from digitlib.collection import list_drawings, opened

    chosen = read_right(trained_cnn, records, 3)
    right = "".join(str(records[i]["label"]) for i in chosen)
    at = draw(number_mode(app(monkeypatch, trained_cnn)), number_strokes(records, chosen), NUMBER_CANVAS)
    at.text_input(key=f"{NUMBER_CANVAS}_right").input(right[:2])
    run(at)
    at.button(key=f"{NUMBER_CANVAS}_save").click()
    run(at)
    assert "as 3 digits" in texts(at.error), "one digit for each box"
    at.text_input(key=f"{NUMBER_CANVAS}_right").input(right)
    run(at)
    at.button(key=f"{NUMBER_CANVAS}_save").click()
    run(at)
    assert f"Saved 3 digits: {right}" in texts(at.success)
    with opened(drawings_db_path, create=False) as connection:
        assert sorted(d.label for d in list_drawings(connection, None)) == sorted(int(c) for c in right)
    draw(at, number_strokes(records, chosen[::-1]), NUMBER_CANVAS)  # as many digits, in another order
    assert at.text_input(key=f"{NUMBER_CANVAS}_right").value == "", "typed for another number"


def test_a_numbers_digits_like_ones_the_visitor_kept_get_the_kept_digits(monkeypatch, default_model, records):
    chosen = read_right(default_model, records, 2)
    right = [records[i]["label"] for i in chosen]
    at = draw(number_mode(app(monkeypatch, default_model)), number_strokes(records, chosen), NUMBER_CANVAS)
    assert metric_values(at)["Number"] == "".join(map(str, right))
    theirs = [right[0], (right[1] + 1) % 10]  # this visitor writes their second digit this way
    assert "teaches this page your handwriting" in at.text_input(key=f"{NUMBER_CANVAS}_right").help
    at.text_input(key=f"{NUMBER_CANVAS}_right").input("".join(map(str, theirs)))
    run(at)
    at.button(key=f"{NUMBER_CANVAS}_save").click()
    run(at)
    draw(at, number_strokes(records, chosen[::-1]), NUMBER_CANVAS)  # the same digits, in the other order
    assert metric_values(at)["Number"] == f"{theirs[1]}{right[0]}"
    assert f"{theirs[1]} · as you kept it" in captions(at)
    assert "nearly the same as a drawing you kept" in texts(at.caption)


def test_digits_the_model_sees_alike_are_saved_once_and_the_page_says_so(
    monkeypatch, trained_cnn, drawings_db_path
):
    from digitlib.collection import list_drawings, opened

    ones = [{"width": 18, "points": [[60.0 + 120 * i, 60.0], [60.0 + 120 * i, 220.0]]} for i in range(4)]
    at = draw(number_mode(app(monkeypatch, trained_cnn)), ones, NUMBER_CANVAS)
    at.text_input(key=f"{NUMBER_CANVAS}_right").input("1117")
    run(at)
    at.button(key=f"{NUMBER_CANVAS}_save").click()
    run(at)
    with opened(drawings_db_path, create=False) as connection:
        assert [d.label for d in list_drawings(connection, None)] == [7], "four identical inputs"
    assert (
        "Saved 1117 as 1 drawing, 7: digits the model sees alike are kept once, "
        "with the last digit typed for them." in texts(at.success)
    )


def test_each_digit_of_a_number_is_captioned_with_the_probability_of_what_it_says(
    monkeypatch, default_model, records
):
    from digitlib.numbers import read_number
    from digitlib.registry import DEFAULT_MODEL

    chosen = read_right(default_model, records, 2)
    dot = {"width": 12, "points": [[400.0, 140.0], [401.0, 140.0]]}  # a touch of the pen after the digits
    strokes = [*number_strokes(records, chosen), dot]
    expected = read_number(Predictor(DEFAULT_MODEL, default_model), ink_of(strokes, 560))
    assert expected.answers == [records[chosen[0]]["label"], records[chosen[1]]["label"], NOT_A_DIGIT]
    at = draw(number_mode(app(monkeypatch, default_model)), strokes, NUMBER_CANVAS)
    digits, other = expected.probabilities[:2], 1.0 - expected.probabilities[2].sum()
    assert [caption for caption, _ in pictures(at) if " · " in caption] == [
        f"{records[chosen[0]]['label']} · {percent(digits[0].max(), 0)}",
        f"{records[chosen[1]]['label']} · {percent(digits[1].max(), 0)}",
        f"not a digit · {percent(other, 0)}",
    ]
    assert other > 0.5, "said with the probability of not being a digit, not that of the best digit"


def cross(left: float, size: float) -> list[dict]:
    """An X `size` px wide from `left`, a little taller than wide, in the middle of the canvas's height."""
    top, bottom = 140.0 - 0.57 * size, 140.0 + 0.57 * size
    return [
        {"width": 18, "points": [[left, top], [left + size, bottom]]},
        {"width": 18, "points": [[left + size, top], [left, bottom]]},
    ]


@pytest.mark.parametrize(
    ("digits", "which"),
    [
        (0, "none of the marks is a digit"),
        (1, "2 of the 3 marks are not digits"),
        (2, "2 of the 4 marks are not digits"),
    ],
    ids=["letters", "a digit among letters", "a word with two letters that read as digits"],
)
def test_marks_not_digits_are_plainly_no_number(monkeypatch, default_model, records, digits, which):
    from digitlib.numbers import read_number
    from digitlib.registry import DEFAULT_MODEL

    digit = read_right(default_model, records, digits) if digits else []
    after = 20.0 + 135 * digits  # the two crosses right of the digits
    strokes = number_strokes(records, digit) + cross(after, 110.0) + cross(after + 140, 110.0)
    expected = read_number(Predictor(DEFAULT_MODEL, default_model), ink_of(strokes, 560))
    labels = [records[i]["label"] for i in digit]
    assert expected.answers == [*labels, NOT_A_DIGIT, NOT_A_DIGIT], "the default model's answers"
    at = draw(number_mode(app(monkeypatch, default_model)), strokes, NUMBER_CANVAS)
    assert "Number" not in metric_values(at)
    assert [e.value for e in at.error] == [
        f"That doesn't look like a number: {which}. Write digits from 0 to 9 side by side."
    ]
    assert f"{len(expected.digits)} marks found, left to right" in captions(at)


def test_a_zigzag_written_as_a_number_is_one_mark_not_a_row_of_ones(monkeypatch, default_model):
    from digitlib.numbers import read_number
    from digitlib.registry import DEFAULT_MODEL

    zigzag = [{"width": 18, "points": [[40.0 + 48 * i, 220.0 if i % 2 else 60.0] for i in range(11)]}]
    cut = read_number(Predictor(DEFAULT_MODEL, default_model), ink_of(zigzag, 560))
    assert cut.text == "1111111111", "the default model's reading of its ink alone, cut into parts"
    at = draw(number_mode(app(monkeypatch, default_model)), zigzag, NUMBER_CANVAS)
    assert "Number" not in metric_values(at)
    assert [e.value for e in at.error] == [
        "That doesn't look like a number: none of the marks is a digit. "
        "Write digits from 0 to 9 side by side."
    ]
    assert "1 mark found" in " ".join(captions(at))


def test_a_tap_on_the_wide_canvas_is_only_a_dot(monkeypatch, trained_cnn):
    at = draw(
        number_mode(app(monkeypatch, trained_cnn)), [{"width": 18, "points": [[280, 140]]}], NUMBER_CANVAS
    )
    assert [w.value for w in at.warning][:1] == [
        "That is only a dot. Draw a whole digit, as tall as most of the canvas."
    ]
    assert "Number" not in metric_values(at)


def test_a_face_written_as_a_number_is_no_number(monkeypatch, trained_cnn):
    at = draw(number_mode(app(monkeypatch, trained_cnn)), SMILEY, NUMBER_CANVAS)
    assert "Number" not in metric_values(at)
    assert at.warning[0].value.startswith("Those are 4 separate marks in the place of one digit")


def test_a_flat_line_written_as_a_number_gets_the_same_hint_as_one_digit(monkeypatch, trained_cnn):
    line = [{"width": 18, "points": [[40.0, 140.0], [520.0, 140.0]]}]
    at = draw(number_mode(app(monkeypatch, trained_cnn)), line, NUMBER_CANVAS)
    assert "Number" not in metric_values(at), "a flat line alone is no number"
    assert texts(at.warning).startswith("That is a flat line, not a digit.")
    assert captions(at) == ["What the model sees: 28×28"]


def test_a_photo_of_blank_paper_has_no_ink(monkeypatch, trained_cnn):
    at = photo_mode(number_mode(app(monkeypatch, trained_cnn)))
    assert at.title[0].value == "Read a number from a photo"
    at.file_uploader[0].upload(
        "paper.jpg", photographed(np.zeros((280, 280), np.uint8), np.random.default_rng(3)), "image/jpeg"
    )
    run(at)
    assert "No ink found in the photo" in texts(at.info) and "Prediction" not in metric_values(at)


def test_answer_words():
    answer = Answer(np.array([0.05, 0.9] + [0.005] * 8, np.float32), 0.5)
    assert answer.sure and answer.verdict == 1 and answer.other == pytest.approx(0.01, abs=1e-6)


def test_a_minus_sign_and_a_decimal_point_are_read_from_their_strokes_and_typed_as_drawn(
    monkeypatch, trained_cnn, drawings_db_path
):
    from digitlib.collection import list_drawings, opened

    ones = [{"width": 18, "points": [[x, 60.0], [x, 220.0]]} for x in (160.0, 300.0)]
    minus = {"width": 18, "points": [[40.0, 140.0], [110.0, 142.0]]}
    point = {"width": 18, "points": [[230.0, 212.0]]}
    at = draw(number_mode(app(monkeypatch, trained_cnn)), [minus, ones[0], point, ones[1]], NUMBER_CANVAS)
    assert metric_values(at)["Number"] == "-1.1"
    assert "2 digits found, left to right" in captions(at)
    assert "not by the model" in texts(at.caption)
    at.text_input(key=f"{NUMBER_CANVAS}_right").input("-1.1")
    run(at)
    at.button(key=f"{NUMBER_CANVAS}_save").click()
    run(at)
    assert not texts(at.error) and "Saved 11 as 1 drawing" in texts(at.success)
    with opened(drawings_db_path, create=False) as connection:
        assert [d.label for d in list_drawings(connection, None)] == [1]
