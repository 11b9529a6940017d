#!/usr/bin/env bash
# Developer entry point. A clean clone with Python 3.10+ and pip is enough:
#   bash dev.sh lab               JupyterLab on notebooks/
#   bash dev.sh test [ARGS...]    the whole test suite; ARGS go to pytest
#   bash dev.sh classroom [NB]    the dashboards as an app with code hidden (Voila), for a projector
# TORCH_SPEC picks the torch to install first (default torch==2.13.0, a CPU build); PYTHON picks
# the interpreter that creates .venv (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
PY="$VENV/bin/python"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

# Everything runs offline; plotly renders as a JSON mimetype; str hashing is stable in kernels.
# These match conftest.py, so notebooks behave the same in Lab, under nbconvert and under nbval.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PLOTLY_RENDERER=plotly_mimetype PYTHONHASHSEED=0

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
    want="$("$PY" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())') $TORCH_SPEC"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$PY" -m pip install "$TORCH_SPEC"
        "$PY" -m pip install -e ".[$extra]"
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
        exec "$PY" -m pytest "$@"
        ;;
    classroom)
        shift
        bootstrap lab
        exec "$VENV/bin/voila" "${1:-notebooks/classroom.ipynb}" --theme=light
        ;;
    *)
        echo "usage: bash dev.sh lab | bash dev.sh test [pytest args...] | bash dev.sh classroom [notebook]" >&2
        exit 2
        ;;
esac
