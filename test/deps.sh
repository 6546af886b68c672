#!/bin/sh
# Installs what minirun's tests, demo and benchmark need, on Debian or
# Ubuntu, and says what it installs. Nothing is installed when all is there.
set -eu
need=""
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && ldd /bin/busybox 2>&1 | grep -q "not a dynamic" || need="$need busybox-static"
command -v runc >/dev/null 2>&1 || need="$need runc"
# A real registry for the pull tests; skopeo and umoci read the store back
# as an OCI layout, and are what the pull benchmark compares against.
command -v docker-registry >/dev/null 2>&1 || need="$need docker-registry"
command -v skopeo >/dev/null 2>&1 || need="$need skopeo"
command -v umoci >/dev/null 2>&1 || need="$need umoci"
# The exercises of docs/ (test/docs_test.go) read rules with nft, decode
# capability masks with capsh and fetch a published port with wget.
command -v nft >/dev/null 2>&1 || need="$need nftables"
# Podman's default seccomp profile, which the seccomp tests load.
[ -f /usr/share/containers/seccomp.json ] || need="$need golang-github-containers-common"
command -v capsh >/dev/null 2>&1 || need="$need libcap2-bin"
command -v wget >/dev/null 2>&1 || need="$need wget"
# The benchmark (./test/deps.sh bench) compares pulls with podman's.
if [ "${1:-}" = bench ]; then
	command -v podman >/dev/null 2>&1 || need="$need podman"
fi
# Go: any Go >= 1.21 fetches the toolchain go.mod asks for by itself
# (GOTOOLCHAIN=auto); older or missing ones are replaced from go.dev.
gover=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$gover" ] || [ "$gover" -lt 21 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: Go 1.21 or newer is needed (https://go.dev/dl/)" >&2
		exit 1
	fi
	arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
	echo "deps: installing Go 1.26.1 from go.dev into /usr/local/go"
	curl -fsSL "https://go.dev/dl/go1.26.1.linux-$arch.tar.gz" | tar -C /usr/local -xz
	echo "deps: add /usr/local/go/bin to your PATH"
fi
if [ -n "$need" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "deps: missing:$need (install them with your package manager)" >&2
		exit 1
	fi
	echo "deps: installing$need with apt-get"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
