#!/usr/bin/env bash
# Kafka's kafka-topics.sh, served by Strom: runs `strom topics "$@"`.
source "$(dirname "${BASH_SOURCE[0]}")/strom-shim.sh"
strom_exec topics "$@"
