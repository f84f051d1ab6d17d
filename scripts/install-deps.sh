#!/usr/bin/env bash
# Installs what building, running and testing need on Debian 12: Debian
# packages through apt-get and the npm packages of package.json. Does nothing
# for what is installed already.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential autoconf automake libtool pkg-config
      libmicrohttpd-dev libpq-dev libjansson-dev libxml2-dev libssl-dev libcurl4-openssl-dev check libsubunit-dev
      postgresql postgresql-contrib postgresql-client
      clang libclang-rt-14-dev
      chromium wrk python3-hl7 xmllint)
# xmllint lives in libxml2-utils
PKGS=("${PKGS[@]/xmllint/libxml2-utils}")

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another source; install Debian's only when absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing: ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The cluster of the embedded default is started by runuser when run as root;
# Debian's postgresql package starts its own cluster, which we do not use.

if [ -f package.json ]; then
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
        npm ci --no-audit --no-fund --loglevel=error
    fi
fi
