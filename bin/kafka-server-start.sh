#!/usr/bin/env bash
# Kafka's kafka-server-start.sh, served by Strom: runs `strom server-start "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec server-start "$@"
