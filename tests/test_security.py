"""Security: user input reaches HTML only escaped, never eval or a shell; uploads are capped; no known CVE."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from conftest import ROOT

APP_FILES = [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]
LIBRARY_FILES = sorted((ROOT / "digitlib").glob("*.py"))
BUILTINS = {"eval", "exec", "compile", "__import__"}
OS_SHELL = {"system", "popen", "execv", "execve", "execl", "execlp", "execvp", "spawnl", "spawnv"}


def _calls(path) -> list[tuple[str, str, ast.Call]]:
    """Every call in a file as (object it is called on, called name, node)."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                calls.append((owner, func.attr, node))
            elif isinstance(func, ast.Name):
                calls.append(("", func.id, node))
    return calls


def _imports(path) -> set[str]:
    """Top-level names of every module a file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", APP_FILES + LIBRARY_FILES, ids=lambda p: p.name)
def test_no_eval_shell_or_unsafe_html(path):
    assert "subprocess" not in _imports(path)
    for owner, name, call in _calls(path):
        assert not (owner == "" and name in BUILTINS), f"{path.name}:{call.lineno} calls {name}"
        assert not (owner == "os" and name in OS_SHELL), f"{path.name}:{call.lineno} calls os.{name}"
        for keyword in call.keywords:
            if keyword.arg == "unsafe_allow_html":
                assert isinstance(keyword.value, ast.Constant) and keyword.value.value is False, (
                    f"{path.name}:{call.lineno} allows raw HTML"
                )


@pytest.mark.parametrize("path", APP_FILES, ids=lambda p: p.name)
def test_pages_open_no_files_themselves(path):
    # Files are read by digitlib from fixed folders; a page never builds a path from what a user typed.
    assert not [c for _, name, c in _calls(path) if name == "open"], f"{path.name} opens a file"


def test_captions_reach_the_pages_html_escaped():
    from ui.widgets import picture

    caption = '<img src=x onerror="alert(1)">'
    shown = picture(np.zeros((28, 28), np.uint8), 56, caption)
    assert caption not in shown
    assert shown.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 2, (
        "in the caption and the alt text"
    )


def test_uploads_are_size_limited():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert 0 < config["server"]["maxUploadSize"] <= 10


def test_no_traceback_is_shown_to_users():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] in ("none", False)


def test_dependencies_have_no_known_vulnerabilities():
    if (
        shutil.which("pip-audit", path=str(ROOT / ".venv" / "bin")) is None
        and shutil.which("pip-audit") is None
    ):
        pytest.skip("pip-audit is not installed")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--local",
            "--format",
            "json",
            "--progress-spinner",
            "off",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.skip(f"pip-audit could not run (offline?): {result.stderr.strip().splitlines()[-1:]}")
    dependencies = report["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [
        f"{d['name']} {d['version']}: {[v['id'] for v in d['vulns']]}" for d in audited if d.get("vulns")
    ]
    assert not vulnerable
    if not audited:
        pytest.skip("no vulnerability service reachable (offline): nothing could be audited")
