#!/bin/bash
# What a warm `medainode serve` node holds, and where one analysis's peak sits on top of it: starts the node (Release
# build), sends N copies of SERIES_DIR one after another (new study and series UIDs each, dcmodify), and for each run
# prints the RSS before it, its VmHWM (reset before it), and the last HWM rises (2 ms samples) with RssAnon/RssFile; at the
# end the resident memory by mapping (binaries by name, [heap], the runtime's code in memfd:doublemapper, anonymous
# mappings), the runtime's GC figures from /metrics, and glibc's malloc_stats (through gdb, into the node's log).
# Used for docs/benchmarks.md "what a warm node keeps".
#   bench/warm-node-memory.sh SERIES_DIR [N (default 2)] [path/to/medainode.dll]
# HWM_LINES=N prints the last N rises per run (default 6). Needs DCMTK, curl, gdb and /usr/bin/python3; the node's folder
# is removed at the end.
set -u
series=$1; n=${2:-2}
source "$(dirname "$0")/node-lib.sh"
start_node "${3:-$(cd "$(dirname "$0")/.." && pwd)/src/MedAiNode.Worker/bin/Release/net10.0/medainode.dll}"
by_mapping() { /usr/bin/python3 - "$1" <<'PY'
import collections, sys
rss = collections.Counter(); name = None
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    f = line.split()
    if "-" in f[0] and not f[0].endswith(":"):
        name = f[5].split("/")[-1] if len(f) > 5 else "(anonymous)"
        if len(f) > 5 and f[5].startswith("["): name = f[5]
    elif f[0] == "Rss:": rss[name] += int(f[1])
print("  ".join(f"{k} {v // 1024}" for k, v in rss.most_common(8)), f"| total {sum(rss.values()) // 1024} MiB")
PY
}
echo "idle: $(by_mapping $pid)"
for i in $(seq 1 "$n"); do
  rm -rf "$work/send"; cp -r "$series" "$work/send"
  st=2.25.$(od -An -N8 -tu8 /dev/urandom | tr -d ' '); se=2.25.$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
  dcmodify -nb -m "(0020,000D)=$st" -m "(0020,000E)=$se" -gin "$work"/send/*.dcm > /dev/null 2>&1
  before=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
  echo 5 > /proc/$pid/clear_refs
  hwm_monitor $pid > "$work/hwm$i" &
  mon=$!
  TCP_NODELAY=1 storescu -aec MEDAINODE -aet CT 127.0.0.1 "$dp" +sd "$work/send" > /dev/null
  until [ "$(curl -s "http://127.0.0.1:$hp/api/studies" | grep -o '"state":"\(Delivered\|Analysed\|Failed\)"' | wc -l)" -ge "$i" ]; do sleep 0.25; done
  kill $mon
  echo "run $i: RSS before $before MiB, peak (VmHWM) $(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status) MiB"
  tail -"${HWM_LINES:-6}" "$work/hwm$i"
done
grep -o "model [^ ]* on series [0-9.]* in [0-9.]* s" "$work/node.log" | sed 's/on series [0-9.]* //'
sleep 5
echo "after: $(by_mapping $pid)"
curl -s "http://127.0.0.1:$hp/metrics" | grep -E "^dotnet_gc_last_collection_(heap_size_bytes|memory_committed)" | sed 's/{otel_scope_name="System.Runtime",/{/'
gdb -p $pid -batch -ex 'call (void)malloc_stats()' > /dev/null 2>&1
sleep 0.5; grep -A2 "^Arena" "$work/node.log" | paste - - - | tr -s ' '
