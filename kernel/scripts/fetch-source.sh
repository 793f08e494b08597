#!/usr/bin/env bash
# Make sure Debian's linux-source-6.12 is installed at the version pinned in
# kernel/linux-source.conf and that its tarball has the pinned sha256.
# If the archive no longer has that version, fall back to the newest 6.12.y it
# has and say so loudly (the checksum cannot be checked then).
# Prints the installed version on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/linux-source.conf"

tarball=/usr/src/$LINUX_SOURCE_PACKAGE.tar.xz
sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Version}' "$LINUX_SOURCE_PACKAGE" 2>/dev/null || true; }

if [[ $(installed) != "$LINUX_SOURCE_VERSION" || ! -f $tarball ]]; then
	$sudo apt-get update -qq
	if ! $sudo apt-get install -y -qq --no-install-recommends --allow-downgrades \
		"$LINUX_SOURCE_PACKAGE=$LINUX_SOURCE_VERSION" >&2; then
		echo "fetch-source: WARNING: $LINUX_SOURCE_PACKAGE $LINUX_SOURCE_VERSION is gone from the archive;" >&2
		echo "fetch-source: WARNING: falling back to the newest $LINUX_SOURCE_PACKAGE available (unverified)." >&2
		$sudo apt-get install -y -qq --no-install-recommends "$LINUX_SOURCE_PACKAGE" >&2
	fi
fi

version=$(installed)
if [[ $version == "$LINUX_SOURCE_VERSION" ]]; then
	sum=$(sha256sum "$tarball" | cut -d' ' -f1)
	if [[ $sum != "$LINUX_SOURCE_SHA256" ]]; then
		echo "fetch-source: $tarball has sha256 $sum, expected $LINUX_SOURCE_SHA256" >&2
		exit 1
	fi
else
	echo "fetch-source: WARNING: building $version, not the pinned $LINUX_SOURCE_VERSION" >&2
fi
echo "$version"
