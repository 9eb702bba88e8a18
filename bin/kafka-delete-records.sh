#!/usr/bin/env bash
# Kafka's kafka-delete-records.sh, served by Strom: runs `strom delete-records "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec delete-records "$@"
