#!/bin/sh
# make vagrant-check: checks the top-level Vagrantfile offline with
# `vagrant validate --ignore-provider` (about a second: syntax errors,
# misspelt settings). Installs Debian's vagrant package first if it is
# missing, and says so. Writes nothing into the checkout.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v vagrant >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "vagrant-check: vagrant is missing (apt-get install vagrant)" >&2
		exit 1
	fi
	echo "vagrant-check: installing vagrant with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends vagrant >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends vagrant >/dev/null; }
fi
dot=$(mktemp -d)
trap 'rm -rf "$dot"' EXIT
# No version check over the network; the machine state dir (.vagrant) goes
# to a temp dir instead of the checkout.
VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_DOTFILE_PATH=$dot VAGRANT_NO_COLOR=1 \
	vagrant validate --ignore-provider
