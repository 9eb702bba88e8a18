#!/usr/bin/env bash
# Kafka's kafka-consumer-groups.sh, served by Strom: runs `strom consumer-groups "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec consumer-groups "$@"
