#!/usr/bin/env bash
# Kafka's kafka-console-consumer.sh, served by Strom: runs `strom console-consumer "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec console-consumer "$@"
