#!/usr/bin/env bash
# Kafka's kafka-e2e-latency.sh, served by Strom: runs `strom e2e-latency "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec e2e-latency "$@"
