#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running server: installs the
# packages, builds, and runs `his serve` on the embedded default (a private
# PostgreSQL cluster in ./var/pg, migrated and filled with demo data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh run
exec build/run/his/his serve "$@"
