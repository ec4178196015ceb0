"""Draw: a digit or number on a canvas or photo, read by the chosen model, with every step of what it sees."""

from __future__ import annotations

import hashlib
import html
import sqlite3
from collections.abc import Sequence

import numpy as np
import streamlit as st

from digitlib.artifacts import ArtifactError
from digitlib.classes import Answer, answer_text, with_article
from digitlib.collection import opened, save_drawing
from digitlib.data import DataError
from digitlib.hints import Hint
from digitlib.kept import KeptDrawings, KeptMatch
from digitlib.numbers import NumberReading, read_number
from digitlib.photo import picture_ink
from digitlib.pictures import with_boxes
from digitlib.preprocess import Stages
from digitlib.registry import label, spec
from digitlib.serving import Predictor, Reading
from digitlib.strokes import CANVAS_SIZE, PEN_WIDTH, PenStroke, draw_strokes
from ui import canvas
from ui.drawings import Labels, kept_drawings, kept_labels, owner
from ui.models import pick_model, predictor
from ui.text import percent, plural
from ui.views import neighbours_html, why_picture
from ui.widgets import PICTURES_CSS, bars_html, pictures, pictures_html

NUMBER_CANVAS_WIDTH = 560
ONE_DIGIT, A_NUMBER = "One digit", "A number"
DRAW, PHOTO = "Draw", "Photo"
TITLES = {
    (DRAW, ONE_DIGIT): "Draw a digit",
    (DRAW, A_NUMBER): "Draw a number",
    (PHOTO, ONE_DIGIT): "Read a digit from a photo",
    (PHOTO, A_NUMBER): "Read a number from a photo",
}
INPUT_SIZE = 196  # px: the 28x28 input, 7 screen pixels per pixel
STAGE_SIZE = 140
DIGIT_INPUT_SIZE = 112
CORRECTION_WIDTH = 280  # px: a digit or a number to type, not a line of text
DIGIT_CANVAS, NUMBER_CANVAS = "digit_canvas", "number_canvas"
DRAWING_ROW = "drawing_row"
INPUT_CAPTION = "What the model sees: 28×28"
KEPT_CAPTION = "as you kept it"
KEEP_HELP = "What you keep teaches this page your handwriting: a near copy then gets your digit."
TEACH = "teach"
TEACH_HELP = (
    "Draw each digit once as you usually write it, and keep it: a drawing nearly the same as one you "
    "taught then gets your digit, where the model alone might read another."
)


def reading_key(canvas_key: str) -> str:
    """The key of the container that holds what the page reads on canvas `canvas_key`."""
    return f"{canvas_key}_reading"


# Beside the canvas, a digit's reading needs room for its two columns, else it goes below; a number's
# reading always goes below its wide canvas, where the digits fit side by side.
READING_CSS = (
    f"<style>.st-key-{DRAWING_ROW} {{ flex-wrap: wrap; }}"
    f" .st-key-{DRAWING_ROW} > :has(> .st-key-{reading_key(DIGIT_CANVAS)}) {{ min-width: min(100%, 440px); }}"
    f" .st-key-{DRAWING_ROW} > :has(> .st-key-{reading_key(NUMBER_CANVAS)}) {{ min-width: 100%; }}</style>"
)


def show_answer(answer: Answer) -> None:
    """The digit and its confidence, "not a digit", or the two best guesses when the model is not sure."""
    if answer.sure:
        # Stacked: side by side, a half-width column cuts ">99.9%" short.
        st.metric("Prediction", answer.digit)
        st.metric("Confidence", percent(answer.confidence))
    elif answer.not_a_digit:
        st.error("That doesn't look like a digit. Draw one digit from 0 to 9.", icon=":material/block:")
    else:
        (first, p1), (second, p2) = answer.top_two
        st.warning(
            f"Not sure: it could be {with_article(first)} ({percent(p1)}) "
            f"or {with_article(second)} ({percent(p2)}). "
            f"No digit reaches the {answer.threshold:.0%} needed for an answer.",
            icon=":material/help:",
        )


def show_kept_answer(match: KeptMatch, answer: Answer) -> None:
    """The digit of the kept drawing this one nearly copies, and what the model alone says."""
    st.metric("Prediction", match.digit)
    st.metric("Like a drawing you kept", percent(match.likeness))
    # Never "not a digit": a kept drawing does not change that answer (digitlib.kept).
    alone = "is not sure"
    if answer.sure:
        alone = f"reads {with_article(answer.digit)} ({percent(answer.confidence)})"
    st.info(
        f"You kept a drawing like this one as {with_article(match.digit)}. The model alone {alone}.",
        icon=":material/history:",
    )


def show_hints(hints: list[Hint] | tuple[Hint, ...]) -> None:
    """Advice on the drawing, most important first; a hint that stops the reading is a warning."""
    for hint in hints:
        if hint.blocks_answer:
            st.warning(hint.message, icon=":material/block:")
        else:
            st.info(hint.message, icon=":material/lightbulb:")


def digit_to_teach(taught: set[int]) -> int | None:
    """The smallest digit not taught yet, or None when all ten are."""
    return next((digit for digit in range(10) if digit not in taught), None)


def teaching_prompt(labels: Labels) -> int | None:
    """Ask for the next digit to teach, or say that all ten are taught; return the digit asked for."""
    taught = {digit for _, digit in labels}
    asked = digit_to_teach(taught)
    if asked is None:
        st.success(
            "All ten digits taught: each drawing is now read beside them. Keep any drawing it still gets "
            "wrong, with its right digit, to teach it more.",
            icon=":material/school:",
        )
    else:
        st.info(
            f"**Draw {with_article(asked)}** as you usually write it, then keep it. "
            f"{len(taught)} of 10 digits taught.",
            icon=":material/school:",
        )
    return asked


def show_reading(model: Predictor, reading: Reading, source: str, asked: int | None = None) -> None:
    """Everything the page says about one digit: hints, the answer, what the model sees and why.

    While the visitor teaches the page a digit (`asked`), the drawing is kept as that digit.
    """
    stages = reading.stages
    show_hints(reading.hints)
    if reading.blocked:
        # No reading, so no probabilities or reasons for one: only what the model would have seen.
        pictures([(stages.centered, INPUT_SIZE, INPUT_CAPTION)])
    else:
        show_answer_and_why(model, reading)
        if asked is None:
            offer_correction(model, source, stages.drawing, stages.centered, reading.answer)
        else:
            st.button(
                f"Keep it as {with_article(asked)}",
                type="primary",
                icon=":material/school:",
                key=f"{source}_teach",
                on_click=teach,
                args=(model, source, stages, reading.answer, asked),
            )
    if st.toggle("How your drawing becomes an MNIST digit", key="show_stages"):
        show_stages(stages)


def show_answer_and_why(model: Predictor, reading: Reading) -> None:
    """The answer, what the model sees, its probabilities, and what speaks for the answer."""
    stages, answer, match = reading.stages, reading.answer, reading.kept
    knows_letters = spec(model.name).knows_letters
    answer_column, detail_column = st.columns([1, 1], gap="medium")
    seen = [(stages.centered, INPUT_SIZE, INPUT_CAPTION)]
    with answer_column:
        if match is None:
            show_answer(answer)
        else:
            show_kept_answer(match, answer)
            seen.append((match.image, INPUT_SIZE // 2, f"Your kept {match.digit}"))
        # One element for what the model sees and what it answers: each element costs every stroke.
        st.html(
            PICTURES_CSS
            + pictures_html(seen)
            + "<p><strong>Probability of each answer</strong></p>"
            + bars_html(answer.probabilities, knows_letters)
            + ("" if knows_letters else no_letters_note(model))
        )
    with detail_column:
        # The map runs the model over ~170 copies of the input: drawn only for those who ask for it.
        if st.toggle("Why this answer?", key="show_why") and not answer.not_a_digit:
            digits = [answer.digit] if answer.sure else [digit for digit, _ in answer.top_two]
            width = INPUT_SIZE if answer.sure else INPUT_SIZE // 2
            pictures(
                [(why_picture(model, stages.centered, d), width, why_caption(d, answer.sure)) for d in digits]
            )
        st.html(
            PICTURES_CSS
            + "<p><strong>Nearest MNIST training images</strong>, as the model sees them"
            + " (label · similarity)</p>"
            + neighbours_html(model, stages.centered)
        )


def no_letters_note(model: Predictor) -> str:
    """HTML that says a model never learnt letters, so it reads anything drawn as some digit."""
    return (
        f"<p><small>{html.escape(label(model.name))} never learnt what is not a digit: it reads a letter or "
        f"a doodle as some digit, unless no digit reaches {percent(model.threshold, 0)}.</small></p>"
    )


def why_caption(digit: int, sure: bool) -> str:
    """The caption of a map of why: in full under the answer's, short under each of two guesses'."""
    return f"Why {digit}: red parts speak for it, blue ones against" if sure else f"Why {digit}"


def forget_if_ink_changed(widget_key: str, ink: np.ndarray, empty: str | None) -> None:
    """Set a widget to `empty` when its answer was given for other ink: a label must not pass to the next.

    Set, not deleted: the browser keeps showing a widget's old value unless the server sends a new one.
    """
    given_for, now = f"{widget_key}_ink", hashlib.sha1(ink.tobytes()).hexdigest()
    if st.session_state.get(given_for) != now:
        if widget_key in st.session_state:
            st.session_state[widget_key] = empty
        st.session_state[given_for] = now


def keep(
    connection: sqlite3.Connection,
    model: Predictor,
    ink: np.ndarray,
    model_input: np.ndarray,
    digit: int,
    answer: Answer,
) -> int:
    """Save one of this visitor's drawings with its right digit and what the model said; return its id."""
    return save_drawing(
        connection,
        owner(),
        ink,
        model_input,
        digit,
        answer.verdict,
        answer.probability_of_verdict,
        model.name,
    )


def offer_correction(
    model: Predictor, key: str, ink: np.ndarray, model_input: np.ndarray, answer: Answer
) -> None:
    """Keep the drawing with its right digit for the Your drawings page; saving it again changes the digit."""
    forget_if_ink_changed(f"{key}_right", ink, None)
    digit = st.selectbox(
        "Keep it with its right digit",
        range(10),
        index=None,
        placeholder="The right digit",
        key=f"{key}_right",
        width=CORRECTION_WIDTH,
        help=KEEP_HELP,
    )
    if not st.button("Save", icon=":material/save:", key=f"{key}_save", disabled=digit is None):
        return
    try:
        with opened() as connection:
            keep(connection, model, ink, model_input, int(digit), answer)
    except DataError as error:
        st.error(f"The drawing could not be saved. {error}")
        return
    st.success(f"Saved as {with_article(int(digit))} (the model said {answer_text(answer.verdict)}).")
    st.page_link("pages/drawings.py", label="See your drawings", icon=":material/photo_library:")


def teach(model: Predictor, key: str, stages: Stages, answer: Answer, digit: int) -> None:
    """Keep the drawing on canvas `key` as the digit taught, and clear the canvas for the next one."""
    try:
        with opened() as connection:
            keep(connection, model, stages.drawing, stages.centered, digit, answer)
    except DataError as error:
        st.toast(f"The drawing could not be kept. {error}", icon=":material/error:")
        return
    canvas.clear(key)


def offer_number_correction(model: Predictor, key: str, reading: NumberReading) -> None:
    """Keep each digit of a number with its right digit, from the right number typed in."""
    forget_if_ink_changed(f"{key}_right", reading.ink, "")
    typed = st.text_input(
        "Keep its digits with the right number",
        key=f"{key}_right",
        placeholder="e.g. 2024",
        max_chars=len(reading.text),
        width=CORRECTION_WIDTH,
        help=KEEP_HELP,
    )
    if not st.button("Save", icon=":material/save:", key=f"{key}_save", disabled=not typed):
        return
    # Only the digits are drawings to keep: signs typed as they were drawn are left out.
    typed = typed.removeprefix("-").replace(".", "")
    if not typed.isdigit() or len(typed) != len(reading.digits):
        st.error(
            f"Type the number as {plural(len(reading.digits), 'digit')}, one for each box, left to right."
        )
        return
    kept: dict[int, str] = {}  # each saved drawing's id and digit: digits the model sees alike share one
    try:
        with opened() as connection:
            for digit, right, probabilities in zip(reading.digits, typed, reading.probabilities):
                answer = Answer(probabilities, reading.threshold)
                kept[keep(connection, model, digit.stages.drawing, digit.image, int(right), answer)] = right
    except DataError as error:
        st.error(f"The digits could not be saved. {error}")
        return
    if len(kept) < len(typed):
        st.success(
            f"Saved {typed} as {plural(len(kept), 'drawing')}, {''.join(kept.values())}: digits the model "
            "sees alike are kept once, with the last digit typed for them."
        )
    else:
        st.success(f"Saved {plural(len(typed), 'digit')}: {typed}.")
    st.page_link("pages/drawings.py", label="See your drawings", icon=":material/photo_library:")


def show_stages(stages: Stages) -> None:
    """Every step from the drawing to the 28x28 input, as in MNIST's own recipe."""
    _x, _y, width, height = stages.bbox
    fitted_height, fitted_width = stages.fitted.shape

    def shown(image: np.ndarray) -> int:
        return max(1, round(STAGE_SIZE * image.shape[1] / max(image.shape[:2])))

    pictures(
        [
            (with_boxes(stages.ink, [stages.bbox]), STAGE_SIZE, f"Ink found: a {width}×{height} box"),
            (stages.cropped, shown(stages.cropped), "Cropped to the ink"),
            (stages.fitted, shown(stages.fitted), f"Fitted into 20×20: {fitted_width}×{fitted_height}"),
            (stages.centered, STAGE_SIZE, "Centred by mass in 28×28"),
        ]
    )


def show_number(reading: NumberReading) -> None:
    """The number read, each digit's box on the ink, and each digit's 28x28 input with its answer."""
    if not reading.is_a_number:
        marks = len(reading.digits)
        which = (
            "none of the marks is a digit"
            if reading.not_digits == marks
            else f"{reading.not_digits} of the {marks} marks are not digits"
        )
        st.error(
            f"That doesn't look like a number: {which}. Write digits from 0 to 9 side by side.",
            icon=":material/block:",
        )
    else:
        st.metric("Number", reading.text)
        if reading.has_signs:
            st.caption(
                "The point and the minus sign are read from the shape of their strokes, not by the model."
            )
        if any(answer < 0 for answer in reading.answers):
            st.caption(
                "? marks a piece the model is not sure of, or that is not a digit: "
                f"no digit reaches the {reading.threshold:.0%} needed."
            )
        if any(reading.kept):
            st.caption(f"“{KEPT_CAPTION}”: nearly the same as a drawing you kept, it gets your digit.")
    boxes = with_boxes(reading.ink, [d.bbox for d in reading.digits])
    items = [
        (
            boxes,
            min(NUMBER_CANVAS_WIDTH, boxes.shape[1]),
            f"{plural(len(reading.digits), 'digit' if reading.is_a_number else 'mark')} found, left to right",
        )
    ]
    pictures(items)
    matches = reading.kept or (None,) * len(reading.digits)
    captions = [
        digit_caption(Answer(p, reading.threshold)) if match is None else f"{match.digit} · {KEPT_CAPTION}"
        for p, match in zip(reading.probabilities, matches)
    ]
    pictures([(digit.image, DIGIT_INPUT_SIZE, caption) for digit, caption in zip(reading.digits, captions)])


def digit_caption(answer: Answer) -> str:
    """One digit of a number in a few words, with the probability of what it says: "7 · 98%"."""
    said = percent(answer.probability_of_verdict, 0)
    if answer.not_a_digit:
        return f"not a digit · {said}"
    if not answer.sure:
        return f"not sure · {answer.digit} at {said}"
    return f"{answer.digit} · {said}"


def read_one_digit(
    model: Predictor, reading: Reading | None, source: str, empty: str, asked: int | None = None
) -> None:
    """What the model reads in one digit's ink, or what to do; `asked` is the digit being taught."""
    if reading is None:
        st.info(empty)
        return
    show_reading(model, reading, source, asked)


def read_a_number(
    model: Predictor,
    ink: np.ndarray | None,
    kept: KeptDrawings | None,
    source: str,
    empty: str,
    strokes: Sequence[PenStroke] = (),
) -> None:
    """The number in some ink (drawn by `strokes`, where known), read beside the `kept` drawings."""
    reading = None if ink is None else read_number(model, ink, strokes, kept)
    if reading is None or not reading.digits:
        st.info(empty)
        return
    show_hints(reading.hints)
    if reading.blocked:
        pictures([(digit.image, DIGIT_INPUT_SIZE, INPUT_CAPTION) for digit in reading.digits])
        return
    show_number(reading)
    offer_number_correction(model, source, reading)


def usable_model(name: str) -> Predictor | None:
    """The loaded model, or None after saying why it cannot be used."""
    try:
        return predictor(name)
    except ArtifactError as error:
        st.error(f"The {label(name)} model cannot be used. {error}")
        return None


@st.fragment
def drawing_area(model_name: str, number_mode: bool) -> None:
    """The canvas and everything that depends on the drawing: each stroke reruns only this."""
    width = NUMBER_CANVAS_WIDTH if number_mode else CANVAS_SIZE
    key = NUMBER_CANVAS if number_mode else DIGIT_CANVAS
    # Asked above the canvas, so that on a phone it is read before drawing.
    labels = kept_labels()  # read once per stroke, for the teaching prompt and the reading
    asked = teaching_prompt(labels) if not number_mode and st.session_state.get(TEACH) else None
    row = st.container(horizontal=True, gap="large", key=DRAWING_ROW)
    with row.container(width=width + 2):
        strokes = canvas.drawing_canvas(key, width, CANVAS_SIZE, st.session_state.get("brush", PEN_WIDTH))
        # One short row under the canvas, so that on a phone the answer follows right below it.
        controls = st.container(horizontal=True, gap="small")
        controls.button(
            "Undo", icon=":material/undo:", on_click=canvas.undo, args=(key,), disabled=not strokes
        )
        controls.button(
            "Clear", icon=":material/delete:", on_click=canvas.clear, args=(key,), disabled=not strokes
        )
        with controls.popover("Pen", icon=":material/brush:", help="Brush width"):
            st.slider("Brush width", min_value=6, max_value=40, value=PEN_WIDTH, key="brush")
    with row.container(key=reading_key(key)):
        # Loaded after the canvas is on its way to the browser: a first visit can start drawing sooner.
        model = usable_model(model_name)
        if model is None:
            return
        if number_mode:
            read_a_number(
                model,
                draw_strokes(strokes, CANVAS_SIZE, width) if strokes else None,
                kept_drawings(model, labels),
                key,
                "Write a number on the black canvas, digits side by side with a little space between them.",
                strokes,
            )
        else:
            read_one_digit(
                model,
                model.read_strokes(strokes, CANVAS_SIZE, width, kept_drawings(model, labels)),
                key,
                f"Draw {'a digit from 0 to 9' if asked is None else with_article(asked)} on the black canvas "
                "with your mouse, finger or pen.",
                asked,
            )


def photo_area(model_name: str, number_mode: bool) -> None:
    """An uploaded photo or scan, the ink found in it, and what the model reads there."""
    model = usable_model(model_name)
    if model is None:
        return
    # One photo at a time: the uploader's "Add files" button would only replace it.
    st.html('<style>[data-testid="stFileUploader"] button[aria-label="Add files"] { display: none; }</style>')
    upload = st.file_uploader("A photo or scan of digits on paper", type=["png", "jpg", "jpeg"], key="photo")
    if upload is None:
        st.info("Upload a PNG or JPEG photo of a digit written on paper, or of a number.")
        return
    try:
        ink = picture_ink(upload.getvalue())
    except ValueError as error:
        st.error(f"That file cannot be used: {error}.")
        return
    photo_column, ink_column = st.columns(2)
    photo_column.image(upload.getvalue(), caption="Your photo", width=240)
    if not ink.any():
        st.info("No ink found in the photo: take it closer, with the digit dark on light paper.")
        return
    with ink_column:
        pictures([(ink, 240, "The ink found in it")])
    kept = kept_drawings(model, kept_labels())
    if number_mode:
        read_a_number(model, ink, kept, "photo", "No digits found in the photo.")
    else:
        reading = model.read_drawing(ink, kept=kept)
        read_one_digit(model, reading, "photo", "No ink found in the photo.")


model = pick_model()
title = st.empty()
choices = st.container(horizontal=True, gap="medium")  # a row that wraps only on the narrowest screens
# Required: a second click on the chosen mode would otherwise leave neither chosen.
mode = choices.segmented_control(
    "Read", [ONE_DIGIT, A_NUMBER], default=ONE_DIGIT, required=True, key="mode", label_visibility="collapsed"
)
source = choices.segmented_control(
    "From", [DRAW, PHOTO], default=DRAW, required=True, key="source", label_visibility="collapsed"
)
if source == DRAW and mode == ONE_DIGIT:
    choices.toggle("Teach it your handwriting", key=TEACH, help=TEACH_HELP)
title.title(TITLES[source, mode])
st.html(READING_CSS)
if model is not None:
    if source == DRAW:
        drawing_area(model, mode == A_NUMBER)
    else:
        photo_area(model, mode == A_NUMBER)
