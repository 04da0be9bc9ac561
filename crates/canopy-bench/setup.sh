#!/usr/bin/env bash
# Installs what canopy-bench drives besides Rust crates: doltlite (PyPI) for its Python driver.
# git and a C compiler (for the vendored libgit2) are expected to be there already.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install --quiet --upgrade doltlite
"$PYTHON" "$(dirname "$0")/doltlite_bench.py" check
