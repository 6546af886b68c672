#!/usr/bin/env bash
# make vm-test: runs every package's tests as root inside a throwaway VM
# with pure cgroup v2 (Debian's cloud kernel under qemu, a busybox
# initramfs), streams their output and exits with the suite's status.
# test/vm/README.md explains the pieces; ../../../shared/vm-notes.md has the
# facts they rest on.
#
# Environment:
#   MINIRUN_VM_CACHE    cache dir outside the repo (default /var/tmp/minirun-vm):
#                       kernel .deb, vmlinuz + modules, base initramfs, the
#                       tools cpio (GUEST_TOOLS with their libraries), and
#                       last/ with the logs of the latest run
#   MINIRUN_VM_RUNTIME  a prebuilt static minirun (default: built here)
#   MINIRUN_VM_PKGS     packages to test (default ./...: all with tests)
#   MINIRUN_VM_RUN      -test.run pattern for every package
#   MINIRUN_VM_TESTFLAGS  more flags for every test binary (-test.count=20 ...)
#   MINIRUN_VM_VERBOSE  1: full -test.v output (default: passing tests hidden;
#                       the full log is kept in last/verbose.log either way)
#   MINIRUN_VM_TIMEOUT  seconds before qemu is killed (default 1800)
#   MINIRUN_VM_PKG_TIMEOUT  -test.timeout of each package (default 900s: the test/ suite takes some 8 minutes under emulation)
#   MINIRUN_VM_KVM      1: add -enable-kvm (real hosts; nested KVM hangs on
#                       some, which is why TCG is the default)
#   MINIRUN_VM_MEM, MINIRUN_VM_CPUS  guest size (default 2048 MiB, 2)
#   MINIRUN_VM_REQUIRED 1: fail rather than skip where no Debian cloud kernel
#                       can be had (skipped only on hosts that are pure
#                       cgroup v2 themselves, like an Ubuntu Vagrant box)
#   MINIRUN_VM_VALIDATION  1: after the tests, run the OCI runtime-tools
#                       validation programs in the guest against the same
#                       minirun (test/vm/run-validation.sh); "only": those
#                       programs and no Go tests. Off by default.
#   MINIRUN_VM_VALIDATION_PROGS  program names (default: the cgroup ones,
#                       linux_cgroups_* delete_resources
#                       delete_only_create_resources, and linux_seccomp;
#                       "all": every program;
#                       all 58 need MINIRUN_VM_MEM=4096 or so)
#   MINIRUN_VM_VALIDATION_TIMEOUT  seconds per program (default 120)
#   RTT_CACHE           the built suite (default $MINIRUN_VM_CACHE/rtt; built
#                       there by test/conformance/run-validation.sh
#                       --build-only when incomplete)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
VMDIR=$REPO/test/vm
CACHE=${MINIRUN_VM_CACHE:-/var/tmp/minirun-vm}
TIMEOUT=${MINIRUN_VM_TIMEOUT:-1800}
export PATH=$PATH:/usr/local/go/bin
export CGO_ENABLED=0
# The Makefile's build flags (urfave_cli_no_docs drops the man-page generator).
GOTAGS=(-trimpath -tags urfave_cli_no_docs)

# Modules the tests need, loaded at boot; their dependencies come from each
# module's depends= field. virtio_pci + virtio_blk are for the scratch disk.
MODULES="overlay veth bridge nf_tables nfnetlink nft_chain_nat nft_nat nft_masq nf_nat nf_conntrack nft_ct nft_fib nft_fib_ipv4 dummy virtio_pci virtio_blk"
# Programs the tests run in the guest besides busybox's: the image tests
# start docker-registry on 127.0.0.1 and read the store back with skopeo
# (inspect, copy --insecure-policy) and umoci (raw unpack); the exercises of
# docs/ (TestDocs) run in bash with util-linux's, iproute2's, nftables',
# libcap's and coreutils' tools, whose options busybox lacks (ip -br, stat
# -f naming cgroup2fs). Debian's, so dynamically linked: add_with_libs
# copies them with their libraries.
GUEST_TOOLS="docker-registry skopeo umoci bash lsns nsenter findmnt unshare ip nft capsh stat"
CMDLINE="console=ttyS0 panic=-1 cgroup_no_v1=all 8250.nr_uarts=4 random.trust_cpu=on cryptomgr.notests quiet"

log() { echo "vm-test: $*" >&2; }
die() {
	log "$*"
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T_START=$(now)

# --- what the host needs -----------------------------------------------------

is_static() {
	local out
	out=$(LC_ALL=C ldd "$1" 2>&1 || true)
	[[ $out == *"not a dynamic"* ]]
}
static_busybox() {
	[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && is_static /bin/busybox
}

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
static_busybox || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
# The programs the tests run (GUEST_TOOLS above), by Debian package.
for t in $GUEST_TOOLS; do
	case $t in
	lsns | nsenter | findmnt | unshare) pkg=util-linux ;;
	ip) pkg=iproute2 ;;
	nft) pkg=nftables ;;
	capsh) pkg=libcap2-bin ;;
	stat) pkg=coreutils ;;
	*) pkg=$t ;;
	esac
	command -v "$t" >/dev/null || need+=("$pkg")
done
command -v go >/dev/null || die "Go is needed (make deps installs it)"
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		die "missing: ${need[*]} (install them with your package manager)"
	fi
	log "installing ${need[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -n 9 || {
	log "waiting for another vm-test using $CACHE"
	flock 9
}

# --- kernel: Debian's cloud kernel, vmlinuz + the modules we load -------------

resolve_kernel() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}
KPKG=$(resolve_kernel)
osid=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
if [ -z "$KPKG" ] && [ "$(id -u)" = 0 ] && [ "$osid" = debian ]; then
	log "apt-get update (the package lists do not name a cloud kernel)"
	apt-get update -qq || true
	KPKG=$(resolve_kernel)
fi
if [ -z "$KPKG" ]; then # offline: the newest kernel already in the cache
	KPKG=$(cd "$CACHE" && ls -d kernel-*/ 2>/dev/null | sed 's,^kernel-,linux-image-,; s,/$,,' | sort -V | tail -n 1)
	if [ -z "$KPKG" ]; then
		# Not Debian (an Ubuntu Vagrant box): no cloud kernel to boot. A
		# host that is pure cgroup v2 already ran the suite on v2.
		if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] && [ "${MINIRUN_VM_REQUIRED:-0}" != 1 ]; then
			log "skipped: apt knows no linux-image-cloud-amd64 (Debian's) and nothing is cached;" \
				"this host is pure cgroup v2, so the host tests ran there (MINIRUN_VM_REQUIRED=1 fails instead)"
			exit 0
		fi
		die "cannot resolve linux-image-cloud-amd64 (apt-cache depends) and nothing is cached"
	fi
	log "using cached $KPKG"
fi
KVER=${KPKG#linux-image-}
KDIR=$CACHE/kernel-$KVER
MODHASH=$(echo "$MODULES" | sha256sum | cut -c1-12)
MODROOT=$KDIR/modules-$MODHASH # a root with lib/modules/$KVER

# add_module NAME: stage NAME and what it depends on, decompressed.
declare -A MOD_SEEN MOD_PATH
add_module() {
	local m=${1//-/_} f out dep
	[ -n "${MOD_SEEN[$m]:-}" ] && return 0
	MOD_SEEN[$m]=1
	f=${MOD_PATH[$m]:-}
	if [ -z "$f" ]; then
		grep -qE "/${m//_/[-_]}\.ko$" "$X/lib/modules/$KVER/modules.builtin" && return 0
		die "module $m is neither in $KPKG nor built in"
	fi
	out=$MODSTAGE/lib/modules/$KVER/${f%.xz}
	out=${out%.zst}
	mkdir -p "$(dirname "$out")"
	case $f in
	*.xz) xz -dc "$X/lib/modules/$KVER/$f" >"$out" ;;
	*.zst) zstd -qdc "$X/lib/modules/$KVER/$f" >"$out" ;;
	*) cp "$X/lib/modules/$KVER/$f" "$out" ;;
	esac
	for dep in $(tr '\0' '\n' <"$out" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$dep"
	done
}

if [ ! -f "$KDIR/vmlinuz" ] || [ ! -f "$MODROOT/.done" ]; then
	deb=$(ls "$CACHE/${KPKG}"_*.deb 2>/dev/null | tail -n 1 || true)
	if [ -z "$deb" ]; then
		log "downloading $KPKG (apt-get download) into $CACHE"
		(cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$KPKG" >/dev/null) ||
			die "apt-get download $KPKG failed"
		deb=$(ls "$CACHE/${KPKG}"_*.deb | tail -n 1)
	fi
	X=$(mktemp -d "$CACHE/extract.XXXXXX")
	trap 'rm -rf "$X"' EXIT
	dpkg-deb -x "$deb" "$X"
	mkdir -p "$KDIR"
	cp "$X/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"
	MODSTAGE=$MODROOT.tmp
	rm -rf "$MODSTAGE" "$MODROOT"
	mkdir -p "$MODSTAGE/lib/modules/$KVER"
	while read -r f; do
		b=${f##*/}
		b=${b%.xz}
		b=${b%.zst}
		b=${b%.ko}
		MOD_PATH[${b//-/_}]=$f
	done < <(cd "$X/lib/modules/$KVER" && find kernel -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')
	if find "$X/lib/modules/$KVER/kernel" -name '*.ko.xz' | grep -q . && ! command -v xz >/dev/null; then
		die "the modules are xz-compressed: install xz-utils"
	fi
	if find "$X/lib/modules/$KVER/kernel" -name '*.ko.zst' | grep -q . && ! command -v zstd >/dev/null; then
		die "the modules are zstd-compressed: install zstd"
	fi
	for m in $MODULES; do add_module "$m"; done
	cp "$X/lib/modules/$KVER/modules.builtin" "$X/lib/modules/$KVER/modules.order" "$MODSTAGE/lib/modules/$KVER/"
	busybox depmod -b "$MODSTAGE" "$KVER"
	touch "$MODSTAGE/.done"
	mv "$MODSTAGE" "$MODROOT"
	rm -rf "$X"
	trap - EXIT
	log "kernel $KVER staged with $(find "$MODROOT" -name '*.ko' | wc -l) modules"
	# Older kernels and their initramfs are of no further use.
	for old in "$CACHE"/kernel-* "$CACHE"/linux-image-*.deb "$CACHE"/base-*.cpio; do
		case $old in *"$KVER"*) ;; *) rm -rf "$old" ;; esac
	done
	find "$KDIR" -maxdepth 1 -name 'modules-*' ! -name "modules-$MODHASH" -exec rm -rf {} +
fi

# --- base initramfs: busybox, modules, /init (cached) ---------------------------

BBHASH=$(sha256sum /bin/busybox | cut -c1-12)
INITHASH=$(sha256sum <"$VMDIR/init" | cut -c1-12)
BASE=$CACHE/base-$KVER-$MODHASH-$BBHASH-$INITHASH.cpio
if [ ! -f "$BASE" ]; then
	S=$(mktemp -d "$CACHE/base.XXXXXX")
	trap 'rm -rf "$S"' EXIT
	mkdir -p "$S"/{bin,sbin,usr/bin,usr/sbin,etc,lib,proc,sys,dev,tmp,run,root,scratch}
	cp /bin/busybox "$S/bin/busybox"
	# Every applet, as links at busybox's own paths (sbin/modprobe among
	# them: the kernel's module autoload runs it).
	/bin/busybox --list-full | while read -r p; do
		[ "$p" = bin/busybox ] || ln -sf /bin/busybox "$S/$p"
	done
	cp -a "$MODROOT/lib/modules" "$S/lib/"
	echo "$MODULES" >"$S/etc/vm-modules"
	install -m 0755 "$VMDIR/init" "$S/init"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$S/etc/passwd"
	printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$S/etc/group"
	printf '127.0.0.1 localhost minirun-vm\n::1 localhost\n' >"$S/etc/hosts"
	echo minirun-vm >"$S/etc/hostname"
	(cd "$S" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$BASE.tmp"
	mv "$BASE.tmp" "$BASE"
	rm -rf "$S"
	trap - EXIT
	find "$CACHE" -maxdepth 1 -name 'base-*.cpio' ! -name "${BASE##*/}" -delete
	log "base initramfs $(du -h "$BASE" | cut -f1) in $BASE"
fi

# --- tools: host programs with their shared libraries (cached) ----------------------

VALIDATION=${MINIRUN_VM_VALIDATION:-0}
case $VALIDATION in 0 | 1 | only) ;; *) die "MINIRUN_VM_VALIDATION must be 0, 1 or only" ;; esac

# libs_of BIN: the shared libraries ldd lists for BIN and its dynamic
# loader, one path a line (nothing for a static BIN).
libs_of() {
	local out
	is_static "$1" && return 0
	out=$(LC_ALL=C ldd "$1") || die "ldd $1 failed"
	case $out in *"not found"*) die "$1: a shared library is missing: $(echo "$out" | grep 'not found' | tr -s ' \t' ' ')" ;; esac
	echo "$out" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

# add_with_libs STAGE PROG: PROG (a name on PATH) at the path it has here,
# with every library libs_of lists at its path too (symlinks copied as the
# files they name), so that it runs on the busybox guest as it does here.
# The guest has no ld.so.cache: the loader then searches its default
# directories, /lib/x86_64-linux-gnu among them, where ldd finds Debian's.
add_with_libs() {
	local stage=$1 bin libs f
	bin=$(command -v "$2") || die "$2 is not installed"
	libs=$(libs_of "$bin") # an assignment, so that a die in it stops the script
	for f in "$bin" $libs; do
		[ -e "$stage$f" ] || install -D -m 0755 "$(readlink -f "$f")" "$stage$f"
	done
}

# GUEST_TOOLS go in a cpio of their own between the base and the payload:
# about 46 MiB that change only with their packages, so it is built once per
# version of the programs and their libraries (the key is their paths, sizes
# and mtimes), not on every run; it adds about 0.7 s to the boot (unpacked,
# then copied by init). Skipped with MINIRUN_VM_VALIDATION=only. They need
# nothing else in the guest: docker-registry gets its whole configuration
# from the test and serves plain HTTP on 127.0.0.1 (init brings lo up);
# skopeo runs without /etc/containers (the tests pass --insecure-policy, and
# registries.conf, registries.d and auth files are read only where present)
# and keeps its blob-info cache in /var/lib/containers/cache, on the guest's
# writable tmpfs root (it would fall back to memory without it).
TOOLS_CPIO=""
if [ "$VALIDATION" != only ]; then
	toolfiles=()
	for t in $GUEST_TOOLS; do
		b=$(command -v "$t") || die "$t is not installed"
		libs=$(libs_of "$b")
		# shellcheck disable=SC2206 # paths without blanks, one a word
		toolfiles+=("$b" $libs)
	done
	TOOLSHASH=$(stat -L -c '%n %s %Y' "${toolfiles[@]}" | sha256sum | cut -c1-12)
	TOOLS_CPIO=$CACHE/tools-$TOOLSHASH.cpio
	if [ ! -f "$TOOLS_CPIO" ]; then
		S=$(mktemp -d "$CACHE/tools.XXXXXX")
		trap 'rm -rf "$S"' EXIT
		for t in $GUEST_TOOLS; do add_with_libs "$S" "$t"; done
		(cd "$S" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$TOOLS_CPIO.tmp"
		mv "$TOOLS_CPIO.tmp" "$TOOLS_CPIO"
		rm -rf "$S"
		trap - EXIT
		find "$CACHE" -maxdepth 1 -name 'tools-*.cpio' ! -name "${TOOLS_CPIO##*/}" -delete
		log "tools ($GUEST_TOOLS with their libraries) $(du -h "$TOOLS_CPIO" | cut -f1) in $TOOLS_CPIO"
	fi
fi

# --- payload: minirun, probe, test binaries (per run) ------------------------------

W=$CACHE/last
rm -rf "$W"
mkdir -p "$W"
P=$W/payload-root
mkdir -p "$P/payload/src"
T_BUILD=$(now)
cd "$REPO"
if [ -n "${MINIRUN_VM_RUNTIME:-}" ]; then
	cp "$MINIRUN_VM_RUNTIME" "$P/payload/minirun"
else
	version=$(git describe --always --dirty 2>/dev/null || echo dev)
	go build "${GOTAGS[@]}" -ldflags "-s -w -X main.version=$version" -o "$P/payload/minirun" ./cmd/minirun
fi
go build "${GOTAGS[@]}" -o "$P/payload/probe" ./test/probe
for b in minirun probe; do
	is_static "$P/payload/$b" || die "$b is not static"
done
# Every package with tests: rootfs, runtime and test need root on a real
# kernel; the pure ones cost little and prove the binaries work there.
failed=()
: >"$P/payload/packages"
# shellcheck disable=SC2086
while read -r pkg dir; do
	[ -n "$pkg" ] || continue
	rel=${dir#"$REPO"}
	rel=${rel#/}
	rel=${rel:-.}
	bin=$(echo "$rel" | tr '/.' '_-').test
	[ "$rel" = . ] && bin=root.test
	mkdir -p "$P/payload/src/$rel"
	if ! go test -c "${GOTAGS[@]}" -o "$P/payload/src/$rel/$bin" "$pkg"; then
		failed+=("$pkg")
		continue
	fi
	[ -d "$dir/testdata" ] && cp -a "$dir/testdata" "$P/payload/src/$rel/"
	echo "$pkg $rel $bin" >>"$P/payload/packages"
done < <([ "$VALIDATION" = only ] || go list -e -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' ${MINIRUN_VM_PKGS:-./...})
[ ${#failed[@]} -eq 0 ] || die "cannot build the tests of ${failed[*]}"
# TestDocs runs the exercises of the pages in docs/, from ../docs.
mkdir -p "$P/payload/src/docs" && cp "$REPO"/docs/*.md "$P/payload/src/docs/"
[ -s "$P/payload/packages" ] || [ "$VALIDATION" = only ] || die "no packages with tests in ${MINIRUN_VM_PKGS:-./...}"
if [ "$VALIDATION" != 0 ]; then
	# The OCI runtime-tools validation programs, runtimetest and the rootfs
	# tarball, from the suite cache (built when incomplete).
	RTT=${RTT_CACHE:-$CACHE/rtt}
	if [ ! -x "$RTT/runtimetest" ] || [ ! -f "$RTT/rootfs-amd64.tar.gz" ] ||
		[ "$(ls "$RTT"/*.t 2>/dev/null | wc -l)" -lt 58 ]; then
		log "building the runtime-tools validation suite into $RTT"
		RTT_CACHE=$RTT "$REPO/test/conformance/run-validation.sh" --build-only ||
			die "cannot build the runtime-tools suite"
	fi
	progs=${MINIRUN_VM_VALIDATION_PROGS:-}
	if [ -z "$progs" ]; then
		progs=$(cd "$RTT" && ls linux_cgroups_*.t delete_resources.t delete_only_create_resources.t linux_seccomp.t | sed 's/\.t$//' | tr '\n' ' ')
	elif [ "$progs" = all ]; then
		progs=$(cd "$RTT" && ls ./*.t | sed 's,^\./,,; s/\.t$//' | tr '\n' ' ')
	fi
	mkdir -p "$P/payload/validation"
	for p in $progs; do
		[ -x "$RTT/$p.t" ] || die "no validation program $p in $RTT"
		cp "$RTT/$p.t" "$P/payload/validation/"
	done
	cp "$RTT/runtimetest" "$RTT/rootfs-amd64.tar.gz" "$P/payload/validation/"
	install -m 0755 "$VMDIR/run-validation.sh" "$P/payload/validation/run.sh"
	{
		echo "VALIDATION_PROGS=$(printf "'%s'" "${progs% }")"
		echo "VALIDATION_TIMEOUT=$(printf "'%s'" "${MINIRUN_VM_VALIDATION_TIMEOUT:-120}")"
	} >"$P/payload/validation/env"
	log "validation programs: ${progs% }"
fi
install -m 0755 "$VMDIR/run-tests.sh" "$P/payload/run-tests.sh"
cp "$VMDIR/compact.awk" "$P/payload/compact.awk"
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
	echo "MINIRUN_VM_RUN=$(shq "${MINIRUN_VM_RUN:-}")"
	echo "MINIRUN_VM_TESTFLAGS=$(shq "${MINIRUN_VM_TESTFLAGS:-}")"
	echo "MINIRUN_VM_VERBOSE=$(shq "${MINIRUN_VM_VERBOSE:-0}")"
	echo "MINIRUN_VM_PKG_TIMEOUT=$(shq "${MINIRUN_VM_PKG_TIMEOUT:-900s}")"
} >"$P/payload/env"
(cd "$P" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$W/payload.cpio"
# The kernel unpacks concatenated archives in turn: base, tools, payload.
cat "$BASE" ${TOOLS_CPIO:+"$TOOLS_CPIO"} "$W/payload.cpio" >"$W/initrd.cpio"
rm "$W/payload.cpio"
pkgs=$(cut -d' ' -f1 "$P/payload/packages" | tr '\n' ' ')
rm -rf "$P"
# A fresh ext4 disk: a real block device for io.max, overlay on ext4.
truncate -s 64M "$W/scratch.img"
mkfs.ext4 -q -F "$W/scratch.img"
log "built minirun, probe and the tests of ${pkgs% } in $(since "$T_BUILD")s; initramfs $(du -h "$W/initrd.cpio" | cut -f1)"

# --- the VM ----------------------------------------------------------------------------

# shellcheck disable=SC2054 # commas belong to qemu options
qemu=(qemu-system-x86_64 -M pc -cpu max -m "${MINIRUN_VM_MEM:-2048}" -smp "${MINIRUN_VM_CPUS:-2}"
	-nodefaults -display none -no-reboot -nic none
	-kernel "$KDIR/vmlinuz" -initrd "$W/initrd.cpio" -append "$CMDLINE"
	-chardev "file,id=console,path=$W/console.log" -serial chardev:console
	-chardev "file,id=out,path=$W/out.log" -serial chardev:out
	-chardev "file,id=exit,path=$W/exit.log" -serial chardev:exit
	-chardev "file,id=full,path=$W/verbose.log" -serial chardev:full
	-drive "file=$W/scratch.img,format=raw,if=none,id=scratch,cache=unsafe"
	-device virtio-blk-pci,drive=scratch)
if [ "${MINIRUN_VM_KVM:-0}" = 1 ]; then
	accel=KVM
	qemu+=(-enable-kvm)
else
	accel=TCG
	qemu+=(-accel "tcg,thread=multi")
fi

: >"$W/out.log"
log "booting $KVER ($accel; timeout ${TIMEOUT}s; logs in $W)"
T_VM=$(now)
"${qemu[@]}" </dev/null >"$W/qemu.log" 2>&1 &
QPID=$!
tail -n +1 -s 0.2 -f --pid="$QPID" "$W/out.log" &
TPID=$!
cleanup() {
	kill "$QPID" 2>/dev/null || true
	kill "$TPID" 2>/dev/null || true
}
trap 'cleanup; exit 130' INT TERM

timed_out=0
first_out=""
while kill -0 "$QPID" 2>/dev/null; do
	if [ -z "$first_out" ] && [ -s "$W/out.log" ]; then
		first_out=$(since "$T_VM")
	fi
	if awk -v a="$T_VM" -v b="$(now)" -v t="$TIMEOUT" 'BEGIN { exit !(b - a >= t) }'; then
		timed_out=1
		log "the VM ran past ${TIMEOUT}s: killing qemu (pid $QPID)"
		kill "$QPID" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$QPID" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$QPID" 2>/dev/null || true
		break
	fi
	sleep 0.2
done
qrc=0
wait "$QPID" || qrc=$?
wait "$TPID" 2>/dev/null || true
trap - INT TERM
vm_secs=$(since "$T_VM")

code=$(sed -n 's/^EXIT \([0-9][0-9]*\).*/\1/p' "$W/exit.log" 2>/dev/null | tail -n 1)
if [ -z "$code" ]; then
	if [ "$timed_out" = 1 ]; then
		log "FAIL: the VM hung (no result after ${TIMEOUT}s)"
	else
		log "FAIL: the VM ended without an exit marker (qemu exit status $qrc)"
	fi
	[ -s "$W/qemu.log" ] && { log "qemu said:"; tail -n 20 "$W/qemu.log" >&2; }
	log "last 40 lines of the console ($W/console.log):"
	tail -n 40 "$W/console.log" | tr -d '\r' >&2
	code=1
fi
log "times: boot to first output ${first_out:-?}s, VM ${vm_secs}s, total $(since "$T_START")s (exit $code)"
exit "$code"
