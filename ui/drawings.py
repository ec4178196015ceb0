"""Whose drawings these are: a token the visitor's browser keeps, so each visitor sees only their own."""

from __future__ import annotations

import uuid

import streamlit as st

from digitlib.collection import shared

VISITOR = "visitor"
TOKEN_KEY = "digit-studio-visitor"

_visitor = st.components.v2.component(
    "digit_studio.visitor",
    js=f"""
export default function ({{ data, setStateValue }}) {{
  let token = window.localStorage.getItem("{TOKEN_KEY}");
  if (!token) {{
    token = crypto.randomUUID().replaceAll("-", "");
    window.localStorage.setItem("{TOKEN_KEY}", token);
  }}
  if (data.token !== token) setStateValue("token", token);
}}
""",
)


def remember_visitor() -> None:
    """Ask the browser for its visitor token (made and kept there on the first visit)."""
    with st.sidebar:
        result = _visitor(
            key=VISITOR,
            data={"token": st.session_state.get(f"{VISITOR}_token")},
            default={"token": None},
            on_token_change=lambda: None,
        )
    if result.token:
        st.session_state[f"{VISITOR}_token"] = result.token


def owner() -> str | None:
    """Whose drawings to save, show, export and delete: this visitor's, or all in a shared collection."""
    if shared():
        return None
    # Until the browser has answered (and where there is no browser, as in tests) the session is the visitor.
    return st.session_state.get(f"{VISITOR}_token") or st.session_state.setdefault(
        f"{VISITOR}_session", uuid.uuid4().hex
    )
