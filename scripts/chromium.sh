#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing: the weekly report's HTML test renders the
# report in headless Chromium. Idempotent; installs only as root, else prints the command.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x "${WEIR_CHROMIUM:-/nonexistent}" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "chromium is missing: run  sudo apt-get update && sudo apt-get install -y chromium" >&2
	exit 1
fi
echo "chromium.sh: installing chromium (Debian package)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
