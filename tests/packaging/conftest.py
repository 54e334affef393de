"""The demo tests' Chromium fixtures, for pages served from an installed wheel."""

from tests.demo.conftest import browser, chromium, shots

__all__ = ["browser", "chromium", "shots"]
