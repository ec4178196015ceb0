"""Dataset: what MNIST looks like — random samples, how often each digit occurs, and each digit's average."""

import numpy as np
import pandas as pd
import streamlit as st

import app_state
from digitlib.data import DataError, sample_indices

SAMPLES = 40
SAMPLE_SEED = "sample_seed"
THUMBNAIL = 84


def reshuffle() -> None:
    """Draw a new set of samples."""
    st.session_state[SAMPLE_SEED] = st.session_state.get(SAMPLE_SEED, 0) + 1


def frequency_table(train_counts: np.ndarray, test_counts: np.ndarray) -> pd.DataFrame:
    """Count and share of every digit in train and test."""
    return pd.DataFrame(
        {
            "digit": [str(d) for d in range(len(train_counts))],
            "train": train_counts,
            "train share": train_counts / train_counts.sum(),
            "test": test_counts,
            "test share": test_counts / test_counts.sum(),
        }
    )


st.title("The MNIST dataset")
try:
    (x_train, y_train), (x_test, _) = app_state.mnist()
    train_counts, test_counts, means = app_state.dataset_summary()
except DataError as error:
    st.error(f"MNIST could not be loaded. {error}")
    st.stop()

total_train, total_test, size = st.columns(3)
total_train.metric("Training images", f"{len(x_train):,}")
total_test.metric("Test images", f"{len(x_test):,}")
size.metric("Image size", f"{x_train.shape[2]}×{x_train.shape[1]} px")

st.subheader("Random training samples")
digit_column, button_column = st.columns([1, 3], vertical_alignment="bottom")
digit = digit_column.selectbox(
    "Digit", [None, *range(10)], format_func=lambda d: "All digits" if d is None else str(d), key="sample_digit"
)
button_column.button("Reshuffle", icon=":material/shuffle:", on_click=reshuffle)
chosen = sample_indices(y_train, SAMPLES, st.session_state.get(SAMPLE_SEED, 0), digit)
st.image(
    [app_state.pixelated(x_train[i], 3) for i in chosen],
    caption=[f"{y_train[i]} (#{i})" for i in chosen],
    width=THUMBNAIL,
)

st.subheader("How often each digit occurs")
frequencies = frequency_table(train_counts, test_counts)
table_column, chart_column = st.columns([2, 3])
table_column.dataframe(
    frequencies,
    hide_index=True,
    column_config={
        "train share": st.column_config.NumberColumn(format="percent"),
        "test share": st.column_config.NumberColumn(format="percent"),
    },
)
chart_column.bar_chart(
    frequencies.set_index("digit")[["train share", "test share"]].rename(columns=lambda c: c.split()[0]) * 100,
    stack=False,
    x_label="digit",
    y_label="% of the split",
)
chart_column.caption("Shares, not counts, so that the 60,000 training and 10,000 test images compare directly.")

st.subheader("The average of each digit")
st.caption("The mean of all training images of a digit, with how many there are.")
st.image(
    [app_state.pixelated(mean / 255.0, 3) for mean in means],
    caption=[f"{d} ({count:,})" for d, count in enumerate(train_counts)],
    width=THUMBNAIL,
    clamp=True,
)
