"""Draw: a digit (or a number) on a canvas, read live by the chosen model, with every step of what the model sees."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

import app_state
from digitlib.artifacts import ArtifactError
from digitlib.classes import NOT_SURE
from digitlib.collection import opened, save_drawing
from digitlib.data import DataError
from digitlib.numbers import NumberReading, read_number
from digitlib.photo import photo_ink
from digitlib.preprocess import decode_image

if TYPE_CHECKING:
    from digitlib.preprocess import Stages
    from digitlib.serving import Answer

CANVAS_SIZE = 280
# A number needs room for several digits side by side.
NUMBER_CANVAS_WIDTH = 560
MODE = "draw_mode"
ONE_DIGIT, A_NUMBER = "One digit", "A number"
DIGIT_INPUT_SIZE = 112
# px: the number read and one line under it, above the wide canvas; a fixed height keeps the canvas
# from moving while the digits are written.
NUMBER_ANSWER_HEIGHT = 110
# Bumped by Clear: a canvas with a new key mounts empty, and the old drawing's state is dropped.
CANVAS_ROUND = "canvas_round"
STAGE_SIZE = 140
# The (input hash, digit) saved last, so a second click on Save does not store the drawing twice.
LAST_SAVED = "last_saved_drawing"


def canvas_key() -> str:
    """The key of the current canvas."""
    return f"canvas_{st.session_state.get(CANVAS_ROUND, 0)}"


def clear_canvas() -> None:
    """Replace the canvas with a fresh, empty one."""
    st.session_state[CANVAS_ROUND] = st.session_state.get(CANVAS_ROUND, 0) + 1


def reading_a_number() -> bool:
    """Whether the page reads a number rather than one digit."""
    return st.session_state.get(MODE) == A_NUMBER


def drawn_image(brush_width: int, width: int) -> np.ndarray | None:
    """Show the canvas and return what is drawn on it as RGBA, or None before the first stroke."""
    # The component registers itself on import, which needs a running Streamlit app.
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        stroke_width=brush_width,
        stroke_color="#ffffff",
        background_color="#000000",
        width=width,
        height=CANVAS_SIZE,
        drawing_mode="freedraw",
        update_streamlit=True,  # send every stroke, so the answer follows the drawing
        return_image_data=True,
        # The wide canvas has a key of its own, so switching modes mounts an empty canvas of the right width.
        key=canvas_key() if width == CANVAS_SIZE else f"{canvas_key()}_wide",
    )
    return result.image_data


def uploaded_image() -> tuple[np.ndarray | None, str | None]:
    """The ink of an uploaded photo or scan, cleaned in memory (white on black), or why it cannot be used."""
    upload = st.file_uploader(
        "…or upload a photo or scan of digits on paper", type=["png", "jpg", "jpeg"], key=f"upload_{canvas_key()}"
    )
    if upload is None:
        return None, None
    try:
        return photo_ink(decode_image(upload.getvalue())), None
    except ValueError as error:
        return None, f"That file cannot be used: {error}."


def show_answer(answer: Answer) -> None:
    """The digit and its confidence, or the two best guesses when the model is not sure."""
    if answer.sure:
        st.metric("Prediction", answer.digit)
        st.metric("Confidence", app_state.percent(answer.confidence))
        return
    (first, first_probability), (second, second_probability) = answer.top_two
    st.warning(
        f"Not sure: no digit reaches the {answer.threshold:.0%} confidence needed for an answer. "
        f"It could be a **{first}** ({app_state.percent(first_probability, 0)}) or a **{second}** ({app_state.percent(second_probability, 0)})."
    )
    best, runner_up = st.columns(2)
    best.metric("Best guess", first)
    runner_up.metric("Second guess", second)


def offer_correction(canvas: np.ndarray, model_input: np.ndarray, answer: Answer, model: str) -> None:
    """'Wrong? Tell me the right digit': save the drawing with the digit picked, once, and confirm it."""
    digit = st.selectbox(
        "Wrong? Tell me the right digit", range(10), index=None, placeholder="Pick the right digit", key=f"right_digit_{canvas_key()}"
    )
    if not st.button("Save", icon=":material/save:", key=f"save_{canvas_key()}", disabled=digit is None):
        return
    saved = (hashlib.sha256(model_input.tobytes()).hexdigest(), digit)
    if st.session_state.get(LAST_SAVED) == saved:
        st.info(f"Already saved as a {digit}.")
        return
    try:
        with opened() as connection:
            save_drawing(connection, canvas, model_input, digit, answer.digit, answer.confidence, model)
    except DataError as error:
        st.error(f"The drawing could not be saved. {error}")
        return
    st.session_state[LAST_SAVED] = saved
    st.success(f"Saved as a {digit}. Thank you!")
    st.page_link("pages/drawings.py", label="See your drawings", icon=":material/photo_library:")


def show_stage(column, image: np.ndarray, caption: str) -> None:
    """One stage at most STAGE_SIZE px a side, keeping its shape; small ones with sharp pixels."""
    height, width = image.shape[:2]
    enlarged = app_state.pixelated(image, max(1, STAGE_SIZE // max(height, width)))
    column.image(enlarged, width=max(1, round(STAGE_SIZE * width / max(height, width))), clamp=True)
    column.caption(caption)


def show_stages(stages: Stages) -> None:
    """Every step from the drawing to the 28x28 input, as in MNIST's own recipe."""
    x, y, width, height = stages.bbox
    fitted_height, fitted_width = stages.fitted.shape
    steps = [
        (app_state.with_box(stages.ink, stages.bbox), f"Ink found: a {width}×{height} box"),
        (stages.cropped, "Cropped to the ink"),
        (stages.fitted, f"Fitted into 20×20: {fitted_width}×{fitted_height}"),
        (stages.centered, "Centred by mass in 28×28"),
    ]
    for column, (image, caption) in zip(st.columns(len(steps)), steps):
        show_stage(column, image, caption)


def show_digit_input(column, reading: NumberReading, index: int) -> None:
    """One digit's 28x28 input with its answer and confidence, or its best guess when the model is not sure."""
    digit = reading.digits[index]
    column.image(app_state.pixelated(digit.image, DIGIT_INPUT_SIZE // 28), width=DIGIT_INPUT_SIZE, clamp=True)
    answer, confidence = reading.answers[index], reading.confidences[index]
    if answer == NOT_SURE:
        best = int(reading.probabilities[index].argmax())
        column.caption(f"**?** not sure: a {best}? ({app_state.percent(confidence, 0)})")
    else:
        column.caption(f"**{answer}** · {app_state.percent(confidence)}")


def show_number(reading: NumberReading) -> None:
    """The number read, with a word on the digits the model is not sure of."""
    st.metric("Number", reading.text)
    if NOT_SURE in reading.answers:
        st.caption(f"Not sure of the digits marked ?: no digit reaches the {reading.threshold:.0%} confidence needed there.")


def show_number_digits(reading: NumberReading) -> None:
    """Each digit's box on the ink, and each digit's 28x28 input with its answer."""
    st.subheader("How your number becomes MNIST digits")
    st.image(
        app_state.with_boxes(reading.ink, [d.bbox for d in reading.digits]),
        caption=f"{len(reading.digits)} digit{'s' if len(reading.digits) != 1 else ''} found, left to right",
        width=NUMBER_CANVAS_WIDTH,
    )
    st.markdown("**What the model sees, digit by digit**")
    for index, column in enumerate(st.columns(max(len(reading.digits), 4))[: len(reading.digits)]):
        show_digit_input(column, reading, index)


number_mode = reading_a_number()
st.title("Draw a number" if number_mode else "Draw a digit")
model = app_state.pick_model()
st.radio("Read", [ONE_DIGIT, A_NUMBER], horizontal=True, key=MODE, label_visibility="collapsed")
canvas_width = NUMBER_CANVAS_WIDTH if number_mode else CANVAS_SIZE
# The wide canvas leaves no room beside it on most screens, so the number read goes above it, in view.
number_answer = st.container(height=NUMBER_ANSWER_HEIGHT, border=False) if number_mode else None
# Fixed widths keep the canvas whole; on a narrow screen the three parts wrap below each other.
row = st.container(horizontal=True, gap="large")
canvas_column = row.container(width=canvas_width + 20)
answer_column = number_answer if number_mode else row.container(width=240)
chart_column = row.container(width="stretch")

with canvas_column:
    if number_mode:
        st.caption(
            "Write the digits side by side with a little space between them: touching digits are cut apart only "
            "where the model reads two digits much more surely than one."
        )
    else:
        st.caption("White ink on black, like MNIST. The answer follows every stroke.")
    st.space("small")  # room for the canvas's own toolbar, which floats above it
    canvas_slot = st.container()  # the canvas goes above its controls but needs the brush width first
    brush_width = st.slider("Brush width", min_value=6, max_value=40, value=18)
    st.button("Clear", icon=":material/delete:", on_click=clear_canvas)
    picture, upload_problem = uploaded_image()
    with canvas_slot:
        drawing = drawn_image(brush_width, canvas_width)
if upload_problem:
    answer_column.error(upload_problem)

predictor = None
if model is not None:
    try:
        predictor = app_state.predictor(model)
    except ArtifactError as error:
        answer_column.error(f"The {app_state.model_label(model)} model cannot be used. {error}")

if predictor is not None and number_mode:
    source = picture if picture is not None else drawing
    reading = None if source is None else read_number(predictor, source)
    if reading is not None and reading.digits:
        with answer_column:
            show_number(reading)
        show_number_digits(reading)
    elif picture is not None:
        answer_column.info("No ink found in the uploaded picture.")
    else:
        answer_column.info("Write a number on the black canvas, digit by digit from left to right.")
elif predictor is not None:
    source = picture if picture is not None else drawing
    read = None if source is None else predictor.read_drawing(source)
    if read is None and picture is not None:
        answer_column.info("No ink found in the uploaded picture.")
    elif read is None:
        answer_column.info("Draw a digit from 0 to 9 on the black canvas with your mouse, finger or pen.")
    else:
        stages, answer = read
        with answer_column:
            show_answer(answer)
            offer_correction(source, stages.centered, answer, model)
            st.image(app_state.pixelated(stages.centered, 7), caption="What the model sees: 28×28", width=196, clamp=True)
            app_state.show_why(predictor, stages.centered, answer.digit, width=196)
        with chart_column:
            st.markdown("**Probability of each digit**")
            st.altair_chart(app_state.probability_chart(answer.probabilities), width="stretch")
            st.markdown("**Nearest MNIST training images**, as the model sees them (label · similarity)")
            app_state.show_neighbours(predictor, stages.centered)
        st.subheader("How your drawing becomes an MNIST digit")
        show_stages(stages)
