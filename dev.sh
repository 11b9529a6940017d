#!/usr/bin/env bash
# Developer entry point. A clean clone with Python 3.10+ and pip is enough:
#   bash dev.sh lab               JupyterLab on notebooks/
#   bash dev.sh test [ARGS...]    the whole test suite; ARGS go to pytest
#   bash dev.sh classroom [NB]    the dashboards as an app with code hidden (Voila), for a projector
#   bash dev.sh unit [ARGS...]    the unit tests only (no notebooks, no browser): a minute or two
#   bash dev.sh site [--force]    the course as an offline website in _site/ (stored outputs, no kernel)
# TORCH_SPEC picks the torch to install first (default torch==2.13.0); PYTHON picks the interpreter
# that creates .venv (default python3). TORCH_CPU=1 takes torch from PyTorch's CPU-only wheel index:
# on Linux, PyPI's torch is the CUDA build (a multi-GB .venv). It is opt-in, never the default: CI
# and these machines reach only the package registries, where a local CPU wheel is found anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
PY="$VENV/bin/python"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
TORCH_INDEX=()
if [ "${TORCH_CPU:-0}" = 1 ]; then
    TORCH_INDEX=(--index-url https://download.pytorch.org/whl/cpu)
fi

# The kernels' environment (offline, plotly as JSON, stable hashing), written once in notebook.env
# and read by conftest.py too, so notebooks behave the same in Lab, under nbconvert and under nbval.
set -a
. ./notebook.env
set +a

# Let Python cache the bytecode it compiles (in .venv and in git-ignored __pycache__ folders) even
# where the environment turns that off, as many container images do: without it every process a
# test run starts (about 60: kernels, pytest workers, servers) compiles torch, transformers and
# Jupyter from source again. Measured here on a fresh .venv: importing notebook 07's libraries took
# 13.5 s the first time either way, then 7.8-8.8 s with the cache and 10.9-14.0 s without.
unset PYTHONDONTWRITEBYTECODE

# The browser test drives Debian's chromium (a browser download is impossible offline). As root
# install it with apt; otherwise say how, and that test skips itself.
ensure_chromium() {
    command -v chromium >/dev/null && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "dev.sh: no chromium; the browser test will skip (install it: apt-get install chromium)" >&2
    fi
}

# Create .venv if missing and install the project with one extra (lab or test). torch goes first:
# left to the resolver, a bare torch requirement pulls a multi-GB CUDA build. The pip step is
# skipped while the stamp matches pyproject.toml's sha256 (and TORCH_SPEC).
bootstrap() {
    local extra="$1" stamp="$VENV/.installed-$1" want
    [ -x "$PY" ] || "${PYTHON:-python3}" -m venv "$VENV"
    want="$("$PY" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())') $TORCH_SPEC ${TORCH_INDEX[*]}"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        # --no-compile: Python compiles a module when it is first imported; compiling every file of
        # torch, transformers and JupyterLab up front takes longer than the imports ever need.
        "$PY" -m pip install --no-compile ${TORCH_INDEX[@]+"${TORCH_INDEX[@]}"} "$TORCH_SPEC"
        "$PY" -m pip install --no-compile -e ".[$extra]"
        echo "$want" > "$stamp"
    fi
}

case "${1:-}" in
    lab)
        shift
        bootstrap lab
        if [ "$(id -u)" = 0 ]; then set -- --allow-root "$@"; fi
        exec "$VENV/bin/jupyter" lab "$@" notebooks/
        ;;
    test)
        shift
        ensure_chromium
        bootstrap test
        exec "$PY" -m pytest -n auto "$@"  # one worker per core (tests/conftest.py shares the work)
        ;;
    unit)
        shift
        bootstrap test
        exec "$PY" -m pytest -n auto tests --ignore=tests/site/test_browser.py --ignore=tests/site/test_site.py \
            --ignore=tests/site/test_foreign_numerics.py "$@"
        ;;
    site)
        shift
        bootstrap lab
        exec "$PY" tools/build_site.py "$@"
        ;;
    classroom)
        shift
        bootstrap lab
        exec "$VENV/bin/voila" "${1:-notebooks/classroom.ipynb}" --theme=light
        ;;
    *)
        echo "usage: bash dev.sh lab | test [pytest args...] | unit [pytest args...] | classroom [notebook] | site [--force]" >&2
        exit 2
        ;;
esac
