#!/usr/bin/env bash
# Kafka's kafka-producer-perf-test.sh, served by Strom: runs `strom producer-perf-test "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec producer-perf-test "$@"
