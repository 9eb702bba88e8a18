#!/usr/bin/env bash
# Kafka's kafka-consumer-perf-test.sh, served by Strom: runs `strom consumer-perf-test "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec consumer-perf-test "$@"
