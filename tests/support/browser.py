"""Shared set-up for page tests in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"  # screenshots, kept out of git
# The closed network here refuses Chromium's background connections; these flags stop them.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and shutil.which("chromium") is None,
        reason="chromium is not installed (make browser, or: apt-get install -y chromium)",
    ),
]
