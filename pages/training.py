"""Training: how each model was trained (settings, time, learning curves, architecture), from its record."""

import contextlib

import altair as alt
import pandas as pd
import streamlit as st

from digitlib.artifacts import ArtifactError, available_models
from digitlib.data import DIGITS_SET, LETTERS_SET
from digitlib.registry import label, spec
from ui.cached import drawn_results, test_metrics, training_record
from ui.models import pick_model
from ui.text import minutes

NOT_APPLICABLE = "—"  # shown instead of "None" for what a model does not have
# In points, with two decimals: MNIST's 99.37% and a letter rate's 12.71% read alike.
PERCENT_FORMAT = "%.2f%%"
PERCENT = st.column_config.NumberColumn(format=PERCENT_FORMAT)


def in_percent(rate: float | None) -> float | None:
    """A rate as a percentage, for the table's percent columns; None stays None."""
    return None if rate is None else 100 * rate


def setting_text(value: object) -> str:
    """A recorded setting as the table shows it: yes or no, a dash for none, else as written."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return NOT_APPLICABLE if value is None else str(value)


def parameters(record: dict) -> int:
    """The parameters of a model's network and of its companions, if it has them."""
    companion = record.get("companion", {})
    return record["parameters"] + companion.get("parameters", 0) + companion.get("drawn_parameters", 0)


def comparison_row(name: str, record: dict) -> dict:
    """One model's line in the side-by-side table."""
    try:
        test_accuracy = test_metrics(name)["accuracy"]
    except ArtifactError:
        test_accuracy = None
    try:
        drawn = drawn_results(name)
    except ArtifactError:
        drawn = {}
    return {
        "model": label(name),
        "role": spec(name).role,
        "MNIST test": in_percent(test_accuracy),
        "real drawings read right": in_percent(drawn.get(DIGITS_SET, {}).get("readable_accuracy")),
        "letters rejected": in_percent(drawn.get(LETTERS_SET, {}).get("rejection_rate")),
        "parameters": parameters(record),
        "training time": minutes(record["wall_time_s"]),
    }


def curve_chart(history: dict, metric: str) -> alt.Chart:
    """Train and validation values of one metric per epoch, on an axis fitted to them."""
    epochs = range(1, len(history[metric]) + 1)
    frame = pd.concat(
        [
            pd.DataFrame({"epoch": epochs, "set": "train", metric: history[metric]}),
            pd.DataFrame({"epoch": epochs, "set": "validation", metric: history[f"val_{metric}"]}),
        ]
    )
    return (
        alt.Chart(frame, height=260)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y(f"{metric}:Q", scale=alt.Scale(zero=False)),
            color=alt.Color("set:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=["set", "epoch", alt.Tooltip(f"{metric}:Q", format=".4f")],
        )
    )


def show_architecture(record: dict) -> None:
    """The model's layers with their output shapes and parameters, as recorded at training."""
    st.markdown("**Architecture**")
    layers = record["architecture"]
    st.dataframe(
        pd.DataFrame(layers),
        hide_index=True,
        column_config={
            "output_shape": st.column_config.TextColumn("output shape", help="Without the batch dimension."),
            "parameters": st.column_config.NumberColumn(format="localized"),
        },
    )
    counted = sum(layer["parameters"] for layer in layers)
    if "companion" in record:
        companion = record["companion"]
        drawn = companion.get("drawn_parameters")
        companions = (
            f"{companion['parameters']:,} in the companion"
            if drawn is None
            else f"{companion['parameters']:,} in the companion and {drawn:,} in its drawn copy"
        )
        st.caption(f"{counted:,} parameters in these layers, and {companions}.")
    else:
        st.caption(f"{counted:,} parameters in all.")


def show_drawings_phase(record: dict) -> None:
    """How a model learnt from real drawings after MNIST."""
    phase = record["drawings"]
    times = phase["fine_tuning_time_s"]
    st.markdown("**Then, real drawings**")
    st.caption(
        f"Fine-tuned on {phase['digits_trained']:,} drawn digits and {phase['letters_trained']:,} letters "
        f"({phase['unreadable_left_out']} drawings that do not show their label left out), "
        "mixed with MNIST digits: once per group of institutions left out "
        f"({', '.join(k for k in times if k != 'all')}), for the figures on drawings, "
        f"then once on all of them for the model you use ({minutes(sum(times.values()))} in all)."
    )


def show_companion(record: dict) -> None:
    """The small network a model asks for a second opinion where it is unsure."""
    companion = record["companion"]
    st.markdown("**And a companion**")
    st.caption(
        f"{companion['architecture_name']}, {companion['parameters']:,} parameters, trained "
        f"{len(companion['history']['loss'])} epochs on MNIST alone ({minutes(companion['mnist_time_s'])}), "
        f"{companion['history']['val_accuracy'][-1]:.2%} right on MNIST's held-out training images. "
        f"Where the model is less than {companion['asked_below']:.0%} sure of its answer, the companion's "
        f"opinion is pooled with its own at a weight of {companion['weight']:.0%}: it errs elsewhere than "
        "a network that learnt drawings."
    )
    if companion.get("drawn_weight") is not None:
        st.caption(
            'A copy of the companion, with a "not a digit" class, learnt the drawings and letters with the '
            f"model. Where the answer is still less than {companion['asked_below']:.0%} sure, its opinion on "
            f"all eleven classes is pooled in at a weight of {companion['drawn_weight']:.0%}: a smaller "
            "network errs elsewhere on drawings too."
        )


def show_model(name: str, record: dict) -> None:
    """Learning curves, settings, time and architecture of one model."""
    history = record["history"]
    time_column, epochs_column, parameters_column, validation_column = st.columns(4)
    time_column.metric("Training time", minutes(record["wall_time_s"]))
    epochs_column.metric("MNIST epochs", len(history["loss"]))
    parameters_column.metric("Parameters", f"{parameters(record):,}")
    validation_column.metric(
        "MNIST validation",
        f"{history['val_accuracy'][-1]:.2%}",
        help=f"The {record['validation_images']:,} MNIST training images held out, read after the last "
        'epoch on MNIST, before any fine-tuning. A model that knows letters counts its "not a digit" '
        "as wrong here; the MNIST test figure compares the ten digits only.",
    )

    loss_column, accuracy_column = st.columns(2)
    with loss_column:
        st.markdown("**Loss per epoch**")
        st.altair_chart(curve_chart(history, "loss"), width="stretch")
    with accuracy_column:
        st.markdown("**Accuracy per epoch**")
        st.altair_chart(curve_chart(history, "accuracy"), width="stretch")
    if "drawings" in record:
        show_drawings_phase(record)
    if "companion" in record:
        show_companion(record)

    settings_column, architecture_column = st.columns([1, 2])
    with settings_column:
        st.markdown("**Settings**")
        settings = {**record["settings"], "training images": record["train_images"]}
        st.dataframe(
            pd.DataFrame(
                {
                    "setting": [name.replace("_", " ") for name in settings],
                    "value": [setting_text(v) for v in settings.values()],
                }
            ),
            hide_index=True,
        )
        machine = record.get("machine", {})
        st.caption(
            f"Trained on {machine.get('cpu', 'an unknown CPU')} ({machine.get('cores', '?')} cores, "
            f"{machine.get('memory_gib', '?')} GiB), {machine.get('os', '')}, "
            f"Python {machine.get('python', '?')}, "
            f"Keras {record.get('keras', '?')} on {record.get('backend', '?')}."
        )
    with architecture_column:
        show_architecture(record)


st.title("Training")
names = available_models()
records = {}
for name in names:
    with contextlib.suppress(ArtifactError):  # the caption below says which models have no record
        records[name] = training_record(name)

st.subheader("All models side by side")
if records:
    st.dataframe(
        pd.DataFrame([comparison_row(name, record) for name, record in records.items()]),
        hide_index=True,
        placeholder=NOT_APPLICABLE,
        column_config={
            "model": st.column_config.TextColumn(pinned=True),
            "parameters": st.column_config.NumberColumn(format="localized"),
            "MNIST test": PERCENT,
            "real drawings read right": st.column_config.NumberColumn(
                "drawings read right",  # short enough for every column to fit beside the sidebar
                format=PERCENT_FORMAT,
                help="Digits drawn by people at institutions the model never saw, right and answered",
            ),
            "letters rejected": st.column_config.NumberColumn(
                format=PERCENT_FORMAT, help='Letters drawn by people, answered "not a digit" or "not sure"'
            ),
        },
    )
untracked = [label(name) for name in names if name not in records]
if untracked:
    st.info(f"No training record (`NAME.training.json`) for: {', '.join(untracked)}.")

model = pick_model()
if model is not None:
    st.subheader(label(model))
    if model in records:
        show_model(model, records[model])
