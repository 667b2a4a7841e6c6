#!/bin/bash
# The peak of one analysis on a fresh `medainode serve` node, and when it happened: starts the node (Release build),
# sends SERIES_DIR with storescu, and tracks VmHWM every 2 ms (0.1 s samples miss the network run's last ~10 ms, where
# the peak is), printing each rise of more than 4 MiB with RssAnon and RssFile; ends with the final VmHWM once the study
# is Delivered. Used for docs/benchmarks.md "the peak is the network run" (6 runs per build, alternated).
#   bench/serve-peak-hwm.sh SERIES_DIR [path/to/medainode.dll]
# HWM_LINES=N prints the last N rises (default 5). Needs DCMTK, curl and /usr/bin/python3. The node's folder is removed at the end.
set -u
series=$1
dll=${2:-$(cd "$(dirname "$0")/.." && pwd)/src/MedAiNode.Worker/bin/Release/net10.0/medainode.dll}
[ -f "$dll" ] || { echo "$dll not found: dotnet build -c Release src/MedAiNode.Worker" >&2; exit 2; }
work=$(mktemp -d /tmp/medainode-peak-hwm.XXXXXX)
fp() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dp=$(fp); hp=$(fp)
TCP_NODELAY=1 dotnet "$dll" serve --Store:Root="$work/store" --Dicom:Port="$dp" --Http:Urls="http://127.0.0.1:$hp" \
  --Store:QuietPeriod=00:00:01 --Jobs:InferenceSlots=2 > "$work/node.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$hp/health/live" > /dev/null; do kill -0 $pid || { cat "$work/node.log"; exit 1; }; sleep 0.3; done
/usr/bin/python3 - $pid > "$work/hwm" <<'PY' &
import datetime, re, sys, time
pid, last = sys.argv[1], 0
while True:
    try: s = open(f"/proc/{pid}/status").read()
    except OSError: break
    m = re.search(r"VmHWM:\s+(\d+)", s)
    if not m: break
    h = int(m.group(1)) // 1024
    if h > last + 4:
        a = int(re.search(r"RssAnon:\s+(\d+)", s).group(1)) // 1024
        f = int(re.search(r"RssFile:\s+(\d+)", s).group(1)) // 1024
        print(datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3], "HWM", h, "anon", a, "file", f, flush=True)
        last = h
    time.sleep(0.002)
PY
TCP_NODELAY=1 storescu -aec MEDAINODE -aet CT 127.0.0.1 "$dp" +sd "$series" > /dev/null
until curl -s "http://127.0.0.1:$hp/api/studies" | grep -q '"state":"\(Delivered\|Analysed\|Failed\)"'; do sleep 0.25; done
echo "final HWM $(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status) MiB"
tail -${HWM_LINES:-5} "$work/hwm"
