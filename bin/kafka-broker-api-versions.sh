#!/usr/bin/env bash
# Kafka's kafka-broker-api-versions.sh, served by Strom: runs `strom broker-api-versions "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec broker-api-versions "$@"
