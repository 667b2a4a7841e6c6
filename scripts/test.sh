#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the real peers the interop tests talk to
# (only what is missing), then runs every test project. Used by README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fonts-dejavu-core dcmtk dicom3tools python3-pydicom python3-numpy python3-nibabel python3-pil libopenjp2-7 libcharls2 libgdcm-tools openjph-tools orthanc orthanc-dicomweb stunnel4 postgresql curl openssl chromium strace)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another source (e.g. nodesource, which bundles npm): only install Debian's when there is none.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "Installing missing packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# python3-pil lets pydicom decode JPEG 2000 (the codec layout tests compare with it).
# chromium: the OHIF browser test (OhifBrowserTests) drives it headless with puppeteer-core.
# Debian starts Orthanc and PostgreSQL as system services on install; tests start their own on loopback ports.

# The OHIF browser test's pinned npm packages (puppeteer-core from its package-lock, OHIF's built viewer checked
# against its pinned integrity) into its git-ignored node_modules; a no-op when already there.
tests/MedAiNode.Worker.Tests/browser/install.sh

export TCP_NODELAY=1
export MEDAINODE_SHARED_DATA="${MEDAINODE_SHARED_DATA:-$(cd .. && pwd)/shared/data}"

dotnet build MedAiNode.sln -c Release -v q -nologo
log="$(mktemp)"
# Every test stops what it starts (`await using`), but a test host that is killed (Ctrl-C, a CI cancel, the OOM
# killer) cannot: its Orthanc, PostgreSQL or `medainode serve` would run on. So the tests run in a process group of
# their own (job control on), and whatever is still in that group when `dotnet test` ends, or when this script is
# interrupted, is named and stopped here. MSBuild's reusable nodes would stay in the group by design: not reused here.
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_DO_NOT_USE_MSBUILD_SERVER=1
# The group's live members (pid, command); zombies are left out: they hold nothing and their parent reaps them.
members() { ps -e -o pid=,pgid=,stat=,args= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { $2 = $3 = ""; print }' | cut -c1-160; }
stop_group() { # $1: the group's id; TERM, then KILL whatever has not ended within 15 s
  local left; left="$(members "$1")"
  [ -z "$left" ] && return 0
  echo "scripts/test.sh: stopping processes left in the test run's process group:"; echo "$left"
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 150); do [ -z "$(members "$1")" ] && return 0; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
}
set -m
dotnet test MedAiNode.sln -c Release --no-build -nologo --logger "console;verbosity=normal" "$@" </dev/null >"$log" 2>&1 &
group=$!
set +m
tail -n +1 -f --pid="$group" "$log" & # the output as it comes; ends once the tests have and the log is read out
trap 'stop_group "$group"; rm -f "$log"; exit 130' INT TERM HUP
set +e
wait "$group"
rc=$?
wait $!
set -e
trap - INT TERM HUP
stop_group "$group"
# CI keeps only the tail of the output: repeat each failed test's name, message and the top of its stack at the end.
awk '/^  Failed [A-Za-z_]/{n=40; print "----"} n>0 && t<400{print; n--; t++}' "$log"
# One closing line over all test projects.
awk '/^ *Passed: /{p+=$2} /^ *Failed: /{f+=$2} /^ *Skipped: /{s+=$2} END{printf "%d passed, %d failed, %d skipped\n", p, f, s}' "$log"
rm -f "$log"
exit "$rc"
