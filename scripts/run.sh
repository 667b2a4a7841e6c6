#!/usr/bin/env bash
# Runs the service on its embedded defaults (in-memory job storage, local folder store, default model).
# Installs the native codec libraries it loads when they are missing. Extra arguments are configuration
# overrides in the usual .NET form, e.g. scripts/run.sh --Http:Urls=http://127.0.0.1:9090
set -euo pipefail
cd "$(dirname "$0")/.."
# fonts-dejavu-core: the text of the AI summary images (Skia without fontconfig finds DejaVu Sans by path).
RUNTIME_PACKAGES=(libopenjp2-7 libcharls2 fonts-dejavu-core)
missing=()
for p in "${RUNTIME_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
exec dotnet run -c Release --project src/MedAiNode.Worker -- serve "$@"
