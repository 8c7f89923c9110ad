"""The GitHub workflow cannot run here: it stays correct by naming only tox environments that
exist, the Python versions dbplex supports and the servers the suite is written for."""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbplex.testing.plugin import ENV_URLS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
TOX_RUN = re.compile(r"\btox\s+-e\s+([\w,-]+)")


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def tox_envs() -> set[str]:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    return {s.removeprefix("testenv:") for s in ini.sections() if s.startswith("testenv:")}


def runs(job: dict[str, Any]) -> list[str]:
    return [str(step["run"]) for step in job["steps"] if "run" in step]


def tox_envs_of(job: dict[str, Any]) -> list[str]:
    return [env for run in runs(job) for match in TOX_RUN.findall(run) for env in match.split(",")]


@pytest.mark.parametrize("job", sorted(workflow()["jobs"]))
def test_each_job_runs_tox_environments_that_exist(job: str) -> None:
    named = tox_envs_of(workflow()["jobs"][job])
    assert named, f"job {job!r} runs no tox environment"
    missing = set(named) - tox_envs()
    assert not missing, f"job {job!r} runs tox environments tox.ini lacks: {sorted(missing)}"


def test_the_jobs_cover_lint_types_the_suite_on_services_and_the_packages() -> None:
    named = {env for job in workflow()["jobs"].values() for env in tox_envs_of(job)}
    assert {"lint", "type", "services", "package"} <= named
    if "docs" in tox_envs():
        assert "docs" in named, "tox.ini has a docs environment: add its job to the workflow"


def test_the_suite_runs_on_python_3_10_to_3_13() -> None:
    test = workflow()["jobs"]["test"]
    assert test["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12", "3.13"]
    setups = [s for s in test["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert [s["with"]["python-version"] for s in setups] == ["${{ matrix.python }}"]


def test_the_suite_gets_postgresql_16_redis_7_and_a_mongodb_7_replica_set() -> None:
    test = workflow()["jobs"]["test"]
    images = {name: service["image"] for name, service in test["services"].items()}
    assert images == {"postgres": "postgres:16", "redis": "redis:7"}
    mongo = next(run for run in runs(test) if "docker run" in run)
    assert re.search(r"docker run .*\bmongo:7 --replSet rs0\b", mongo)
    assert "rs.initiate(" in mongo and "isWritablePrimary" in mongo


def test_the_server_urls_reach_the_suite_through_the_variables_it_reads() -> None:
    test = workflow()["jobs"]["test"]
    assert set(test["env"]) == set(ENV_URLS.values())
    ports = {p.split(":")[0] for service in test["services"].values() for p in service["ports"]}
    for backend, variable in ENV_URLS.items():
        url = test["env"][variable]
        assert url.startswith({"pg": "postgresql://", "mongo": "mongodb://", "redis": "redis://"}[backend])
        port = re.search(r":(\d+)/", url)
        assert port and (port.group(1) in ports or backend == "mongo"), url
    assert "replicaSet=rs0" in test["env"]["DBPLEX_TEST_MONGO_URL"]
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    assert "DBPLEX_*" in ini["testenv"]["pass_env"].split()
    assert "set_env" not in ini["testenv:services"], "tox -e services must not blank the URLs it is given"
