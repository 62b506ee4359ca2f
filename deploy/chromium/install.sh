#!/bin/sh
# install.sh installs Debian's chromium for the browser tests when absent
# and prints the path of its executable.
set -eu
if [ -n "${LOGMESH_CHROMIUM:-}" ] && [ -x "$LOGMESH_CHROMIUM" ]; then
	echo "$LOGMESH_CHROMIUM"
	exit 0
fi
if ! command -v chromium >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends chromium >&2
fi
command -v chromium
