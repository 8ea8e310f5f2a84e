"""The server run's rule (tests/conftest.py, REQUIRE_SERVICES=1): a skip fails the run,
except a skip for a missing optional tool (tests/skips.py). Checked on a real pytest run
over two throwaway tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TESTS = '''
import pytest
from tests.skips import optional_tool_missing

def test_tool():
    pytest.skip(optional_tool_missing("no Docker compose plugin"))

def test_service():
    pytest.skip("needs Redis: set REDIS_URL=redis://...")
'''


def _run(tmp_path: Path, *select: str, require: bool = True) -> subprocess.CompletedProcess:
    (tmp_path / "test_throwaway.py").write_text(TESTS)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "core.settings",
           "REQUIRE_SERVICES": "1" if require else "0"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), str(tmp_path / "test_throwaway.py"), *select],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("select", "require", "code", "says"), [
    (["-k", "tool"], True, 0, "optional tool missing: no Docker compose plugin"),
    (["-k", "service"], True, 1, "none may skip here"),
    ([], True, 1, "1 test(s) skipped (test_throwaway.py::test_service)"),
    ([], False, 0, "2 skipped"),
])
def test_the_server_run_fails_on_a_skip_for_a_service_not_for_an_optional_tool(
        tmp_path, select, require, code, says):
    done = _run(tmp_path, *select, "-rs", require=require)
    assert done.returncode == code, done.stdout + done.stderr
    assert says in done.stdout, done.stdout
