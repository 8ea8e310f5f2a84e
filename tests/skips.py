"""Skips the server run (REQUIRE_SERVICES=1) allows: a tool this machine may lack that is
no backing service (Docker). tests/conftest.py fails that run on any other skip."""

from __future__ import annotations

OPTIONAL_TOOL = "optional tool missing: "


def optional_tool_missing(reason: str) -> str:
    """The reason to give pytest.skip() (so that the skip reports the test's line)."""
    return OPTIONAL_TOOL + reason
