"""docker-compose.yml is a valid Compose file, its `cluster` profile included.

`docker compose config` checks it where Docker's compose plugin is installed; everywhere
else (CI here has no Docker engine) the file is checked against the Compose
Specification's JSON schema, vendored as deploy/compose-spec.json (from the
compose-spec/compose-spec repository, Apache-2.0), plus what the profile must hold.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.skips import optional_tool_missing

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def docker_compose_available() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_the_compose_file_matches_the_compose_specification():
    schema = json.loads((ROOT / "deploy" / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose()),
                    key=lambda error: list(error.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_the_schema_check_catches_a_broken_service():
    schema = json.loads((ROOT / "deploy" / "compose-spec.json").read_text())
    broken = compose()
    broken["services"]["postgres-replica"]["profiles"] = "cluster"  # must be a list
    broken["services"]["postgres-replica"]["depends_on"] = {"postgres": {"condition": "ok"}}
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_the_cluster_profile_adds_a_streaming_replica_the_workers_can_read_from():
    services = compose()["services"]
    replica = services["postgres-replica"]
    assert replica["profiles"] == ["cluster"]
    command = " ".join(replica["command"])
    assert "pg_basebackup -h postgres" in command and " -R " in command
    assert "postgres" in replica["depends_on"]
    for name, service in services.items():
        if "manage.py" in " ".join(service.get("command", [])):
            assert "DATABASE_REPLICA_URL" in service["environment"], name
    # Only the profile: a plain `docker compose up` starts no replica.
    assert all("profiles" not in s for n, s in services.items() if n != "postgres-replica")


def test_docker_compose_config_accepts_both_profiles():
    if not docker_compose_available():
        pytest.skip(optional_tool_missing("no Docker compose plugin on this machine: the "
                                          "schema tests above check the file instead"))
    env = {**os.environ, "SECRET_KEY": "compose-config-check"}
    for profile in ([], ["--profile", "cluster"]):
        checked = subprocess.run(["docker", "compose", *profile, "config", "--quiet"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr
