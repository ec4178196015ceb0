"""What the app's pages share: Streamlit widgets, cached loaders and the drawing canvas."""
