#!/usr/bin/env bash
# Kafka's kafka-log-dirs.sh, served by Strom: runs `strom log-dirs "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec log-dirs "$@"
