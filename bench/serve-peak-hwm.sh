#!/bin/bash
# The peak of one analysis on a fresh `medainode serve` node, and when it happened: starts the node (Release build),
# sends SERIES_DIR with storescu, and tracks VmHWM every 2 ms (0.1 s samples miss the network run's last ~10 ms, where
# the peak is), printing each rise of more than 4 MiB with RssAnon and RssFile; ends with the final VmHWM once the study
# is Delivered. Used for docs/benchmarks.md "the peak is the network run" (6 runs per build, alternated).
#   bench/serve-peak-hwm.sh SERIES_DIR [path/to/medainode.dll]
# HWM_LINES=N prints the last N rises (default 5). Needs DCMTK, curl and /usr/bin/python3. The node's folder is removed at the end.
set -u
series=$1
source "$(dirname "$0")/node-lib.sh"
start_node "${2:-$(cd "$(dirname "$0")/.." && pwd)/src/MedAiNode.Worker/bin/Release/net10.0/medainode.dll}"
hwm_monitor $pid > "$work/hwm" &
TCP_NODELAY=1 storescu -aec MEDAINODE -aet CT 127.0.0.1 "$dp" +sd "$series" > /dev/null
until curl -s "http://127.0.0.1:$hp/api/studies" | grep -q '"state":"\(Delivered\|Analysed\|Failed\)"'; do sleep 0.25; done
echo "final HWM $(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status) MiB"
tail -${HWM_LINES:-5} "$work/hwm"
