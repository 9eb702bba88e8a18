#!/usr/bin/env bash
# Kafka's kafka-dump-log.sh, served by Strom: runs `strom dump-log "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec dump-log "$@"
