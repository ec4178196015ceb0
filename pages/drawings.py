"""Your drawings: the digits you corrected on the Draw page, to browse, read again with any model, delete and download as a drawn_dev-style .npz."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

import app_state
from digitlib.collection import (
    SavedDrawing,
    delete_drawing,
    drawings_db,
    export_arrays,
    label_counts,
    list_drawings,
    load_canvas,
    npz_bytes,
    opened,
)
from digitlib.artifacts import ArtifactError, available_models
from digitlib.classes import NOT_SURE, confident_digits
from digitlib.data import DataError

PER_PAGE = 24
GRID_COLUMNS = 6
THUMBNAIL = 84
DIGIT_KEY, PAGE_KEY, READ_AGAIN_KEY = "drawings_digit", "drawings_page", "drawings_read_again"
EXPORT_NAME = "your_drawings.npz"
EMPTY = (
    "No drawings saved yet. When the model reads your digit wrong on the **Draw** page, "
    "tell it the right digit under the answer and press **Save**: the drawing appears here."
)


def first_page() -> None:
    """Go back to page 1 when the digit filter changes."""
    st.session_state[PAGE_KEY] = 1


def delete(drawing_id: int) -> None:
    """Delete one saved drawing and say so."""
    try:
        with opened(create=False) as connection:
            delete_drawing(connection, drawing_id)
    except DataError as error:
        st.toast(f"Drawing #{drawing_id} could not be deleted. {error}", icon=":material/error:")
        return
    st.toast(f"Deleted drawing #{drawing_id}.", icon=":material/delete:")


def read_collection() -> tuple[np.ndarray, list[SavedDrawing]]:
    """The count per digit and every saved drawing, newest first."""
    with opened(create=False) as connection:
        return label_counts(connection), list_drawings(connection)


def read_canvases(drawings: list[SavedDrawing]) -> list[np.ndarray]:
    """The canvases of some saved drawings, as they were drawn."""
    with opened(create=False) as connection:
        return [load_canvas(connection, drawing.id) for drawing in drawings]


@st.cache_data(max_entries=2, show_spinner="Packing your drawings…")
def export_file(path: str, count: int, newest: int) -> bytes:
    """The .npz of every saved drawing, rebuilt only when one is added (newest id) or deleted (count)."""
    with opened(path, create=False) as connection:
        return npz_bytes(export_arrays(connection))


def read_again(model: str, drawings: list[SavedDrawing]) -> None:
    """Keep what `model` answers now for every saved drawing (NOT_SURE when unsure), by drawing id."""
    predictor = app_state.predictor(model)
    answers = confident_digits(predictor.predict(np.stack([d.input for d in drawings])), predictor.threshold)
    st.session_state[READ_AGAIN_KEY] = (model, dict(zip([d.id for d in drawings], answers.tolist())))


def answers_now(model: str | None) -> dict[int, int]:
    """The answers `model` gave when the drawings were last read again with it, by drawing id ({} if never)."""
    read_with, answers = st.session_state.get(READ_AGAIN_KEY, (None, {}))
    return answers if model is not None and read_with == model else {}


def said(answer: int) -> str:
    """An answer in words: the digit, or "not sure"."""
    return "not sure" if answer == NOT_SURE else str(answer)


def caption(drawing: SavedDrawing, now: dict[int, int]) -> str:
    """The right digit and what the model said, in a few words, and what the chosen model says now."""
    text = f"**{drawing.label}** · {app_state.model_label(drawing.model)} said {drawing.predicted} ({app_state.percent(drawing.confidence, 0)})"
    return f"{text} · now {said(now[drawing.id])}" if drawing.id in now else text


st.title("Your drawings")
path = drawings_db()
st.caption(f"The drawings you corrected on the Draw page, kept on this computer in `{path}`.")
if not path.is_file():
    st.info(EMPTY)
    st.stop()
try:
    counts, everything = read_collection()
except DataError as error:
    st.error(f"Your drawings could not be read. {error}")
    st.stop()
if not everything:
    st.info(EMPTY)
    st.stop()

summary_column, export_column = st.columns([3, 1], vertical_alignment="bottom")
with summary_column:
    st.metric("Saved drawings", f"{len(everything):,}")
    st.table(pd.DataFrame([counts], index=["drawings"], columns=[str(d) for d in range(10)]))  # ten narrow columns, all visible
with export_column:
    st.download_button(
        "Download .npz",
        data=export_file(str(path), len(everything), everything[0].id),
        file_name=EXPORT_NAME,
        mime="application/octet-stream",
        icon=":material/download:",
    )
    st.caption(f"Laid out like drawn_dev.npz: `python -m digitlib evaluate --drawings {EXPORT_NAME}` scores a model on it.")

model = app_state.pick_model() if available_models() else None
if model is not None:
    label = app_state.model_label(model)
    button_column, result_column = st.columns([1, 3], vertical_alignment="center")
    if button_column.button("Read them again", key="read_again", icon=":material/refresh:", help=f"with {label}, the model picked in the sidebar"):
        try:
            read_again(model, everything)
        except ArtifactError as error:
            st.error(f"{label} cannot be used. {error}")
    now = answers_now(model)
    read = [d for d in everything if d.id in now]
    if read:
        right = sum(now[d.id] == d.label for d in read)
        result_column.metric(f"{label} reads right now", f"{right} of {len(read)}")
        unread = len(everything) - len(read)
        result_column.caption(
            "From the 28×28 input saved with each drawing; \"not sure\" counts as wrong."
            + (f" {unread} saved since are not read yet." if unread else "")
        )
else:
    now = {}

digit_column, page_column = st.columns(2)
with digit_column:
    digit = st.selectbox(
        "Right digit", [None, *range(10)], format_func=lambda d: "any" if d is None else str(d), key=DIGIT_KEY, on_change=first_page
    )
drawings = everything if digit is None else [d for d in everything if d.label == digit]
if not drawings:
    st.info(f"No saved drawings of a {digit}.")
    st.stop()
pages = math.ceil(len(drawings) / PER_PAGE)
if st.session_state.get(PAGE_KEY, 1) > pages:
    st.session_state[PAGE_KEY] = pages
with page_column:
    page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=PAGE_KEY)

grid_tab, table_tab = st.tabs(["Drawings", "Table"])
with grid_tab:
    st.caption(
        "Under each drawing: the right digit · what the model said, with its confidence"
        + (f" · what {app_state.model_label(model)} says now." if now else ".")
    )
    shown = drawings[(page - 1) * PER_PAGE : page * PER_PAGE]
    try:
        canvases = read_canvases(shown)
    except DataError as error:
        st.error(f"Your drawings could not be read. {error}")
        st.stop()
    for row in range(0, len(shown), GRID_COLUMNS):
        for column, drawing, canvas in zip(st.columns(GRID_COLUMNS), shown[row : row + GRID_COLUMNS], canvases[row : row + GRID_COLUMNS]):
            column.image(canvas, width=THUMBNAIL)
            column.caption(caption(drawing, now))
            column.button(
                "Delete",
                key=f"delete_{drawing.id}",
                icon=":material/delete:",
                type="tertiary",
                help=f"Delete drawing #{drawing.id} for good",
                on_click=delete,
                args=(drawing.id,),
            )
with table_tab:
    st.dataframe(
        pd.DataFrame(
            {
                "drawing": [d.id for d in drawings],
                "right digit": [d.label for d in drawings],
                "model said": [d.predicted for d in drawings],
                "confidence": [d.confidence for d in drawings],
                "model": [app_state.model_label(d.model) for d in drawings],
                **({f"{app_state.model_label(model)} now": [said(now[d.id]) if d.id in now else "—" for d in drawings]} if now else {}),
                "saved (UTC)": [d.saved_at for d in drawings],
            }
        ),
        hide_index=True,
        column_config={"confidence": st.column_config.NumberColumn(format="percent")},
    )
