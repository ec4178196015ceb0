"""Shared widgets: digit filters and pages kept in the address, probability bars and small pictures."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable

import numpy as np
import streamlit as st

from digitlib.classes import not_a_digit_probability
from digitlib.imagefile import encode_png
from digitlib.pictures import as_uint8
from ui.text import percent

ANY = "any"
DIGITS = [str(d) for d in range(10)]


def png_uri(image: np.ndarray) -> str:
    """A small grey or RGB image as a PNG data URI: pictures go inline, without Streamlit's media files."""
    return "data:image/png;base64," + base64.b64encode(encode_png(as_uint8(image))).decode("ascii")


def picture(image: np.ndarray, width: int, caption: str = "", alt: str = "") -> str:
    """HTML of one picture shown `width` px wide with sharp pixels, and its caption under it."""
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    # Enlarged, pixels stay sharp squares; shrunk, the browser's smoothing keeps the strokes whole.
    sharp = ' class="sharp"' if image.shape[1] < width else ""
    return (
        f'<figure class="pic" style="width:{width}px">'
        f'<img{sharp} src="{png_uri(image)}" width="{width}" '
        f'alt="{html.escape(alt or caption)}">{text}</figure>'
    )


PICTURES_CSS = """<style>
.pics{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-start}
.pic{margin:0}
.pic img{display:block;height:auto;max-width:100%}
.pic img.sharp{image-rendering:pixelated}
.pic figcaption{font-size:.8rem;opacity:.7;line-height:1.2;margin-top:.2rem}
.bars{display:grid;grid-template-columns:auto 1fr 3.6rem;gap:.2rem .5rem;align-items:center;font-size:.9rem}
.bars .track{background:rgba(128,128,128,.15);border-radius:3px;height:.9rem}
.bars .fill{background:#6c7a89;border-radius:3px;height:100%}
.bars .top .fill{background:#ff4b4b}
.bars .value{text-align:right;font-variant-numeric:tabular-nums}
</style>"""


def pictures_html(items: list[tuple[np.ndarray, int, str]]) -> str:
    """HTML of a row of pictures (image, width, caption) that wraps on a narrow screen."""
    return (
        '<div class="pics">'
        + "".join(picture(image, width, caption) for image, width, caption in items)
        + "</div>"
    )


def pictures(items: list[tuple[np.ndarray, int, str]]) -> None:
    """A row of pictures (image, width, caption) that wraps on a narrow screen, sent as one element."""
    st.html(PICTURES_CSS + pictures_html(items))


def bars_html(probabilities: np.ndarray, knows_letters: bool) -> str:
    """HTML of a bar per digit (and "not a digit" if the model knows it), 0-100%, the top one red."""
    labels, values = DIGITS[: len(probabilities)], [float(p) for p in probabilities]
    if knows_letters:
        labels, values = [*labels, "not a digit"], [*values, float(not_a_digit_probability(probabilities)[0])]
    top = int(np.argmax(values))
    rows = "".join(
        f'<div class="{"top" if i == top else ""}" style="display:contents">'
        f'<span>{name}</span><div class="track" title="{name}: {html.escape(percent(value))}">'
        f'<div class="fill" style="width:{100 * value:.1f}%"></div></div>'
        f'<span class="value">{html.escape(percent(value))}</span></div>'
        for i, (name, value) in enumerate(zip(labels, values))
    )
    return f'<div class="bars" role="table" aria-label="Probability of each answer">{rows}</div>'


def probability_bars(probabilities: np.ndarray, knows_letters: bool) -> None:
    """A bar per digit (and "not a digit" if the model has it) on a fixed 0-100% scale, the likeliest red."""
    st.html(PICTURES_CSS + bars_html(probabilities, knows_letters))


def _seed(key: str, param: str, options: list[str], default: str) -> str:
    """Set a widget from the address, else to its value when the page was last shown, else to the default."""
    value = st.query_params.get(param)
    if value not in options:
        value = st.session_state.get(f"{key}_kept", default)
    if value not in options:
        value = default
    st.session_state[key] = value
    _show_in_address(param, value, default)
    return value


def _show_in_address(param: str, value: str, default: str) -> None:
    if value == default:
        st.query_params.pop(param, None)
    elif st.query_params.get(param) != value:
        st.query_params[param] = value


def _remember(key: str, param: str, default: str) -> None:
    """Keep a widget's new value for the next visit, and in the address, so the view can be shared."""
    st.session_state[f"{key}_kept"] = st.session_state[key]
    _show_in_address(param, st.session_state[key], default)


def digit_filter(
    label: str, key: str, param: str, exclude: int | None = None, on_change: Callable[[], None] | None = None
) -> int | None:
    """A digit to filter by, or None for any digit; kept in the address under `param` and across visits."""
    options = [ANY] + [d for d in DIGITS if d != str(exclude)]
    _seed(key, param, options, ANY)

    def changed() -> None:
        _remember(key, param, ANY)
        if on_change is not None:
            on_change()

    choice = st.selectbox(label, options, key=key, on_change=changed)
    return None if choice == ANY else int(choice)


def pager(count: int, per_page: int, key: str, param: str = "page") -> tuple[int, int]:
    """Previous and next buttons and a menu of the pages that exist; the shown slice (start, stop)."""
    pages = max(1, math.ceil(count / per_page))
    options = [str(p) for p in range(1, pages + 1)]
    page = int(_seed(key, param, options, "1"))

    def step(by: int) -> None:
        st.session_state[key] = str(min(pages, max(1, int(st.session_state[key]) + by)))
        _remember(key, param, "1")

    # A row of content-sized buttons around a menu that takes the rest: no label is cut short.
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.button(
            "Previous",
            key=f"{key}_back",
            icon=":material/chevron_left:",
            disabled=page == 1,
            on_click=step,
            args=(-1,),
        )
        st.selectbox(f"Page (of {pages})", options, key=key, on_change=_remember, args=(key, param, "1"))
        st.button(
            "Next",
            key=f"{key}_next",
            icon=":material/chevron_right:",
            disabled=page == pages,
            on_click=step,
            args=(1,),
        )
    page = int(st.session_state[key])
    return (page - 1) * per_page, min(count, page * per_page)


def reset_pager(key: str, param: str = "page") -> None:
    """Back to the first page (when the filter changes)."""
    st.session_state[f"{key}_kept"] = "1"
    st.query_params.pop(param, None)
