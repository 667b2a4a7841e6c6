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
set +e
dotnet test MedAiNode.sln -c Release --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# CI keeps only the tail of the output: repeat each failed test's name, message and the top of its stack at the end.
awk '/^  Failed [A-Za-z_]/{n=40; print "----"} n>0 && t<400{print; n--; t++}' "$log"
# One closing line over all test projects.
awk '/^ *Passed: /{p+=$2} /^ *Failed: /{f+=$2} /^ *Skipped: /{s+=$2} END{printf "%d passed, %d failed, %d skipped\n", p, f, s}' "$log"
rm -f "$log"
exit "$rc"
