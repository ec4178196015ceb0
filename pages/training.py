"""Training: how each model was trained — settings, time, learning curves and architecture."""

import altair as alt
import pandas as pd
import streamlit as st

import app_state
from digitlib.artifacts import ArtifactError, available_models

NOT_APPLICABLE = "—"  # shown instead of "None" for what a model does not have


def minutes(seconds: float) -> str:
    """A duration for people: seconds under two minutes, minutes above."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def comparison_row(name: str, record: dict) -> dict:
    """One model's line in the side-by-side table."""
    settings, history, machine = record["settings"], record.get("history"), record.get("machine", {})
    try:
        test_accuracy = app_state.test_metrics(name)["accuracy"]
    except ArtifactError:
        test_accuracy = None
    try:
        drawn = app_state.drawn_results(name)
    except ArtifactError:
        drawn = {}
    return {
        "model": app_state.model_label(name),
        "parameters": record["parameters"],
        "epochs": settings.get("epochs"),
        "augmented": "yes" if settings["augment"] else "no",
        "training time": minutes(record["wall_time_s"]),
        "cores": machine.get("cores"),
        "train accuracy": history["accuracy"][-1] if history else None,
        "validation accuracy": history["val_accuracy"][-1] if history else None,
        "test accuracy": test_accuracy,
        "drawn_dev read right": drawn.get("drawn_dev", {}).get("accuracy"),
        "letters rejected": drawn.get("nondigit_dev", {}).get("rejection_rate"),
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


def show_ensemble(record: dict) -> None:
    """What an ensemble is made of; its members have the learning curves."""
    time_column, members_column, parameters_column = st.columns(3)
    time_column.metric("Training time (all members)", minutes(record["wall_time_s"]))
    members_column.metric("Members", len(record["members"]))
    parameters_column.metric("Parameters", f"{record['parameters']:,}")
    st.markdown(
        "An ensemble: it averages the digit probabilities of "
        + ", ".join(app_state.model_label(member) for member in record["members"])
        + ", each trained with its own recipe. Pick a member in the sidebar for its learning curves."
    )


def show_architecture(name: str) -> None:
    """The model's layers with their output shapes and parameters."""
    st.markdown("**Architecture**")
    try:
        layers = app_state.architecture(name)
    except ArtifactError as error:
        st.error(f"The architecture cannot be read: {error}")
        return
    st.dataframe(
        pd.DataFrame(layers),
        hide_index=True,
        column_config={"output_shape": "output shape (without batch)"},
    )
    st.caption(f"{sum(layer['parameters'] for layer in layers):,} parameters in all.")


def show_model(name: str, record: dict) -> None:
    """Learning curves, settings, time and architecture of one model."""
    if "members" in record:
        show_ensemble(record)
        show_architecture(name)
        return
    history = record["history"]
    time_column, epochs_column, parameters_column, validation_column = st.columns(4)
    time_column.metric("Training time", minutes(record["wall_time_s"]))
    epochs_column.metric("Epochs", len(history["loss"]))
    parameters_column.metric("Parameters", f"{record['parameters']:,}")
    validation_column.metric("Final validation accuracy", f"{history['val_accuracy'][-1]:.2%}")

    loss_column, accuracy_column = st.columns(2)
    with loss_column:
        st.markdown("**Loss per epoch**")
        st.altair_chart(curve_chart(history, "loss"), width="stretch")
    with accuracy_column:
        st.markdown("**Accuracy per epoch**")
        st.altair_chart(curve_chart(history, "accuracy"), width="stretch")

    settings_column, architecture_column = st.columns([1, 2])
    with settings_column:
        st.markdown("**Settings**")
        settings = {**record["settings"], "training images": record["train_images"]}
        st.dataframe(
            pd.DataFrame({"setting": list(settings), "value": [NOT_APPLICABLE if v is None else str(v) for v in settings.values()]}),
            hide_index=True,
        )
        machine = record.get("machine", {})
        st.caption(
            f"Trained on {machine.get('cpu', 'an unknown CPU')} ({machine.get('cores', '?')} cores, "
            f"{machine.get('memory_gib', '?')} GiB), {machine.get('os', '')}, Python {machine.get('python', '?')}, "
            f"Keras {record.get('keras', '?')} on {record.get('backend', '?')}."
        )
    with architecture_column:
        show_architecture(name)


st.title("Training")
names = app_state.strongest_first(available_models())
records = {}
for name in names:
    try:
        records[name] = app_state.training_record(name)
    except ArtifactError:
        pass  # the table says which models have no record

st.subheader("All models side by side")
if records:
    st.dataframe(
        pd.DataFrame([comparison_row(name, record) for name, record in records.items()]),
        hide_index=True,
        placeholder=NOT_APPLICABLE,  # an ensemble has no epochs or training accuracy of its own
        column_config={
            "parameters": st.column_config.NumberColumn(format="localized"),
            **{
                column: st.column_config.NumberColumn(format="percent")
                for column in ("train accuracy", "validation accuracy", "test accuracy", "drawn_dev read right", "letters rejected")
            },
        },
    )
untracked = [app_state.model_label(name) for name in names if name not in records]
if untracked:
    st.info(f"No training record (`NAME.training.json`) for: {', '.join(untracked)}.")

model = app_state.pick_model()
if model is not None:
    st.subheader(app_state.model_label(model))
    if model in records:
        show_model(model, records[model])
