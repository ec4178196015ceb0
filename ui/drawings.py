"""Whose drawings these are: a token the visitor's browser keeps, so each visitor sees only their own."""

from __future__ import annotations

import re
import uuid

import streamlit as st

from digitlib.collection import CollectionError, drawing_labels, list_drawings, opened, shared
from digitlib.kept import KeptDrawings
from digitlib.serving import Predictor

VISITOR = "visitor"
KEPT_STATE = "kept_drawings"  # the visitor's kept drawings as last read, with what they were read from
TOKEN_STATE, SESSION_STATE = f"{VISITOR}_token", f"{VISITOR}_session"  # where the session keeps who it is
TOKEN_KEY = "digit-studio-visitor"
TOKEN_PATTERN = re.compile(r"[0-9a-f]{32}")
TOKEN_DAYS = 400  # the longest a browser keeps a cookie
Labels = tuple[tuple[int, int], ...]  # (id, right digit) of each kept drawing, newest first

# The token lives in a cookie, which the server reads as a session starts; the component makes it on a
# first visit and sends it back once (a value sent while a component mounts can be lost, a cookie cannot).
_visitor = st.components.v2.component(
    "digit_studio.visitor",
    js=f"""
export default function ({{ data, setStateValue }}) {{
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("{TOKEN_KEY}="));
  let token = cookie ? cookie.split("=")[1] : window.localStorage.getItem("{TOKEN_KEY}");
  if (!/^{TOKEN_PATTERN.pattern}$/.test(token || "")) token = crypto.randomUUID().replaceAll("-", "");
  window.localStorage.setItem("{TOKEN_KEY}", token);
  document.cookie = `{TOKEN_KEY}=${{token}}; path=/; max-age=${{{TOKEN_DAYS} * 86400}}; SameSite=Strict`;
  if (!data.known) setStateValue("token", token);
}}
""",
)


def _cookie_token() -> str | None:
    """The visitor token the browser sent with this session's request, if it is one."""
    token = st.context.cookies.get(TOKEN_KEY)
    # isinstance: AppTest has no browser, and its context answers with a stand-in object.
    return token if isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) else None


def remember_visitor() -> None:
    """Know the browser's visitor token: from its cookie, else from the component that makes it."""
    token = _cookie_token()
    if token:
        st.session_state[TOKEN_STATE] = token
    with st.sidebar:
        result = _visitor(
            key=VISITOR,
            data={"known": bool(token)},
            default={"token": None},
            on_token_change=lambda: None,
        )
    if not token and result.token and TOKEN_PATTERN.fullmatch(result.token):
        st.session_state[TOKEN_STATE] = result.token


def owner() -> str | None:
    """Whose drawings to save, show, export and delete: this visitor's, or all in a shared collection."""
    if shared():
        return None
    # Until the browser has answered (and where there is no browser, as in tests) the session is the visitor.
    return st.session_state.get(TOKEN_STATE) or st.session_state.setdefault(SESSION_STATE, uuid.uuid4().hex)


def kept_labels() -> Labels:
    """The id and right digit of each drawing this visitor kept; none where no collection can be read."""
    try:
        with opened(create=False) as connection:
            return tuple(drawing_labels(connection, owner()))
    except CollectionError:
        return ()


def kept_drawings(model: Predictor, labels: Labels) -> KeptDrawings | None:
    """The drawings this visitor kept (`labels`, from kept_labels), to read new ones beside; None if none."""
    if not labels:
        return None
    # The inputs and features are read again only when the kept drawings change, not on every stroke.
    remembered = st.session_state.get(KEPT_STATE)
    if remembered is None or remembered[0] != (id(model), labels):
        try:
            with opened(create=False) as connection:
                saved = list_drawings(connection, owner())
        except CollectionError:  # gone since, or unreadable: nothing kept to use
            return None
        kept = model.kept_drawings([d.input for d in saved], [d.label for d in saved])
        read = (id(model), tuple((d.id, d.label) for d in saved))  # as read, if a save came between
        remembered = st.session_state[KEPT_STATE] = (read, kept)
    return remembered[1]
