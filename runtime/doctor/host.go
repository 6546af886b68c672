package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

func checkUserNS(file File) Finding {
	f := Finding{Check: "userns"}
	if errors.Is(file.Err, fs.ErrNotExist) {
		f.Status = Info
		f.Message = "the kernel has no user namespaces (no /proc/sys/user/max_user_namespaces): only a spec that asks for one (linux.namespaces type user) fails"
		return f
	}
	if file.Err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot read user.max_user_namespaces: %v", file.Err)
		return f
	}
	n, err := strconv.ParseUint(strings.TrimSpace(file.Data), 10, 64)
	switch {
	case err != nil:
		f.Status, f.Message = Warn, fmt.Sprintf("user.max_user_namespaces reads %q, not a number", strings.TrimSpace(file.Data))
	case n == 0:
		f.Status = Info
		f.Message = "user namespaces are off (user.max_user_namespaces=0): minirun needs one only when a spec asks (linux.namespaces type user), and that spec fails"
		f.Fix = "sysctl -w user.max_user_namespaces=15000"
	default:
		f.Status = OK
		f.Message = fmt.Sprintf("up to %d user namespaces: a spec that asks for one gets it", n)
	}
	return f
}

// qemuArch is the name qemu-user (and so its binfmt_misc handler,
// qemu-NAME) gives a Go/OCI architecture.
var qemuArch = map[string]string{
	"amd64": "x86_64", "386": "i386", "arm64": "aarch64", "arm": "arm",
	"ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
	"mips64le": "mips64el", "loong64": "loongarch64",
}

// nativeToo are architectures a host of the key runs without emulation:
// x86-64 kernels run 32-bit x86 programs (IA32 emulation, on in every
// distribution kernel).
var nativeToo = map[string][]string{"amd64": {"386"}}

func checkImages(host string, images []ImagePlatform, err error, binfmt []string) Finding {
	f := Finding{Check: "images"}
	if err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot list the store's images: %v", err)
		return f
	}
	if len(images) == 0 {
		f.Status, f.Message = OK, "no images in the store yet"
		return f
	}
	hostOS, hostArch, _ := strings.Cut(host, "/")
	hostArch, _, _ = strings.Cut(hostArch, "/")
	var emulated, broken, handlers, names []string
	for _, im := range images {
		parts := strings.Split(im.Platform, "/")
		osName, arch := parts[0], ""
		if len(parts) > 1 {
			arch = parts[1]
		}
		switch {
		case osName == hostOS && (arch == hostArch || slices.Contains(nativeToo[hostArch], arch)):
			continue
		case osName != hostOS:
			broken = append(broken, fmt.Sprintf("%s (%s)", im.Name, im.Platform))
			names = append(names, im.Name)
		case qemuArch[arch] != "" && slices.Contains(binfmt, "qemu-"+qemuArch[arch]):
			emulated = append(emulated, fmt.Sprintf("%s (%s, through qemu-%s)", im.Name, im.Platform, qemuArch[arch]))
		default:
			broken = append(broken, fmt.Sprintf("%s (%s)", im.Name, im.Platform))
			names = append(names, im.Name)
			if q := qemuArch[arch]; q != "" && !slices.Contains(handlers, "qemu-"+q) {
				handlers = append(handlers, "qemu-"+q)
			}
		}
	}
	switch {
	case len(broken) > 0:
		f.Status = Warn
		f.Message = fmt.Sprintf("this host is %s, and no binfmt_misc handler runs %s: their programs fail with \"exec format error\"", host, strings.Join(broken, ", "))
		fix := fmt.Sprintf("minirun rmi %s, then pull again (minirun pulls this host's platform)", strings.Join(names, " "))
		if len(handlers) > 0 {
			fix = fmt.Sprintf("apt-get install qemu-user-static (it registers %s with binfmt_misc); or %s", strings.Join(handlers, ", "), fix)
		}
		f.Fix = fix
	case len(emulated) > 0:
		f.Status = Info
		f.Message = fmt.Sprintf("this host is %s; %s run emulated, slowly", host, strings.Join(emulated, ", "))
	default:
		f.Status = OK
		f.Message = fmt.Sprintf("%d images, all runnable on this %s host", len(images), host)
	}
	return f
}
