package doctor

import (
	"errors"
	"io/fs"
	"testing"
)

func TestCheckUserNS(t *testing.T) {
	checkFinding(t, checkUserNS(File{Data: "96365\n"}), "userns", OK, []string{"up to 96365"}, nil)
	checkFinding(t, checkUserNS(File{Data: "0\n"}), "userns", Info,
		[]string{"off", "only when a spec asks"}, []string{"sysctl -w user.max_user_namespaces="})
	checkFinding(t, checkUserNS(File{Err: fs.ErrNotExist}), "userns", Info, []string{"no user namespaces"}, nil)
	checkFinding(t, checkUserNS(File{Data: "lots\n"}), "userns", Warn, []string{`"lots"`}, nil)
	checkFinding(t, checkUserNS(File{Err: fs.ErrPermission}), "userns", Warn, []string{"cannot read"}, nil)
}

func TestCheckImages(t *testing.T) {
	alpine := ImagePlatform{Name: "docker.io/library/alpine:latest", Platform: "linux/amd64"}
	armAlpine := ImagePlatform{Name: "docker.io/arm64v8/alpine:latest", Platform: "linux/arm64/v8"}
	i386 := ImagePlatform{Name: "docker.io/i386/busybox:latest", Platform: "linux/386"}
	win := ImagePlatform{Name: "mcr.microsoft.com/windows/nanoserver:ltsc2022", Platform: "windows/amd64"}
	for _, tc := range []struct {
		name     string
		host     string
		images   []ImagePlatform
		err      error
		binfmt   []string
		status   Status
		msg, fix []string
	}{
		{name: "empty", host: "linux/amd64", status: OK, msg: []string{"no images"}},
		{name: "native", host: "linux/amd64", images: []ImagePlatform{alpine, i386}, status: OK, msg: []string{"2 images, all runnable on this linux/amd64 host"}},
		{name: "foreign", host: "linux/amd64", images: []ImagePlatform{alpine, armAlpine}, status: Warn,
			msg: []string{"this host is linux/amd64", "docker.io/arm64v8/alpine:latest (linux/arm64/v8)", "exec format error"},
			fix: []string{"apt-get install qemu-user-static", "qemu-aarch64", "minirun rmi docker.io/arm64v8/alpine:latest"}},
		{name: "foreign, emulated", host: "linux/amd64", images: []ImagePlatform{armAlpine}, binfmt: []string{"qemu-aarch64", "python3.11"}, status: Info,
			msg: []string{"through qemu-aarch64"}},
		{name: "a disabled handler is none", host: "linux/amd64", images: []ImagePlatform{armAlpine}, binfmt: []string{"qemu-arm"}, status: Warn},
		{name: "arm64 host, amd64 image", host: "linux/arm64/v8", images: []ImagePlatform{alpine}, status: Warn, fix: []string{"qemu-x86_64"}},
		{name: "another OS", host: "linux/amd64", images: []ImagePlatform{win}, status: Warn,
			msg: []string{"windows/amd64"}, fix: []string{"minirun rmi mcr.microsoft.com/windows/nanoserver:ltsc2022"}},
		{name: "unreadable store", host: "linux/amd64", err: errors.New("image docker.io/library/x:1: manifest: unexpected EOF"), status: Warn, msg: []string{"cannot list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := checkImages(tc.host, tc.images, tc.err, tc.binfmt)
			checkFinding(t, f, "images", tc.status, tc.msg, tc.fix)
		})
	}
}
