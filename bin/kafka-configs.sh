#!/usr/bin/env bash
# Kafka's kafka-configs.sh, served by Strom: runs `strom configs "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec configs "$@"
