"""examples/testing_demo.py, the guide's example test file, run by pytest as a process.

The file is named so that pytest does not collect it with the project's own
tests; the "Testing your collector" page runs it by name, and so does this test.
Every one of its tests must pass, and none may be skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support import EXAMPLES, clean_env

EXAMPLE = EXAMPLES / "testing_demo.py"


def test_the_example_test_file_passes(tmp_path):
    env = {k: v for k, v in clean_env().items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-v", "-p", "no:cacheprovider", str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    defined = re.findall(r"^def (test_\w+)\(", EXAMPLE.read_text(), flags=re.M)
    passed = re.findall(r"testing_demo\.py::(test_\w+) PASSED", result.stdout)
    assert len(defined) >= 6
    assert passed == defined, result.stdout
