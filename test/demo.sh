#!/bin/sh
# make demo: build a busybox root filesystem (no network needed), write a
# bundle for it with `minirun spec`, and run it. On a terminal you get a
# shell inside the container; otherwise a short tour prints and exits.
set -eu
bin=$(realpath "$1")
dir=$2
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (sudo make demo): containers need CAP_SYS_ADMIN" >&2
	exit 1
fi
rootfs=$dir/rootfs
if [ ! -x "$rootfs/bin/busybox" ]; then
	echo "demo: building a busybox root filesystem in $rootfs"
	mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
	echo "root:x:0:" >"$rootfs/etc/group"
fi
rm -f "$dir/config.json"
"$bin" spec --bundle "$dir"
if [ -t 0 ] && [ -t 1 ]; then
	echo "demo: a shell in a fresh container (pid, mount, uts, ipc, net, cgroup namespaces); exit to leave"
	args='["sh"]'
	tty=true
else
	args='["sh", "-c", "echo hello from $(hostname), I am pid $$; echo; ps; echo; echo mounts:; cat /proc/self/mounts; echo; grep Cap /proc/self/status; echo; ls -l /proc/self/ns"]'
	tty=false
fi
# Edit the generated config with sed to keep the demo free of extra tools.
sed -i "s|\"terminal\": true|\"terminal\": $tty|; s|^\(\t*\)\"args\": \[\$|\1\"args\": $args, \"_args\": [|" "$dir/config.json"
exec "$bin" run --bundle "$dir" "demo-$$"
