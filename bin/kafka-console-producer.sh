#!/usr/bin/env bash
# Kafka's kafka-console-producer.sh, served by Strom: runs `strom console-producer "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec console-producer "$@"
