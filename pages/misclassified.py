"""Misclassified: every MNIST test image the chosen model gets wrong, from its saved test probabilities.

Only the inspected image runs the model: once, for its map of why the model answered what it did.
"""

import math

import numpy as np
import pandas as pd
import streamlit as st

import app_state
from digitlib.artifacts import ArtifactError
from digitlib.data import DataError
from digitlib.evaluate import misclassified

PER_PAGE = 24
GRID_COLUMNS = 4  # wide enough for "#9999" on its button and the caption on one line
THUMBNAIL = 84
DETAIL = 224  # px: the inspected image and its map side by side
TRUE_KEY, PREDICTED_KEY, ORDER_KEY, PAGE_KEY = "mistakes_true", "mistakes_predicted", "mistakes_order", "mistakes_page"
INSPECTED = "inspected_mistake"
ORDERS = {"confidence": "Most confident first", "index": "Test image number"}


def first_page() -> None:
    """Go back to page 1 when the filter or order changes."""
    st.session_state[PAGE_KEY] = 1


def inspect(index: int) -> None:
    """Show this test image large."""
    st.session_state[INSPECTED] = index


def apply_filter_from_evaluation() -> None:
    """Start from the (true, predicted) pair chosen on the Evaluation page, if any."""
    chosen = st.session_state.pop(app_state.MISTAKE_FILTER, None)
    if chosen is not None:
        st.session_state[TRUE_KEY], st.session_state[PREDICTED_KEY] = chosen
        st.session_state[PAGE_KEY] = 1
        st.session_state.pop(INSPECTED, None)


def digit_choice(label: str, key: str) -> int | None:
    """A digit, or None for any digit."""
    return st.selectbox(
        label, [None, *range(10)], format_func=lambda d: "any" if d is None else str(d), key=key, on_change=first_page
    )


def why_this_answer(model: str, image: np.ndarray, digit: int) -> None:
    """The map of what made the model read `image` as `digit`, or why it cannot be drawn."""
    try:
        predictor = app_state.predictor(model)
    except ArtifactError as error:
        st.info(f"The map of why needs the model itself, which cannot be used. {error}")
        return
    app_state.show_why(predictor, image, digit, width=DETAIL)


def summary(count: int, total: int, images: int, true: int | None, predicted: int | None, model_label: str) -> str:
    """How many mistakes the filter keeps, in words."""
    if true is None and predicted is None:
        return f"{model_label} gets **{count:,}** of the {images:,} test images wrong."
    parts = ([f"true digit {true}"] if true is not None else []) + ([f"answer {predicted}"] if predicted is not None else [])
    return f"**{count:,}** of {model_label}'s {total:,} mistakes have {' and '.join(parts)}."


st.title("Misclassified test images")
model = app_state.pick_model()
if model is None:
    st.stop()
label = app_state.model_label(model)
try:
    probabilities, labels = app_state.test_predictions(model)
    _, (x_test, y_test) = app_state.mnist()
except ArtifactError:
    st.info(f"{label} has no saved test predictions yet. Run `python -m digitlib evaluate --model {model}`, then reload.")
    st.stop()
except DataError as error:
    st.error(f"MNIST could not be loaded. {error}")
    st.stop()
if len(labels) != len(y_test) or (labels != y_test).any():
    st.error(f"{label}'s saved test predictions do not belong to this MNIST test set; evaluate the model again.")
    st.stop()

apply_filter_from_evaluation()
true_column, predicted_column, order_column = st.columns(3)
with true_column:
    true = digit_choice("True digit", TRUE_KEY)
with predicted_column:
    predicted = digit_choice("Predicted digit", PREDICTED_KEY)
with order_column:
    order = st.radio("Order", list(ORDERS), format_func=ORDERS.get, key=ORDER_KEY, horizontal=True, on_change=first_page)

mistakes = misclassified(probabilities, labels, true, predicted, order)
guesses = probabilities.argmax(axis=1)
confidences = probabilities.max(axis=1)
st.markdown(summary(len(mistakes), int((guesses != labels).sum()), len(labels), true, predicted, label))
if not len(mistakes):
    st.info("No mistakes match this filter.")
    st.stop()

pages = math.ceil(len(mistakes) / PER_PAGE)
if st.session_state.get(PAGE_KEY, 1) > pages:
    st.session_state[PAGE_KEY] = pages
grid_tab, table_tab = st.tabs(["Images", "Table"])
with grid_tab:
    grid_column, detail_column = st.columns([3, 2], gap="large")
    with grid_column:
        page_column, legend_column = st.columns([1, 2], vertical_alignment="bottom")
        page = page_column.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=PAGE_KEY)
        legend_column.caption("Under each image: true digit → the model's answer · its confidence. Click the number to inspect.")
        shown = mistakes[(page - 1) * PER_PAGE : page * PER_PAGE]
        for row in range(0, len(shown), GRID_COLUMNS):
            for column, index in zip(st.columns(GRID_COLUMNS), shown[row : row + GRID_COLUMNS]):
                column.image(app_state.pixelated(x_test[index], 3), width=THUMBNAIL)
                column.caption(f"**{labels[index]} → {guesses[index]}** · {app_state.percent(confidences[index], 0)}")
                column.button(
                    f"#{index}", key=f"inspect_{index}", help=f"Inspect test image #{index}", on_click=inspect, args=(int(index),)
                )
    with detail_column:
        inspected = st.session_state.get(INSPECTED)
        if inspected is None:
            st.info("Click an image's number to see it large with all ten probabilities.")
        else:
            st.markdown(
                f"**Test image #{inspected}**: true **{labels[inspected]}**, read as **{guesses[inspected]}** "
                f"with {app_state.percent(confidences[inspected])} confidence."
            )
            image_column, why_column = st.columns(2)
            image_column.image(app_state.pixelated(x_test[inspected], DETAIL // 28), width=DETAIL)
            with why_column:
                why_this_answer(model, x_test[inspected] / 255.0, int(guesses[inspected]))
            st.altair_chart(app_state.probability_chart(probabilities[inspected]), width="stretch")
with table_tab:
    st.dataframe(
        pd.DataFrame(
            {
                "test image": mistakes,
                "true": labels[mistakes],
                "predicted": guesses[mistakes],
                "confidence": confidences[mistakes],
            }
        ),
        hide_index=True,
        column_config={"confidence": st.column_config.NumberColumn(format="percent")},
    )
