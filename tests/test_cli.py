"""The command line: version, help, and user errors without tracebacks."""

import subprocess
import sys

import ldm_studio


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ldm_studio", *args], capture_output=True, text=True)


def test_version_prints_the_package_version():
    done = _cli("--version")
    assert done.returncode == 0
    assert ldm_studio.__version__ in done.stdout


def test_help_lists_the_commands():
    done = _cli("--help")
    assert done.returncode == 0
    assert "usage: ldm-studio" in done.stdout
    assert "info" in done.stdout


def test_unknown_argument_prints_usage_and_fails_without_traceback():
    done = _cli("--no-such-flag")
    assert done.returncode != 0
    assert "usage:" in done.stderr
    assert "Traceback" not in done.stderr
