#!/usr/bin/env bash
# Shared by the bin/kafka-*.sh shims: finds the strom binary (beside the script, in
# target/release of this repo, or on PATH) and runs `strom <tool> "$@"`.
strom_exec() {
    local tool=$1
    shift
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
    local bin
    for bin in "$here/strom" "$here/../target/release/strom"; do
        if [[ -x $bin ]]; then
            exec "$bin" "$tool" "$@"
        fi
    done
    if command -v strom >/dev/null 2>&1; then
        exec strom "$tool" "$@"
    fi
    echo "strom binary not found: build it with 'cargo build --release' or put it on PATH" >&2
    exit 1
}
