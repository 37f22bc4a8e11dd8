"""Jinja2 message templates per language and the renderer (``render.py``)."""
