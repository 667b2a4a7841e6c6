#!/usr/bin/env bash
# Runs the whole test suite several times in a row while other processes keep the CPUs busy, to reproduce "passes
# twice under load" (issue 16). Usage: scripts/test-under-load.sh [RUNS] [BURNERS] [-- extra arguments for test.sh]
#   RUNS     how many times scripts/test.sh runs, one after the other (default 2)
#   BURNERS  how many busy loops run meanwhile (default 2, one per core of the 2-core development VM)
# The busy loops are plain shell loops started here and stopped (by their own process ids) when this script ends,
# however it ends. With stress-ng installed, `stress-ng --cpu 2` beside scripts/test.sh does the same.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-2}"; burners="${2:-2}"
shift $(( $# >= 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift

pids=()
stop_burners() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_burners EXIT
for ((i = 0; i < burners; i++)); do
  sh -c 'while :; do :; done' &
  pids+=("$!")
done
echo "test-under-load: $burners busy loops (pids ${pids[*]}), $runs runs of scripts/test.sh; load $(cut -d' ' -f1-3 /proc/loadavg)"

failed=0
for ((r = 1; r <= runs; r++)); do
  start=$(date +%s)
  set +e
  scripts/test.sh "$@" 2>&1 | tee "/tmp/medainode-test-under-load-$r.log" | tail -n 1
  rc=${PIPESTATUS[0]}
  set -e
  echo "test-under-load: run $r of $runs exit $rc after $(( $(date +%s) - start )) s; load $(cut -d' ' -f1-3 /proc/loadavg); log /tmp/medainode-test-under-load-$r.log"
  [ "$rc" -ne 0 ] && failed=1
done
exit "$failed"
