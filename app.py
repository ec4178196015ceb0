"""digit studio: draw a digit and watch a network read it, then see how the models were trained and where they fail."""

import streamlit as st

st.set_page_config(page_title="digit studio", page_icon="✍️", layout="wide")

pages = [
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon=":material/grid_view:"),
    st.Page("pages/training.py", title="Training", icon=":material/show_chart:"),
    st.Page("pages/evaluation.py", title="Evaluation", icon=":material/fact_check:"),
    st.Page("pages/misclassified.py", title="Misclassified", icon=":material/error:"),
    st.Page("pages/drawings.py", title="Your drawings", icon=":material/photo_library:"),
]
st.navigation(pages).run()
