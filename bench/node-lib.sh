# Sourced by bench/serve-peak-hwm.sh and bench/warm-node-memory.sh: a `medainode serve` node in a temporary folder, and
# a 2 ms VmHWM monitor. Needs curl and /usr/bin/python3.

# start_node DLL: starts the node (quiet period 1 s, 2 inference slots) on free loopback ports and waits until it is live;
# sets work, dp (DICOM port), hp (HTTP port) and pid; the node is stopped and its folder removed when the script exits.
start_node() {
  local dll=$1
  [ -f "$dll" ] || { echo "$dll not found: dotnet build -c Release src/MedAiNode.Worker" >&2; exit 2; }
  work=$(mktemp -d /tmp/medainode-bench-node.XXXXXX)
  local fp='import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  dp=$(/usr/bin/python3 -c "$fp"); hp=$(/usr/bin/python3 -c "$fp")
  TCP_NODELAY=1 dotnet "$dll" serve --Store:Root="$work/store" --Dicom:Port="$dp" --Http:Urls="http://127.0.0.1:$hp" \
    --Store:QuietPeriod=00:00:01 --Jobs:InferenceSlots=2 > "$work/node.log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
  until curl -sf "http://127.0.0.1:$hp/health/live" > /dev/null; do kill -0 $pid || { cat "$work/node.log"; exit 1; }; sleep 0.3; done
}

# hwm_monitor PID > FILE &: prints each rise of VmHWM by more than 4 MiB (sampled every 2 ms: 0.1 s samples miss the
# network run's last ~10 ms) with the time, RssAnon and RssFile; ends with the process. Run in the background; the
# function execs, so $! is the monitor itself.
hwm_monitor() {
  exec /usr/bin/python3 - "$1" <<'PY'
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
}
