#!/usr/bin/env bash
# Every test of the repository: the Rust suite (`cargo test --locked`, arguments passed on), then the
# Python package built from this checkout into a fresh venv (target/python-venv) and its pytest suite.
#
# The package is built with the dev profile into the workspace's target folder, so it reuses what
# `cargo test` just compiled (only PyO3, numpy's bindings and the extension itself are new); a user's
# `pip install ./python` builds the release profile instead. Needs network access to PyPI (maturin,
# numpy, pytest) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked "$@"
venv=target/python-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check maturin numpy pytest
# The avfoil binary the tests compare against is the one `cargo test` built.
cargo build --locked --bin avfoil
MATURIN_PEP517_ARGS="--profile dev" CARGO_TARGET_DIR="$PWD/target" \
    "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./python
AVFOIL_BIN="$PWD/target/debug/avfoil" "$venv/bin/python" -m pytest -q python/tests
