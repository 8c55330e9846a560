"""`make demo` installs the package and its plugins editable with no warning.

setuptools warned three times ("Please be careful with folders in your working
directory..."): each distribution, laid out flat with no `package_dir`, was
installed through an import hook of its own; with its directory named, it is
a plain path entry, which needs no warning (issue 21).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROJECTS = [ROOT, ROOT / "plugins" / "progress", ROOT / "plugins" / "jsonlog"]

BUILD = textwrap.dedent(
    """
    import json, sys, tempfile, warnings
    from setuptools import build_meta
    path = sys.argv[1]  # build_meta sets sys.argv to its own
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with tempfile.TemporaryDirectory() as out:
            build_meta.build_editable(out)
    with open(path, "w") as report:
        json.dump(
            [
                f"{w.category.__name__}: {w.message}"
                for w in caught
                if "editable" in w.filename  # not the older setuptools' others
            ],
            report,
        )
    """
)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda path: path.name)
def test_an_editable_install_warns_nothing(
    project: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    pytest.importorskip("wheel")
    build_meta = pytest.importorskip("setuptools.build_meta")
    if not hasattr(build_meta, "build_editable"):
        pytest.skip("this setuptools builds no editable wheel (PEP 660)")
    report = tmp_path / "warnings.json"
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(report)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(report.read_text()) == []
