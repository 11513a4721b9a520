#!/usr/bin/env bash
# Installs the Debian packages fleetlens's tests and demo use, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails, because tests
# never skip for a missing dependency. It never downloads anything else.
set -euo pipefail

# command-to-check:debian-package
needs=(
  "/usr/lib/postgresql:postgresql"        # managed cluster and test databases (initdb, pg_ctl)
  "psql:postgresql-client"
  "adb:adb"                               # the real adb server the Android simulator is tested against
  "idevice_id:libimobiledevice-utils"     # libimobiledevice CLI tools against the iOS simulator
  "iproxy:libusbmuxd-tools"
  "ideviceinstaller:ideviceinstaller"
  "tmux:tmux"                             # scripted end-to-end TUI session
)

missing=()
for pair in "${needs[@]}"; do
  probe=${pair%%:*}; pkg=${pair#*:}
  if [[ $probe == /* ]]; then
    compgen -G "$probe/*/bin/initdb" >/dev/null || missing+=("$pkg")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "fleetlens tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
