"""The GitHub workflow: it parses, runs only the Makefile's own targets (so CI does what `make test` does on a
laptop), restores the environment keyed on the lock, and audits the lock's dependencies without a way to pass
on a finding."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
_TARGET = re.compile(r"^([A-Za-z][\w.-]*(?:[ \t]+[A-Za-z][\w.-]*)*)[ \t]*:(?!=)", re.MULTILINE)
_SEPARATORS = {"&&", "||", ";", "|"}


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def makefile_targets(text: str) -> set[str]:
    """Explicit targets of a Makefile (rule lines, not recipes or ``:=`` assignments)."""
    return {name for names in _TARGET.findall(text) for name in names.split()}


def make_targets(command: str) -> list[str]:
    """The targets each ``make`` in a shell script asks for (options and VAR=value arguments left out)."""
    found = []
    for line in command.splitlines():
        tokens = shlex.split(line, comments=True)
        for position, token in enumerate(tokens):
            if token != "make":
                continue
            for argument in tokens[position + 1 :]:
                if argument in _SEPARATORS:
                    break
                if not argument.startswith("-") and "=" not in argument:
                    found.append(argument)
    return found


def test_the_helpers_read_make_and_makefiles_as_make_does() -> None:
    makefile = "A := 1\nlint: install\n\t$(BIN)/ruff check .\nup down: x\n.PHONY: up\n"
    assert makefile_targets(makefile) == {"lint", "up", "down"}
    assert make_targets("make lint && make -j2 test V=1\necho make  # make nothing") == ["lint", "test"]


def test_the_workflow_runs_on_push_and_pull_requests() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert {"push", "pull_request"} <= set(triggers)


def test_every_make_target_the_workflow_runs_is_in_the_makefile() -> None:
    targets = makefile_targets((ROOT / "Makefile").read_text())
    invoked = [t for _, step in _steps(_workflow()) for t in make_targets(step.get("run", ""))]
    assert {"lint", "test"} <= set(invoked)
    assert set(invoked) <= targets, f"not in the Makefile: {set(invoked) - targets}"


def test_jobs_that_run_make_restore_the_environment_keyed_on_the_lock() -> None:
    for name, job in _workflow()["jobs"].items():
        if not any(make_targets(step.get("run", "")) for step in job["steps"]):
            continue
        caches = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@")]
        assert caches, f"job {name} installs the environment without a cache"
        assert caches[0]["with"]["path"] == ".venv"
        assert "hashFiles('requirements.txt'" in caches[0]["with"]["key"]
        first_make = next(i for i, s in enumerate(job["steps"]) if make_targets(s.get("run", "")))
        assert job["steps"].index(caches[0]) < first_make


def test_the_dependency_audit_checks_the_lock_and_fails_on_findings() -> None:
    workflow = _workflow()
    audits = [(job, step) for job, step in _steps(workflow) if re.search(r"^\s*pip-audit ", step.get("run", ""), re.M)]
    assert len(audits) == 1
    job, step = audits[0]
    command = step["run"]
    assert "requirements.txt" in command and " -r " in command and "--strict" in command
    assert "|| true" not in command and not step.get("continue-on-error")
    assert not workflow["jobs"][job].get("continue-on-error")
