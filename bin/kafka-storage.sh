#!/usr/bin/env bash
# Kafka's kafka-storage.sh, served by Strom: runs `strom storage "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec storage "$@"
