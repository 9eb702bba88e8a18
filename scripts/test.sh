#!/usr/bin/env bash
# The one command that runs every Strom test on a fresh Debian machine:
#   1. cargo build --release -p strom-cli     (target/release/strom)
#   2. the Rust tests                         (cargo nextest, or cargo test without it)
#   3. the interop suite with real clients    (tests/interop, pytest in target/venv)
#
# It installs what it needs when it is missing, into places it owns:
#   - a Python venv in target/venv with the pins of tests/interop/requirements.txt
#   - kcat from Debian's packages (the kcat tests skip with a notice if that fails)
#   - kafkajs with npm into target/kafkajs where Node is present (else those tests skip)
# Re-runs skip what is already done. Exits non-zero if anything failed.
#
# Extra arguments are passed to pytest, e.g.:  scripts/test.sh -k admin -x
# Environment:
#   STROM_SKIP_RUST_TESTS=1   skip step 2 (the build still runs)
#   STROM_PYTEST_TIMEOUT=N    wall-clock limit of the whole pytest run, seconds (default 2400)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=$ROOT/target/venv
REQS=$ROOT/tests/interop/requirements.txt

say() { printf '\n==> %s\n' "$*"; }
notice() { printf '\n*** NOTICE: %s\n' "$*"; }

failed=()

# --- 1. build ---------------------------------------------------------------------------------
say "cargo build --release -p strom-cli"
# Only the broker and tools: the benchmark's load generator (strom-bench, librdkafka) is not
# needed by the tests; the Rust tests below still compile it.
cargo build --release -p strom-cli
if [[ ! -x target/release/strom ]]; then
    echo "error: cargo build --release did not produce target/release/strom" >&2
    exit 1
fi

# --- 2. Rust tests ----------------------------------------------------------------------------
if [[ "${STROM_SKIP_RUST_TESTS:-0}" != 1 ]]; then
    if cargo nextest --version >/dev/null 2>&1; then
        say "cargo nextest run --workspace"
        cargo nextest run --workspace --no-tests=warn || failed+=("rust tests (cargo nextest)")
    else
        say "cargo test --workspace"
        cargo test --workspace || failed+=("rust tests (cargo test)")
    fi
fi

# --- 3a. Python venv with pinned clients ------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating venv in target/venv"
    if ! python3 -m venv "$VENV"; then
        # Debian's system Python ships venv/ensurepip separately.
        rm -rf "$VENV"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q python3-venv >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q python3-venv >/dev/null; }
        python3 -m venv "$VENV"
    fi
fi
stamp=$VENV/.strom-requirements.sha256
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    say "pip install -r tests/interop/requirements.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
    echo "$want" >"$stamp"
fi

# --- 3b. kcat (optional) ----------------------------------------------------------------------
if ! command -v kcat >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        say "apt-get install -y kcat"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q kcat >/dev/null 2>&1; then
            # The package lists may be missing or stale on a fresh machine.
            apt-get update -q >/dev/null 2>&1 || true
            apt-get install -y -q kcat >/dev/null 2>&1 || true
        fi
    fi
    if ! command -v kcat >/dev/null 2>&1; then
        notice "kcat could not be installed; the kcat tests will be skipped"
    fi
fi

# --- 3c. kafkajs (optional: only where Node is present) ----------------------------------------
KJS_SRC=$ROOT/tests/interop/kafkajs
KJS_DIR=$ROOT/target/kafkajs
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    kjs_want=$(cat "$KJS_SRC/package.json" "$KJS_SRC/package-lock.json" | sha256sum | cut -d' ' -f1)
    kjs_stamp=$KJS_DIR/.strom-packages.sha256
    if [[ ! -f "$kjs_stamp" || "$(cat "$kjs_stamp")" != "$kjs_want" || ! -d "$KJS_DIR/node_modules/kafkajs" ]]; then
        say "npm ci (kafkajs) into target/kafkajs"
        mkdir -p "$KJS_DIR"
        cp "$KJS_SRC/package.json" "$KJS_SRC/package-lock.json" "$KJS_DIR/"
        if (cd "$KJS_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
            echo "$kjs_want" >"$kjs_stamp"
        else
            notice "npm ci of kafkajs failed; the kafkajs tests will be skipped"
        fi
    fi
else
    notice "node/npm not found; the kafkajs tests will be skipped"
fi

# --- 3d. interop suite ------------------------------------------------------------------------
say "pytest tests/interop"
export STROM_BIN=$ROOT/target/release/strom
rc=0
timeout --signal=TERM --kill-after=30 "${STROM_PYTEST_TIMEOUT:-2400}" \
    "$VENV/bin/python" -m pytest tests/interop -v "$@" || rc=$?
case $rc in
    0) ;;
    5) failed+=("interop tests (pytest collected no tests)") ;;
    124) failed+=("interop tests (timed out after ${STROM_PYTEST_TIMEOUT:-2400} s)") ;;
    *) failed+=("interop tests (pytest exit $rc)") ;;
esac

if ((${#failed[@]})); then
    printf '\nFAILED:\n'
    printf '  - %s\n' "${failed[@]}"
    exit 1
fi
printf '\nall tests passed\n'
