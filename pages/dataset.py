"""Dataset: what MNIST looks like — random samples, how often each digit occurs, and each digit's average."""

import numpy as np
import pandas as pd
import streamlit as st

from digitlib.data import DataError, sample_indices
from ui.cached import dataset_summary, mnist
from ui.widgets import PICTURES_CSS, picture

SAMPLES = 40  # full rows of 10, or of 5 on a narrow screen
SAMPLE_SEED = "sample_seed"
THUMBNAIL = 84
PERCENT = st.column_config.NumberColumn(format="%.1f%%")
GRID_CSS = """<style>
.samples{display:grid;grid-template-columns:repeat(10,minmax(0,1fr));gap:.5rem}
@media (max-width:900px){.samples{grid-template-columns:repeat(5,minmax(0,1fr))}}
.samples .pic{width:auto!important}
.samples img{width:100%}
</style>"""


def reshuffle() -> None:
    """Draw a new set of samples."""
    st.session_state[SAMPLE_SEED] = st.session_state.get(SAMPLE_SEED, 0) + 1


def frequency_table(train_counts: np.ndarray, test_counts: np.ndarray) -> pd.DataFrame:
    """Count and share (in %) of every digit in train and test."""
    return pd.DataFrame(
        {
            "digit": [str(d) for d in range(len(train_counts))],
            "train": train_counts,
            "train share": 100 * train_counts / train_counts.sum(),
            "test": test_counts,
            "test share": 100 * test_counts / test_counts.sum(),
        }
    )


def image_grid(images: list[np.ndarray], captions: list[str]) -> None:
    """Pictures in full rows: ten to a row, five on a narrow screen."""
    tiles = "".join(picture(image, THUMBNAIL, caption) for image, caption in zip(images, captions))
    st.html(PICTURES_CSS + GRID_CSS + f'<div class="samples">{tiles}</div>')


st.title("The MNIST dataset")
try:
    (x_train, y_train), (x_test, _) = mnist()
    train_counts, test_counts, means = dataset_summary()
except DataError as error:
    st.error(f"MNIST could not be loaded. {error}")
    st.stop()

total_train, total_test, size = st.columns(3)
total_train.metric("Training images", f"{len(x_train):,}")
total_test.metric("Test images", f"{len(x_test):,}")
size.metric("Image size", f"{x_train.shape[2]}×{x_train.shape[1]} px")

st.subheader("Random training samples")
digit_column, button_column = st.columns([1, 3], vertical_alignment="bottom")
digit = digit_column.selectbox("Digit", ["all", *map(str, range(10))], key="sample_digit")
button_column.button("Reshuffle", icon=":material/shuffle:", on_click=reshuffle)
chosen = sample_indices(
    y_train, SAMPLES, st.session_state.get(SAMPLE_SEED, 0), None if digit == "all" else int(digit)
)
image_grid([x_train[i] for i in chosen], [f"{y_train[i]} (#{i})" for i in chosen])

st.subheader("How often each digit occurs")
frequencies = frequency_table(train_counts, test_counts)
table_column, chart_column = st.columns(2)
table_column.dataframe(
    frequencies,
    hide_index=True,
    column_config={
        "train": st.column_config.NumberColumn(format="localized"),
        "test": st.column_config.NumberColumn(format="localized"),
        "train share": PERCENT,
        "test share": PERCENT,
    },
)
chart_column.bar_chart(
    frequencies.set_index("digit")[["train share", "test share"]].rename(columns=lambda c: c.split()[0]),
    stack=False,
    x_label="digit",
    y_label="% of the split",
)
chart_column.caption(
    "Shares, not counts, so that the 60,000 training and 10,000 test images compare directly."
)

st.subheader("The average of each digit")
st.caption("The mean of all training images of a digit, with how many there are.")
image_grid([mean / 255.0 for mean in means], [f"{d} ({n:,})" for d, n in enumerate(train_counts)])
