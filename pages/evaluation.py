"""Evaluation: how the chosen model does on the 10,000 MNIST test images and on real people's drawings, and where it goes wrong."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import app_state
from digitlib.artifacts import ArtifactError
from digitlib.evaluate import row_normalised

COUNTS = "Counts"
SHARES = "Share of each true digit"
PERCENT = st.column_config.NumberColumn(format="percent")


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


def pair_sentence(pair: dict) -> str:
    """One confused pair in words: "True **1** read as **7**: 30 times"."""
    times = "time" if pair["count"] == 1 else "times"
    return f"True **{pair['true']}** read as **{pair['predicted']}**: {pair['count']} {times}"


def group_frame(groups: dict[str, dict], group: str, score: str) -> pd.DataFrame:
    """A per-group table (institution, digit or letter) of a drawn set's result: its size and score."""
    return pd.DataFrame({group: list(groups), "drawings": [g["n"] for g in groups.values()], score: [g["score"] for g in groups.values()]})


def set_summary(name: str, result: dict) -> dict:
    """One drawn set's line in the summary table."""
    digits = "accuracy" in result
    return {
        "set": name,
        "drawings": f"{result['n']:,} {'digits' if digits else 'letters'}",
        "read right": result.get("accuracy"),
        "answered": result["answered_rate"] if digits else None,
        "right before the threshold": result.get("accuracy_before_threshold"),
        "letters rejected": None if digits else result["rejection_rate"],
        "threshold": result["threshold"],
    }


def show_set(result: dict) -> None:
    """A drawn set's result by group, and for digits the most confused pairs."""
    if "accuracy" not in result:
        st.dataframe(group_frame(result["per_letter"], "letter", "rejected"), hide_index=True, column_config={"rejected": PERCENT})
        return
    groups_column, digits_column, pairs_column = st.columns([5, 5, 4], gap="medium")
    if "per_institution" in result:
        groups_column.dataframe(
            group_frame(result["per_institution"], "institution", "read right"), hide_index=True, column_config={"read right": PERCENT}
        )
    digits_column.dataframe(group_frame(result["per_digit"], "digit", "read right"), hide_index=True, column_config={"read right": PERCENT})
    with pairs_column:
        st.markdown("**Most confused pairs**, before the threshold")
        for pair in result["confused_pairs"][:6]:
            st.markdown(pair_sentence(pair))


def show_drawn(model: str, label: str) -> None:
    """How the model reads real people's drawings and letters, from its saved results on drawn sets."""
    try:
        results = app_state.drawn_results(model)
    except ArtifactError as error:
        st.error(f"The results on drawings could not be read. {error}")
        return
    if not results:
        st.info(
            f"{label} has not been measured on drawings yet. Run `python -m digitlib evaluate --model {model} "
            "--drawings FILE.npz` with drawn_dev.npz, nondigit_dev.npz or your own drawings, then reload."
        )
        return
    st.caption(
        "Canvases drawn by people, read through the app's own preprocessing and the model's \"not sure\" threshold: "
        "a \"not sure\" counts as wrong for a digit and as right for a letter. drawn_dev holds 6,114 digits drawn with a "
        "pen at nine institutions (UNIPEN), nondigit_dev 1,998 letters; no model here was trained on either. About 1% of "
        "drawn_dev's digits do not show their label, mostly one stroke of a digit that UNIPEN labels as the whole digit."
    )
    st.dataframe(
        pd.DataFrame([set_summary(name, result) for name, result in results.items()]),
        hide_index=True,
        placeholder="—",
        column_config={
            **{c: PERCENT for c in ("read right", "answered", "right before the threshold", "letters rejected")},
            "threshold": st.column_config.NumberColumn(format="%.3f", help="below this top probability the answer is \"not sure\""),
        },
    )
    for tab, result in zip(st.tabs(list(results)), results.values()):
        with tab:
            show_set(result)


def open_cell(cell: dict) -> None:
    """A chosen cell opens its mistakes; a diagonal cell opens every mistake on that digit."""
    true, predicted = int(cell["true"]), int(cell["predicted"])
    app_state.show_mistakes(true, None if true == predicted else predicted)


st.title("Evaluation")
model = app_state.pick_model()
if model is None:
    st.stop()
label = app_state.model_label(model)
try:
    metrics = app_state.test_metrics(model)
except ArtifactError:
    st.info(f"{label} has not been evaluated yet. Run `python -m digitlib evaluate --model {model}`, then reload.")
    st.stop()

st.subheader("On the MNIST test set")
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
        text_column.markdown(pair_sentence(pair))
        if button_column.button("Show them", key=f"pair_{pair['true']}_{pair['predicted']}"):
            app_state.show_mistakes(pair["true"], pair["predicted"])

    st.subheader("Other mistakes")
    true_column, predicted_column = st.columns(2)
    digits = [None, *range(10)]
    true = true_column.selectbox("True digit", digits, format_func=lambda d: "any" if d is None else str(d))
    predicted = predicted_column.selectbox("Predicted digit", digits, format_func=lambda d: "any" if d is None else str(d))
    if st.button("Show these mistakes", key="open_mistakes"):
        app_state.show_mistakes(true, predicted)

st.subheader("On real people's drawings")
show_drawn(model, label)
