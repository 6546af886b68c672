#!/bin/sh
# make demo: build a busybox image locally (no network: busybox-static and
# tar are all it takes), load it into minirun's image store, and run it.
# On a terminal you get a shell inside the container; otherwise a short
# tour prints and exits. --network none: the demo leaves the host's network
# as it is (no bridge, no nftables table, no ip_forward).
#
# The image is written as `docker save` writes one: a tar holding each
# layer as a tar, the image config (JSON) and a manifest.json naming them.
set -eu
bin=$(realpath "$1")
dir=$2
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (sudo make demo): containers need CAP_SYS_ADMIN" >&2
	exit 1
fi
image=minirun-demo/busybox:latest
mkdir -p "$dir"
dir=$(realpath "$dir")
if [ ! -f "$dir/busybox-image.tar" ]; then
	echo "demo: building the image $image in $dir/busybox-image.tar"
	work=$dir/image-build
	rm -rf "$work"
	rootfs=$work/rootfs
	mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
	chmod 1777 "$rootfs/tmp"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\n' >"$rootfs/etc/group"
	mkdir -p "$work/out/layer"
	tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$rootfs" -cf "$work/out/layer/layer.tar" .
	diffid=$(sha256sum "$work/out/layer/layer.tar" | cut -d' ' -f1)
	cat >"$work/out/config.json" <<JSON
{"architecture":"$(dpkg --print-architecture 2>/dev/null || echo amd64)","os":"linux","created":"$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/root",
  "Labels":{"org.opencontainers.image.title":"minirun demo"}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diffid"]},
 "history":[{"created_by":"test/demo.sh: busybox-static"}]}
JSON
	echo "[{\"Config\":\"config.json\",\"RepoTags\":[\"$image\"],\"Layers\":[\"layer/layer.tar\"]}]" >"$work/out/manifest.json"
	tar -C "$work/out" -cf "$dir/busybox-image.tar" manifest.json config.json layer/layer.tar
	rm -rf "$work"
fi
"$bin" load -q -i "$dir/busybox-image.tar"
"$bin" images
if [ -t 0 ] && [ -t 1 ]; then
	echo "demo: a shell in a fresh container (pid, mount, uts, ipc, net, cgroup namespaces); exit to leave"
	exec "$bin" run --rm --network none "$image" sh
fi
exec "$bin" run --rm --network none "$image" sh -c 'echo hello from $(hostname), I am pid $$ in $(pwd); echo; ps; echo; echo mounts:; cat /proc/self/mounts; echo; grep Cap /proc/self/status; echo; ls -l /proc/self/ns'
