"""Each plugins/* distribution, pip-installed into a temporary venv, is found and works.

A broken distribution (its module raises on import) is installed beside them:
it is reported by name and the client works. The venv sees predictions and
its dependencies through a folder of links, not through this environment's
site-packages, so only the distributions installed in it are found.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
from typing import Any, Dict, Set

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORTS = (
    "predictions",
    "requests",
    "urllib3",
    "idna",
    "certifi",
    "charset_normalizer",
    "chardet",
    "pluggy",
    "tenacity",
    "typing_extensions",
)
DISTRIBUTIONS = ("opentelemetry-api",)
"""Linked file by file with their metadata (their entry points are read), and
what they require: predictions-otel's dependency, without the SDK."""

BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "predictions-broken"
version = "6.6.6"

[project.entry-points."predictions.plugins"]
broken = "predictions_broken"
"""

SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, os, sys, warnings
    warnings.simplefilter("always")
    import predictions
    from predictions import Client, WaitOptions, list_plugins
    from predictions.testing import LocalServer

    infos = [vars(p) if hasattr(p, "__dict__") else p._asdict() for p in list_plugins()]
    with LocalServer() as server, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Client(server.base_url) as client:
            done = client.predictions.create(
                {"input": {"seconds": 0.2}}, "demo/sleep",
                wait=True, wait_options=WaitOptions(0.02, prefer_wait=0),  # polled
            )
    print(json.dumps({
        "plugins": [
            {"name": i["name"], "distribution": i["distribution"],
             "version": i["version"], "hooks": list(i["hooks"]), "error": i["error"]}
            for i in infos
        ],
        "status": done["status"],
        "warnings": [str(w.message) for w in caught],
        "predictions_from": os.path.dirname(os.path.realpath(predictions.__file__)),
        "sdk_found": importlib.util.find_spec("opentelemetry.sdk") is not None,
    }))
    """
)


def link_distribution(name: str, links: pathlib.Path, done: Set[str]) -> None:
    """Link an installed distribution's files, and those of what it requires."""
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in done:
        return
    done.add(key)
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return  # a requirement this Python's markers leave out
    for file in dist.files or ():
        source = pathlib.Path(str(dist.locate_file(file)))
        target = links / file
        if ".." in file.parts or file.suffix == ".pyc" or not source.is_file():
            continue
        if target.exists() or any(p.is_symlink() for p in target.parents):
            continue  # linked whole (IMPORTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
    for requirement in dist.requires or ():
        if "extra ==" not in requirement:
            link_distribution(re.split(r"[\s;<>=!~\[(]", requirement)[0], links, done)


def run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=True, **kwargs
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    base = tmp_path_factory.mktemp("plugin-venv")
    broken = base / "broken"
    (broken / "predictions_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "predictions_broken" / "__init__.py").write_text(
        'raise RuntimeError("predictions_broken is broken on purpose")\n'
    )
    wheels = base / "wheels"
    plugins = [
        *(ROOT / "plugins" / name for name in ("progress", "jsonlog", "otel")),
        broken,
    ]
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", wheels, *plugins,
    )  # fmt: skip
    links = base / "links"
    links.mkdir()
    for name in IMPORTS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        source = pathlib.Path(module.__file__ or "")
        target = source.parent if source.name == "__init__.py" else source
        (links / target.name).symlink_to(target)
    done: Set[str] = set()
    for name in DISTRIBUTIONS:
        link_distribution(name, links, done)
    env = base / "venv"
    run(sys.executable, "-m", "venv", env)
    python = env / "bin" / "python"
    site = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    )
    pathlib.Path(site.stdout.strip(), "links.pth").write_text(f"{links}\n")
    run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        *sorted(wheels.glob("*.whl")),
    )
    return python


@pytest.fixture(scope="module")
def outcome(
    venv: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> Dict[str, Any]:
    log = tmp_path_factory.mktemp("jsonlog") / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTIONS_")}
    env["PREDICTIONS_JSONLOG"] = str(log)
    result = subprocess.run(  # run elsewhere: nothing is imported from this checkout
        [str(venv), "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=str(log.parent),
    )
    assert result.returncode == 0, result.stderr
    data: Dict[str, Any] = json.loads(result.stdout)
    data["stderr"] = result.stderr
    data["events"] = [json.loads(line) for line in log.read_text().splitlines()]
    return data


def test_the_installed_distributions_are_found_with_their_versions_and_hooks(
    outcome: Dict[str, Any],
) -> None:
    plugins = {p["name"]: p for p in outcome["plugins"]}
    assert sorted(plugins) == ["broken", "jsonlog", "otel", "progress"]
    assert plugins["progress"]["distribution"] == "predictions-progress"
    assert plugins["progress"]["version"] == "0.1.0"
    assert plugins["progress"]["hooks"] == [
        "predictions_on_batch_progress",
        "predictions_on_poll",
        "predictions_on_terminal",
    ]
    assert plugins["jsonlog"]["distribution"] == "predictions-jsonlog"
    assert "predictions_on_retry" in plugins["jsonlog"]["hooks"]
    assert plugins["otel"]["distribution"] == "predictions-otel"
    assert plugins["otel"]["error"] is None
    assert "predictions_request_headers" in plugins["otel"]["hooks"]
    assert (
        plugins["broken"]["error"]
        == "RuntimeError: predictions_broken is broken on purpose"
    )
    assert outcome["predictions_from"] == str(ROOT / "predictions")


def test_a_broken_distribution_is_reported_by_name_and_the_client_works(
    outcome: Dict[str, Any],
) -> None:
    assert outcome["status"] == "succeeded"
    broken = [w for w in outcome["warnings"] if "broken" in w]
    assert len(broken) == 1
    assert len(outcome["warnings"]) == 1, "otel, with no SDK, warns of nothing"
    assert "predictions-broken 6.6.6" in broken[0]


def test_otel_loads_with_the_api_alone(outcome: Dict[str, Any]) -> None:
    assert outcome["sdk_found"] is False
    assert "otel" in [p["name"] for p in outcome["plugins"] if p["error"] is None]


def test_progress_works_from_its_distribution(outcome: Dict[str, Any]) -> None:
    lines = outcome["stderr"].splitlines()
    assert any("demo/sleep:1 started" in line for line in lines)
    assert any("demo/sleep:1 succeeded (waited" in line for line in lines)


def test_jsonlog_works_from_its_distribution(outcome: Dict[str, Any]) -> None:
    kinds = [event["event"] for event in outcome["events"]]
    assert kinds[0] == "create"
    assert kinds[-1] == "terminal"
    assert outcome["events"][-1]["status"] == "succeeded"
