#!/usr/bin/env bash
# Kafka's kafka-get-offsets.sh, served by Strom: runs `strom get-offsets "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec get-offsets "$@"
