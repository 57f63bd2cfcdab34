#!/usr/bin/env bash
echo "No benchmarks yet: see the benchmarks issue." >&2
exit 0
