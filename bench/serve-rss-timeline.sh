#!/bin/bash
# Where in an analysis `medainode serve` peaks: starts the node (Release build, as Bench.Memory does), sends one series
# as a warm-up and then a second one, each with storescu, and samples the node's VmRSS every 0.1 s; prints the second
# analysis' RSS every 0.5 s from its send, its peak, and its seconds per stage from the node's /metrics, so the peak can
# be put on a stage.
#   bench/serve-rss-timeline.sh WARMUP_SERIES_DIR SERIES_DIR [extra serve options]
# The two series must have different Study UIDs (e.g. two runs of bench/make-thin-chest.py). Needs DCMTK and curl.
# KEEP=1 keeps the node's folder (its log and the RSS samples) and prints where it is.
set -eu
warm=$1; series=$2; shift 2
dll=$(cd "$(dirname "$0")/.." && pwd)/src/MedAiNode.Worker/bin/Release/net10.0/medainode.dll
[ -f "$dll" ] || { echo "$dll not found: dotnet build -c Release src/MedAiNode.Worker" >&2; exit 2; }
work=$(mktemp -d /tmp/medainode-rss-timeline.XXXXXX)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dp=$(free_port); hp=$(free_port)
TCP_NODELAY=1 dotnet "$dll" serve --Store:Root="$work/store" --Dicom:Port="$dp" --Http:Urls="http://127.0.0.1:$hp" \
  --Store:QuietPeriod=00:00:01 --Jobs:InferenceSlots=2 "$@" > "$work/node.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; kill ${sampler:-0} 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$hp/health/live" > /dev/null; do kill -0 $pid || { cat "$work/node.log"; exit 1; }; sleep 0.5; done
( while kill -0 $pid 2>/dev/null; do echo "$(date +%s.%N) $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"; sleep 0.1; done ) > "$work/rss" &
sampler=$!
echo "idle RSS: $(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status) MiB"
# The node's per-stage seconds summed so far (its /metrics histogram medainode.stage.duration).
stage_sums() { curl -s "http://127.0.0.1:$hp/metrics" | grep '^medainode_stage_duration_seconds_sum' | sed 's/.*stage="\([a-z]*\)".* \([0-9.e+-]*\)$/\1 \2/' | sort; }
n=0
for d in "$warm" "$series"; do
  n=$((n + 1)); start=$(date +%s.%N); stage_sums > "$work/stages-before"
  TCP_NODELAY=1 storescu -aec MEDAINODE -aet CT 127.0.0.1 "$dp" +sd "$d" > /dev/null
  until [ "$(curl -s "http://127.0.0.1:$hp/api/studies" | grep -o '"state":"\(Delivered\|Analysed\|Failed\)"' | wc -l)" -ge $n ]; do sleep 0.25; done
  end=$(date +%s.%N)
done
stage_sums > "$work/stages-after"
echo "second analysis, seconds per stage (the node's /metrics; \"inference\" holds \"model\"):"
join "$work/stages-before" "$work/stages-after" | awk '{ printf "%s %.1f  ", $1, $3 - $2 } END { print "" }'
echo "second analysis, seconds from its send: RSS MiB"
awk -v s="$start" -v e="$end" '$1 >= s && $1 <= e { t = int(($1 - s) * 2) / 2; if (t != last) { printf "%.1f:%d ", t, $2 / 1024; last = t } } END { print "" }' "$work/rss"
[ -n "${KEEP:-}" ] && echo "kept: $work"
echo "peak RSS of the second analysis: $(awk -v s="$start" -v e="$end" '$1 >= s && $1 <= e && $2 > m { m = $2 } END { print int(m / 1024) }' "$work/rss") MiB"
