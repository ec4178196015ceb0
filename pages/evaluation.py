"""Evaluation: how the chosen model does on MNIST's test images and people's drawings, and where it fails."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from digitlib.artifacts import ArtifactError
from digitlib.data import DIGITS_SET, LETTERS_SET
from digitlib.evaluate import OUT_OF_INSTITUTION, row_normalised
from digitlib.registry import label
from ui.cached import drawn_results, test_metrics
from ui.models import pick_model
from ui.text import count, share
from ui.widgets import digit_filter

MISCLASSIFIED = "pages/misclassified.py"
COUNTS = "Counts"
SHARES = "Share of each true digit"
PERCENT = st.column_config.NumberColumn(format="%.1f%%")
# Counts with thousands separators, as in the text around them ("6,114").
COUNT = st.column_config.NumberColumn(format="localized")
SET_NAMES = {DIGITS_SET: "Digits drawn by people", LETTERS_SET: "Letters drawn by people"}
SET_DESCRIPTIONS = {
    DIGITS_SET: "{n:,} digits written with a pen on a tablet by people at nine institutions "
    "(the UNIPEN collection); about 1% of them do not show their digit (one stroke of it, say), "
    'and "readable" leaves those out.',
    LETTERS_SET: "{n:,} letters such as A, E, H, K, M, N and X written the same way: "
    'the right answer for each is "not a digit", and "not sure" counts as rejecting it too.',
}


def confusion_frame(confusion: np.ndarray) -> pd.DataFrame:
    """One row per (true, predicted) cell with its count and its share of the true digit's images."""
    shares = row_normalised(confusion)
    true, predicted = np.indices(confusion.shape)
    return pd.DataFrame(
        {
            "true": true.ravel(),
            "predicted": predicted.ravel(),
            "count": confusion.ravel(),
            "share": shares.ravel(),
        }
    )


def confusion_chart(cells: pd.DataFrame, view: str) -> alt.LayerChart:
    """A clickable heatmap of the confusion matrix, with the number in every cell."""
    value, label_format, linear_below = ("count", ",d", 1) if view == COUNTS else ("share", ".1%", 0.001)
    # Log colours: the diagonal holds ~1,000 per cell, mistakes a handful; a linear scale would hide them.
    scale = alt.Scale(type="symlog", constant=linear_below, scheme="blues")
    chosen = alt.selection_point(name="cell", fields=["true", "predicted"], on="click")
    base = alt.Chart(cells).encode(
        x=alt.X("predicted:O", title="predicted digit", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:O", title="true digit"),
    )
    squares = (
        base.mark_rect()
        .encode(
            color=alt.Color(f"{value}:Q", scale=scale, legend=None),
            tooltip=[
                "true",
                "predicted",
                alt.Tooltip("count:Q", format=","),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .add_params(chosen)
    )
    # Empty cells stay blank, so the few mistakes stand out.
    numbers = (
        base.transform_filter(alt.datum.count > 0)
        .mark_text(fontSize=12)
        .encode(
            text=alt.Text(f"{value}:Q", format=label_format),
            color=alt.condition(
                alt.datum.true == alt.datum.predicted, alt.value("white"), alt.value("black")
            ),
        )
    )
    return (squares + numbers).properties(width="container", height=460)


def pair_sentence(pair: dict) -> str:
    """One confused pair in words: "True **1** read as **7**: 30 times"."""
    times = "time" if pair["count"] == 1 else "times"
    return f"True **{pair['true']}** read as **{pair['predicted']}**: {pair['count']} {times}"


def show_mistakes(true: int | None, predicted: int | None) -> None:
    """Open the Misclassified page on these mistakes."""
    params = {
        key: str(value) for key, value in (("true", true), ("predicted", predicted)) if value is not None
    }
    st.switch_page(MISCLASSIFIED, query_params=params)


def open_cell(cell: dict, confusion: np.ndarray) -> None:
    """A chosen cell opens its mistakes (a diagonal one: all on that digit), or says there are none."""
    true, predicted = int(cell["true"]), int(cell["predicted"])
    if true == predicted:
        if confusion[true].sum() > confusion[true, true]:
            show_mistakes(true, None)
        st.info(f"Every {true} of the test set is read right.")
    elif confusion[true, predicted]:
        show_mistakes(true, predicted)
    else:
        st.info(f"No {true} of the test set is read as {predicted}.")


def group_frame(groups: dict[str, dict], group: str, score: str) -> pd.DataFrame:
    """A per-group table (institution, digit or letter) of a drawn set's result: its size and score (in %)."""
    return pd.DataFrame(
        {
            group: list(groups),
            "drawings": [g["n"] for g in groups.values()],
            score: [100 * g["score"] for g in groups.values()],
        }
    )


def show_set(name: str, result: dict) -> None:
    """A drawn set's result in words, by group, and for digits the most confused pairs."""
    description = SET_DESCRIPTIONS.get(name, "Drawings you exported from the Your drawings page.")
    st.caption(description.format(n=result["n"]))
    if "accuracy" not in result and "not_a_digit_rate" in result:
        left, right = st.columns(2)
        left.metric(
            "Letters rejected", share(result["rejection_rate"]), help='answered "not a digit" or "not sure"'
        )
        right.metric('Said "not a digit"', share(result["not_a_digit_rate"]))
        st.dataframe(
            group_frame(result["per_letter"], "letter", "rejected"),
            hide_index=True,
            column_config={"drawings": COUNT, "rejected": PERCENT},
        )
        return
    right_column, answered_column, guess_column = st.columns(3)
    right_column.metric(
        "Readable digits read right",
        share(result["readable_accuracy"]),
        help=f"of {count(result['readable_n'])}; all of them: {share(result['accuracy'])}",
    )
    answered_column.metric(
        "Readable digits answered",
        share(result["readable_answered_rate"]),
        help='the rest got "not sure" or "not a digit"',
    )
    guess_column.metric(
        "Best guess right",
        share(result["readable_accuracy_before_threshold"]),
        help="whatever the model's confidence",
    )
    groups_column, digits_column, pairs_column = st.columns([5, 5, 4], gap="medium")
    if "per_institution_readable" in result:
        groups_column.dataframe(
            group_frame(result["per_institution_readable"], "institution", "read right"),
            hide_index=True,
            column_config={"drawings": COUNT, "read right": PERCENT},
        )
    digits_column.dataframe(
        group_frame(result["per_digit"], "digit", "read right"),
        hide_index=True,
        column_config={"drawings": COUNT, "read right": PERCENT},
    )
    st.caption("Per institution and per digit, of the readable digits.")
    with pairs_column:
        st.markdown("**Most confused pairs** (best guesses, readable digits)")
        for pair in result["confused_pairs"][:6]:
            st.markdown(pair_sentence(pair))
    if "with_kept" in result:
        kept = result["with_kept"]
        st.markdown(
            f"**With the writer's kept drawings:** {share(kept['corrections']['readable_accuracy'])} of the "
            f"readable digits right when each writer keeps the drawings the app got wrong with their right "
            f"digit, {share(kept['each digit once']['readable_accuracy'])} when they teach each digit once "
            f"first, {share(kept['every drawing']['readable_accuracy'])} when they keep every drawing. The "
            "Draw page reads each new drawing beside the ones you kept: a near copy gets your digit."
        )


def show_drawn(model: str, model_label: str) -> None:
    """How the model reads real people's drawings and letters, from its saved results on drawn sets."""
    try:
        results = drawn_results(model)
    except ArtifactError as error:
        st.error(f"The results on drawings could not be read. {error}")
        return
    if not results:
        st.info(
            f"{model_label} has not been measured on drawings yet. "
            f"Run `python -m digitlib evaluate --model {model} --drawings FILE.npz --save` "
            "with drawn_dev.npz, nondigit_dev.npz or your own drawings, then reload."
        )
        return
    measured = {result.get("measured") for result in results.values()}
    if OUT_OF_INSTITUTION in measured:
        st.caption(
            "Read as in the app, from the canvas to the answer. Every drawing here was read by a model "
            "that never saw a drawing from that person's institution, with a confidence threshold chosen "
            "without it: these are the figures to expect from new people. Below the threshold the app says "
            '"not sure" or "not a digit", which counts as wrong for a digit and right for a letter.'
        )
    tabs = st.tabs([SET_NAMES.get(name, name) for name in results])
    for tab, (name, result) in zip(tabs, results.items()):
        with tab:
            show_set(name, result)


st.title("Evaluation")
model = pick_model()
if model is None:
    st.stop()
model_label = label(model)
try:
    metrics = test_metrics(model)
except ArtifactError:
    st.info(
        f"{model_label} has not been evaluated yet. "
        f"Run `python -m digitlib evaluate --model {model}`, then reload."
    )
    st.stop()

st.subheader("On the MNIST test set")
st.caption(
    "10,000 handwritten digits the model never trained on, from the same collection as its training digits."
)
accuracy_column, loss_column, errors_column = st.columns(3)
accuracy_column.metric("Test accuracy", f"{metrics['accuracy']:.2%}")
loss_column.metric("Test loss", f"{metrics['loss']:.4f}", help="cross-entropy: lower means surer when right")
# The total goes in the label: as part of the value it is cut short on a 1024 px screen.
errors_column.metric(f"Mistakes in {count(metrics['n'])}", count(metrics["errors"]))

st.subheader("Confusion matrix")
view = st.segmented_control("Show", [COUNTS, SHARES], default=COUNTS, required=True, key="confusion_view")
st.caption("Rows are the true digit, columns the model's answer. Click a cell to see those mistakes.")
confusion = np.asarray(metrics["confusion"])
event = st.altair_chart(
    confusion_chart(confusion_frame(confusion), view),
    width="stretch",
    on_select="rerun",
    selection_mode="cell",
    key="confusion",
)
chosen_cells = event["selection"].get("cell")
if chosen_cells:
    open_cell(chosen_cells[0], confusion)

scores_column, pairs_column = st.columns([3, 2], gap="large")
with scores_column:
    st.subheader("Precision, recall and F1 per digit")
    st.dataframe(
        pd.DataFrame(metrics["per_class"]),
        hide_index=True,
        column_config={
            "support": COUNT,
            **{name: st.column_config.NumberColumn(format="%.4f") for name in ("precision", "recall", "f1")},
        },
    )
with pairs_column:
    st.subheader("Most confused pairs")
    pairs = metrics["confused_pairs"]
    if not pairs:
        st.success("No mistakes at all.")
    for pair in pairs:
        text_column, button_column = st.columns([3, 2], vertical_alignment="center")
        text_column.markdown(pair_sentence(pair))
        if button_column.button("Show them", key=f"pair_{pair['true']}_{pair['predicted']}"):
            show_mistakes(pair["true"], pair["predicted"])

    st.subheader("Other mistakes")
    true_column, predicted_column = st.columns(2)
    with true_column:
        true = digit_filter("True digit", "evaluation_true", "true")
    with predicted_column:
        predicted = digit_filter("Predicted digit", "evaluation_predicted", "predicted", exclude=true)
    if st.button("Show these mistakes", key="open_mistakes"):
        show_mistakes(true, predicted)

st.subheader("On real people's drawings")
show_drawn(model, model_label)
