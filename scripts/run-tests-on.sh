#!/usr/bin/env bash
# Run the test suite on one Python version: scripts/run-tests-on.sh 3.8 [constraints-file]
# The interpreter is python3.X on PATH if it runs, else the newest pyenv install of 3.X.
set -euo pipefail
version=$1
constraints=${2:-}
# A pyenv shim answers to every name but fails for versions not selected, so
# each candidate is asked to run before it is used.
works() { [ -n "$1" ] && "$1" -c 'import sys' >/dev/null 2>&1; }
python=$(command -v "python$version" || true)
if ! works "$python" && command -v pyenv >/dev/null 2>&1; then
    python=$(ls -d "$(pyenv root)/versions/$version".*/bin/python 2>/dev/null | sort -V | tail -n 1)
fi
if ! works "$python"; then
    echo "matrix: no python$version found (on PATH or under pyenv)" >&2
    exit 1
fi
name=$version${constraints:+-oldest}
venv=.venv-matrix/$name
plugins="-e plugins/progress -e plugins/jsonlog -e plugins/otel"
"$python" -m venv --clear "$venv"
if [ -n "$constraints" ]; then
    "$venv/bin/python" -m pip install -q -c "$constraints" -e '.[test]' $plugins
else
    "$venv/bin/python" -m pip install -q --upgrade -e '.[test]' $plugins
fi
versions=$("$venv/bin/python" - <<'PY'
import sys
try:
    from importlib.metadata import version
except ImportError:  # pragma: no cover
    from importlib_metadata import version
names = ("requests", "urllib3", "pluggy", "tenacity", "responses", "opentelemetry-api")
print(sys.version.split()[0], " ".join(f"{n} {version(n)}" for n in names))
PY
)
echo "== Python $version ($name): $versions"
# The official clients' test installs them into venvs of its own: once, in make
# test. The slow tests run there too, and here on the oldest dependencies only.
markers="not official and not slow"
[ -n "$constraints" ] && markers="not official"
# Three workers: the suite mostly waits (see PYTEST_FLAGS in the Makefile).
"$venv/bin/python" -m pytest -q -p no:cacheprovider -n 3 -m "$markers"
