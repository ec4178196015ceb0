"""Misclassified: every MNIST test image the chosen model gets wrong, from its saved test probabilities.

Only the inspected image runs the model: once, for its map of why the model answered what it did.
"""

import numpy as np
import pandas as pd
import streamlit as st

from digitlib.artifacts import ArtifactError
from digitlib.data import DataError
from digitlib.evaluate import misclassified
from digitlib.registry import label, spec
from ui.cached import mnist, test_predictions
from ui.grid import picture_grid
from ui.models import pick_model, predictor
from ui.text import percent
from ui.views import why_picture
from ui.widgets import digit_filter, pager, pictures, probability_bars, reset_pager

PER_PAGE = 20  # full rows of 4 or 5 thumbnails, as a desktop and a tablet show them
THUMBNAIL = 84
DETAIL = 196  # px: the inspected image and its map side by side
TRUE_KEY, PREDICTED_KEY, ORDER_KEY, PAGE_KEY = (
    "mistakes_true",
    "mistakes_predicted",
    "mistakes_order",
    "mistakes_page",
)
INSPECTED = "inspected"
ORDERS = {"confidence": "Most confident first", "index": "Test image number"}


def first_page() -> None:
    """Back to page 1 when the filter or order changes."""
    reset_pager(PAGE_KEY)


def inspect(index: int) -> None:
    """Show this test image large, and keep it in the address."""
    st.query_params[INSPECTED] = str(index)


def inspected(mistakes: np.ndarray) -> int | None:
    """The test image being inspected (from the address), if it is one of the mistakes shown."""
    value = st.query_params.get(INSPECTED, "")
    return int(value) if value.isdigit() and int(value) in mistakes else None


def summary(
    count: int, total: int, images: int, true: int | None, predicted: int | None, model_label: str
) -> str:
    """How many mistakes the filter keeps, in words."""
    if true is None and predicted is None:
        return f"{model_label} gets **{count:,}** of the {images:,} test images wrong."
    parts = ([f"true digit {true}"] if true is not None else []) + (
        [f"answer {predicted}"] if predicted is not None else []
    )
    return f"**{count:,}** of the {total:,} mistakes of {model_label} have {' and '.join(parts)}."


def show_detail(model: str, index: int, image: np.ndarray, true: int, probabilities: np.ndarray) -> None:
    """One test image large, with the map of why the model answered what it did, and every probability."""
    guess = int(probabilities.argmax())
    st.markdown(
        f"**Test image #{index}**: true **{true}**, read as **{guess}** "
        f"with {percent(probabilities.max())} confidence."
    )
    items = [(image, DETAIL, "The test image")]
    try:
        items.append(
            (
                why_picture(predictor(model), image / 255.0, guess),
                DETAIL,
                f"Why {guess}: red for it, blue against",
            )
        )
    except ArtifactError as error:
        st.info(f"The map of why needs the model itself, which cannot be used. {error}")
    pictures(items)
    probability_bars(probabilities, spec(model).knows_letters)


st.title("Misclassified test images")
model = pick_model()
if model is None:
    st.stop()
model_label = label(model)
try:
    probabilities, labels = test_predictions(model)
    _, (x_test, y_test) = mnist()
except ArtifactError:
    st.info(
        f"{model_label} has no saved test predictions yet. "
        f"Run `python -m digitlib evaluate --model {model}`, then reload."
    )
    st.stop()
except DataError as error:
    st.error(f"MNIST could not be loaded. {error}")
    st.stop()
if len(labels) != len(y_test) or (labels != y_test).any():
    st.error(
        f"{model_label}'s saved test predictions do not belong to this MNIST test set; "
        "evaluate the model again."
    )
    st.stop()

true_column, predicted_column, order_column = st.columns(3)
with true_column:
    true = digit_filter("True digit", TRUE_KEY, "true", on_change=first_page)
with predicted_column:
    predicted = digit_filter(
        "Predicted digit", PREDICTED_KEY, "predicted", exclude=true, on_change=first_page
    )
with order_column:
    order = st.radio(
        "Order", list(ORDERS), format_func=ORDERS.get, key=ORDER_KEY, horizontal=True, on_change=first_page
    )

mistakes = misclassified(probabilities, labels, true, predicted, order)
guesses = probabilities.argmax(axis=1)
confidences = probabilities.max(axis=1)
st.markdown(summary(len(mistakes), int((guesses != labels).sum()), len(labels), true, predicted, model_label))
if not len(mistakes):
    st.info("No mistakes match this filter: choose another digit.")
    st.stop()

grid_tab, table_tab = st.tabs(["Images", "Table"])
with grid_tab:
    grid_column, detail_column = st.columns([3, 2], gap="large")
    with grid_column:
        start, stop = pager(len(mistakes), PER_PAGE, PAGE_KEY)
        st.caption(
            "Under each image: its number, true digit → the model's answer · its confidence. "
            "Click one to inspect it."
        )
        shown = mistakes[start:stop]
        chosen = inspected(mistakes)
        clicked = picture_grid(
            "mistakes_grid",
            [x_test[i] for i in shown],
            [f"#{i} {labels[i]} → {guesses[i]} · {percent(confidences[i], 0)}" for i in shown],
            [int(i) for i in shown],
            [f"Inspect test image #{i}" for i in shown],
            THUMBNAIL,
            chosen,
        )
        if clicked is not None:
            inspect(clicked)
            chosen = clicked
    with detail_column:
        if chosen is None:
            st.info(
                "Click an image to see it large, with why the model read it so and all ten probabilities."
            )
        else:
            show_detail(model, chosen, x_test[chosen], int(labels[chosen]), probabilities[chosen])
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
