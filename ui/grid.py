"""A grid of small pictures that can be clicked: one element for a whole page of images."""

from __future__ import annotations

import streamlit as st

from ui.widgets import png_uri

_grid = st.components.v2.component(
    "digit_studio.grid",
    css="""
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(var(--tile), 1fr)); gap: .6rem; }
.grid button { background: none; border: 1px solid transparent; border-radius: .4rem; padding: .2rem;
  cursor: pointer; color: inherit; font: inherit; text-align: left; align-self: start; }
.grid button:hover, .grid button:focus-visible { border-color: var(--st-primary-color); outline: none; }
.grid button[aria-pressed="true"] { border-color: var(--st-primary-color); }
.grid img { display: block; width: 100%; image-rendering: pixelated; }
.grid span { display: block; font-size: .8rem; opacity: .75; line-height: 1.2; margin-top: .15rem; }
""",
    js="""
export default function ({ parentElement, data, setTriggerValue }) {
  let grid = parentElement.querySelector(".grid");
  if (!grid) {
    grid = document.createElement("div");
    grid.className = "grid";
    parentElement.appendChild(grid);
  }
  grid.style.setProperty("--tile", `${data.tile}px`);
  grid.replaceChildren(...data.items.map((item) => {
    const button = document.createElement("button");
    button.type = "button";
    button.title = item.title;
    button.setAttribute("aria-pressed", String(item.id === data.chosen));
    const image = document.createElement("img");
    image.src = item.src;
    image.alt = item.title;
    const caption = document.createElement("span");
    caption.textContent = item.caption;
    button.append(image, caption);
    button.onclick = () => setTriggerValue("clicked", item.id);
    return button;
  }));
}
""",
)


def picture_grid(
    key: str,
    images: list,
    captions: list[str],
    ids: list[int],
    titles: list[str],
    tile: int,
    chosen: int | None = None,
) -> int | None:
    """Show pictures as clickable tiles at least `tile` px wide; the id clicked in this run, if any."""
    items = [
        {"src": png_uri(image), "caption": caption, "id": int(i), "title": title}
        for image, caption, i, title in zip(images, captions, ids, titles)
    ]
    result = _grid(
        key=key,
        data={"items": items, "tile": tile, "chosen": chosen},
        on_clicked_change=lambda: None,
    )
    return result.clicked
