#!/usr/bin/env bash
# Kafka's kafka-server-stop.sh, served by Strom: runs `strom server-stop "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec server-stop "$@"
