"""Evaluation: how the chosen model does on the 10,000 MNIST test images, and where it goes wrong."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import app_state
from digitlib.artifacts import ArtifactError
from digitlib.evaluate import row_normalised

COUNTS = "Counts"
SHARES = "Share of each true digit"


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
    colour_value = alt.Color(f"{value}:Q", scale=scale, legend=None)
    chosen = alt.selection_point(name="cell", fields=["true", "predicted"], on="click")
    base = alt.Chart(cells).encode(
        x=alt.X("predicted:O", title="predicted digit", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:O", title="true digit"),
    )
    squares = base.mark_rect().encode(
        color=colour_value,
        tooltip=["true", "predicted", alt.Tooltip("count:Q", format=","), alt.Tooltip("share:Q", format=".2%")],
    ).add_params(chosen)
    # Empty cells stay blank, so the few mistakes stand out.
    numbers = base.transform_filter(alt.datum.count > 0).mark_text(fontSize=12).encode(
        text=alt.Text(f"{value}:Q", format=label_format),
        color=alt.condition(alt.datum.true == alt.datum.predicted, alt.value("white"), alt.value("black")),
    )
    return (squares + numbers).properties(width=520, height=460)


def open_cell(cell: dict) -> None:
    """A chosen cell opens its mistakes; a diagonal cell opens every mistake on that digit."""
    true, predicted = int(cell["true"]), int(cell["predicted"])
    app_state.show_mistakes(true, None if true == predicted else predicted)


st.title("Evaluation on the MNIST test set")
model = app_state.pick_model()
if model is None:
    st.stop()
label = app_state.model_label(model)
try:
    metrics = app_state.test_metrics(model)
except ArtifactError:
    st.info(f"{label} has not been evaluated yet. Run `python -m digitlib evaluate --model {model}`, then reload.")
    st.stop()

accuracy_column, loss_column, errors_column = st.columns(3)
accuracy_column.metric("Test accuracy", f"{metrics['accuracy']:.2%}")
loss_column.metric("Test loss", f"{metrics['loss']:.4f}")
errors_column.metric("Mistakes", f"{metrics['errors']:,} of {metrics['n']:,}")

st.subheader("Confusion matrix")
view = st.segmented_control("Show", [COUNTS, SHARES], default=COUNTS, key="confusion_view") or COUNTS
st.caption("Rows are the true digit, columns the model's answer. Click a cell to see those mistakes.")
confusion = np.asarray(metrics["confusion"])
event = st.altair_chart(
    confusion_chart(confusion_frame(confusion), view),
    width="content",
    on_select="rerun",
    selection_mode="cell",
    key="confusion",
)
chosen_cells = event["selection"].get("cell")
if chosen_cells:
    open_cell(chosen_cells[0])

scores_column, pairs_column = st.columns([3, 2], gap="large")
with scores_column:
    st.subheader("Precision, recall and F1 per digit")
    st.dataframe(
        pd.DataFrame(metrics["per_class"]),
        hide_index=True,
        column_config={name: st.column_config.NumberColumn(format="%.4f") for name in ("precision", "recall", "f1")},
    )
with pairs_column:
    st.subheader("Most confused pairs")
    pairs = metrics["confused_pairs"]
    if not pairs:
        st.success("No mistakes at all.")
    for pair in pairs:
        text_column, button_column = st.columns([3, 2], vertical_alignment="center")
        times = "time" if pair["count"] == 1 else "times"
        text_column.markdown(f"True **{pair['true']}** read as **{pair['predicted']}**: {pair['count']} {times}")
        if button_column.button("Show them", key=f"pair_{pair['true']}_{pair['predicted']}"):
            app_state.show_mistakes(pair["true"], pair["predicted"])

    st.subheader("Other mistakes")
    true_column, predicted_column = st.columns(2)
    digits = [None, *range(10)]
    true = true_column.selectbox("True digit", digits, format_func=lambda d: "any" if d is None else str(d))
    predicted = predicted_column.selectbox("Predicted digit", digits, format_func=lambda d: "any" if d is None else str(d))
    if st.button("Show these mistakes", key="open_mistakes"):
        app_state.show_mistakes(true, predicted)
