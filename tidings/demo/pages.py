"""The page the chat serves: one HTML file, its script and its style."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"


def static_files() -> dict[str, Path]:
    """URL path -> file or directory, for the built-in server (the client is the Server's own)."""
    return {"/": STATIC_DIR / "index.html", "/static": STATIC_DIR}
