"""Your drawings: digits kept on the Draw page, to browse, read again with any model, delete and download."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from digitlib.artifacts import ArtifactError, available_models
from digitlib.classes import answer_text, decide
from digitlib.collection import (
    SavedDrawing,
    drawings_db,
    export_arrays,
    list_drawings,
    load_canvas,
    npz_bytes,
    opened,
    saved_label_counts,
    set_deleted,
    shared,
)
from digitlib.data import DataError
from digitlib.registry import label
from ui.drawings import owner
from ui.models import pick_model, predictor
from ui.text import percent, plural
from ui.widgets import digit_filter, pager, pictures, reset_pager

PER_PAGE = 24
GRID_COLUMNS = 6
THUMBNAIL = 84
DIGIT_KEY, PAGE_KEY, READ_AGAIN_KEY, DELETED_KEY = (
    "drawings_digit",
    "drawings_page",
    "drawings_read_again",
    "drawings_deleted",
)
EXPORT_NAME = "your_drawings.npz"
EMPTY = (
    "No drawings kept yet. On the **Draw** page, pick the right digit under the answer and press **Save**: "
    "the drawing appears here, whether the model read it right or wrong."
)


def first_page() -> None:
    """Back to page 1 when the digit filter changes."""
    reset_pager(PAGE_KEY)


def delete(drawing_id: int) -> None:
    """Delete one of this visitor's drawings, and remember it so that it can be restored."""
    try:
        with opened(create=False) as connection:
            if set_deleted(connection, drawing_id, owner()):
                st.session_state[DELETED_KEY] = drawing_id
    except DataError as error:
        st.toast(f"Drawing #{drawing_id} could not be deleted. {error}", icon=":material/error:")


def restore(drawing_id: int) -> None:
    """Bring back the drawing deleted last."""
    try:
        with opened(create=False) as connection:
            set_deleted(connection, drawing_id, owner(), deleted=False)
    except DataError as error:
        st.toast(f"Drawing #{drawing_id} could not be restored. {error}", icon=":material/error:")
    st.session_state.pop(DELETED_KEY, None)


def read_collection() -> tuple[np.ndarray, list[SavedDrawing]]:
    """The count per digit and every drawing of this visitor, newest first."""
    with opened(create=False) as connection:
        return saved_label_counts(connection, owner()), list_drawings(connection, owner())


def read_canvases(drawings: list[SavedDrawing]) -> list[np.ndarray]:
    """The canvases of some of this visitor's drawings, as they were drawn."""
    with opened(create=False) as connection:
        return [load_canvas(connection, drawing.id, owner()) for drawing in drawings]


def export_file() -> bytes:
    """The .npz of this visitor's drawings."""
    with opened(create=False) as connection:
        return npz_bytes(export_arrays(connection, owner()))


def read_again(model: str, drawings: list[SavedDrawing]) -> None:
    """Keep what `model` answers now for every drawing (a digit, not sure or not a digit), by drawing id."""
    model_predictor = predictor(model)
    answers = decide(
        model_predictor.predict(np.stack([d.input for d in drawings])), model_predictor.threshold
    )
    st.session_state[READ_AGAIN_KEY] = (model, dict(zip([d.id for d in drawings], answers.tolist())))


def answers_now(model: str | None) -> dict[int, int]:
    """What `model` answered when the drawings were last read again with it, by drawing id ({} if never)."""
    read_with, answers = st.session_state.get(READ_AGAIN_KEY, (None, {}))
    return answers if model is not None and read_with == model else {}


def caption(drawing: SavedDrawing, now: dict[int, int]) -> str:
    """The right digit and what the model said, in a few words, and what the chosen model says now."""
    text = (
        f"{drawing.label} · {label(drawing.model)} said {answer_text(drawing.predicted)} "
        f"({percent(drawing.confidence, 0)})"
    )
    return f"{text} · now {answer_text(now[drawing.id])}" if drawing.id in now else text


st.title("Your drawings")
st.caption(
    (
        "Everyone using this app sees these drawings: the server keeps one shared collection."
        if shared()
        else "The drawings you kept on the Draw page, with their right digit. "
        "Only you see them: they are tied to this browser."
    )
    + " The Draw page reads each new digit beside them: one nearly the same as a kept drawing gets its digit."
)
if DELETED_KEY in st.session_state:
    deleted_id = st.session_state[DELETED_KEY]
    message, undo = st.columns([3, 1], vertical_alignment="center")
    message.info(f"Deleted drawing #{deleted_id}.")
    undo.button("Undo delete", icon=":material/undo:", on_click=restore, args=(deleted_id,))
if not drawings_db().is_file():
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
    st.metric("Drawings kept", f"{len(everything):,}")
    st.table(pd.DataFrame([counts], index=["drawings"], columns=[str(d) for d in range(10)]))
with export_column:
    st.download_button(
        "Download .npz",
        data=export_file,
        file_name=EXPORT_NAME,
        mime="application/octet-stream",
        icon=":material/download:",
    )
    st.caption(
        f"Laid out like drawn_dev.npz: `python -m digitlib evaluate --drawings {EXPORT_NAME}` "
        "scores a model on it."
    )

model = pick_model() if available_models() else None
now = answers_now(model)
if model is not None:
    model_label = label(model)
    button_column, result_column = st.columns([1, 3], vertical_alignment="center")
    if button_column.button(
        "Read them again",
        key="read_again",
        icon=":material/refresh:",
        help=f"with {model_label}, the model picked in the sidebar",
    ):
        try:
            read_again(model, everything)
            now = answers_now(model)
        except ArtifactError as error:
            st.error(f"{model_label} cannot be used. {error}")
    read = [d for d in everything if d.id in now]
    if read:
        right = sum(now[d.id] == d.label for d in read)
        result_column.metric(f"{model_label} reads right now", f"{right} of {len(read)}")
        unread = len(everything) - len(read)
        result_column.caption(
            'From the 28×28 input kept with each drawing; "not sure" and "not a digit" count as wrong.'
            + (f" {plural(unread, 'drawing')} kept since are not read yet." if unread else "")
        )

digit_column, _ = st.columns(2)
with digit_column:
    digit = digit_filter("Right digit", DIGIT_KEY, "digit", on_change=first_page)
drawings = everything if digit is None else [d for d in everything if d.label == digit]
if not drawings:
    st.info(f"You have kept no drawings of {'an' if digit == 8 else 'a'} {digit}.")
    st.stop()

grid_tab, table_tab = st.tabs(["Drawings", "Table"])
with grid_tab:
    start, stop = pager(len(drawings), PER_PAGE, PAGE_KEY)
    st.caption(
        "Under each drawing: the right digit · what the model said, with its probability"
        + (f" · what {label(model)} says now." if now else ".")
    )
    shown = drawings[start:stop]
    try:
        canvases = read_canvases(shown)
    except (DataError, KeyError) as error:
        st.error(f"Your drawings could not be read. {error}")
        st.stop()
    for row in range(0, len(shown), GRID_COLUMNS):
        for column, drawing, canvas in zip(
            st.columns(GRID_COLUMNS), shown[row : row + GRID_COLUMNS], canvases[row : row + GRID_COLUMNS]
        ):
            with column:
                pictures([(canvas, THUMBNAIL, caption(drawing, now))])
                st.button(
                    "Delete",
                    key=f"delete_{drawing.id}",
                    icon=":material/delete:",
                    type="tertiary",
                    help=f"Delete drawing #{drawing.id} (you can undo it)",
                    on_click=delete,
                    args=(drawing.id,),
                )
with table_tab:
    st.dataframe(
        pd.DataFrame(
            {
                "drawing": [d.id for d in drawings],
                "right digit": [d.label for d in drawings],
                "model said": [answer_text(d.predicted) for d in drawings],
                "confidence": [d.confidence for d in drawings],
                "model": [label(d.model) for d in drawings],
                **(
                    {
                        f"{label(model)} now": [
                            answer_text(now[d.id]) if d.id in now else "—" for d in drawings
                        ]
                    }
                    if now
                    else {}
                ),
                "saved (UTC)": [d.saved_at for d in drawings],
            }
        ),
        hide_index=True,
        column_config={"confidence": st.column_config.NumberColumn(format="percent")},
    )
