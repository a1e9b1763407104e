"""The binding's Java card code in jCardSim against the real host library (docs/binding.md).

The scenarios live in binding_scenario.py and run in one subprocess with a JVM of their own (see
there); each becomes one test here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("binding_scenario.py")
sys.path.insert(0, str(SCRIPT.parent))
from binding_scenario import SCENARIOS  # noqa: E402


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, object]]:
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        raise AssertionError(
            f"binding_scenario.py failed ({run.returncode}):\n{run.stderr[-4000:]}"
        )
    return {line["scenario"]: line for line in lines}


@pytest.mark.parametrize("name", [s.__name__ for s in SCENARIOS])
def test_scenario_on_the_java_card(results: dict[str, dict[str, object]], name: str) -> None:
    result = results.get(name)
    assert result is not None, f"{name} did not run"
    assert result["ok"], result.get("error")
