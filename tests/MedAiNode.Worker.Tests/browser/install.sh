#!/usr/bin/env bash
# Installs what OhifBrowserTests needs, pinned, into node_modules/ (git-ignored), only when missing:
#  - puppeteer-core from package-lock.json (npm ci);
#  - OHIF's built viewer, the dist/ of @ohif/app@3.13.2. That package cannot be installed as a dependency
#    (it depends on @ohif/i18n@3.13.2, which was never published), so its tarball is fetched with `npm pack`
#    and checked against the integrity pinned below before its dist/ is unpacked.
set -euo pipefail
cd "$(dirname "$0")"
OHIF_VERSION=3.13.2
OHIF_INTEGRITY='sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=='
if [ ! -f node_modules/puppeteer-core/package.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund
fi
dest="node_modules/.ohif-app-$OHIF_VERSION"
if [ ! -f "$dest/dist/index.html" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  npm pack "@ohif/app@$OHIF_VERSION" --pack-destination "$tmp" --silent >/dev/null
  tgz="$tmp/ohif-app-$OHIF_VERSION.tgz"
  actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$actual" != "$OHIF_INTEGRITY" ]; then
    echo "@ohif/app@$OHIF_VERSION tarball integrity $actual, expected $OHIF_INTEGRITY" >&2
    exit 1
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tgz" -C "$tmp/x" package/dist
  rm -rf "$dest"
  mkdir -p "$dest"
  mv "$tmp/x/package/dist" "$dest/dist"
fi
