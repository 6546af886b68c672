package rootfs

import (
	"fmt"
	"strings"

	"github.com/minirun/minirun/internal/explain"
)

const (
	manMount    = "mount(2), mount_namespaces(7)"
	manOverlay  = "Documentation/filesystems/overlayfs.rst, mount(2)"
	manMknod    = "mknod(2), Documentation/admin-guide/devices.txt"
	manMask     = "open_tree(2), move_mount(2)"
	manPivot    = "pivot_root(2), mount_namespaces(7)"
	manUmount   = "umount2(2)"
	manChroot   = "chroot(2)"
	manPropagat = "mount_namespaces(7) (shared subtrees)"
)

// mountStep explains one mount(2) as made: target is the path in the
// container, the one /proc/self/mountinfo will show. keep says the
// remount added the mount's current flags (statfs(2)) to flags.
func mountStep(source, target, fstype string, flags uintptr, data string, keep bool) explain.Step {
	text := fmt.Sprintf("mount(%q, %q, %q, %s, %q)", source, target, fstype, flagString(flags), data)
	if keep {
		text += " + the flags it has (statfs(2))"
	}
	return explain.Step{
		Phase: explain.PhaseRootfs,
		Text:  text,
		Man:   manMount,
		Fields: map[string]any{
			"op": "mount", "source": source, "target": target, "fstype": fstype,
			"flags": flagString(flags), "data": data, "keep": keep,
		},
	}
}

// overlayStep explains the overlay mount of o on the container's /.
func overlayStep(o *Overlay) explain.Step {
	lower := strings.Join(o.Lower, ":")
	text := fmt.Sprintf("mount overlay on / (%d layers): lowerdir=%s", len(o.Lower), lower)
	if o.Upper != "" {
		text += fmt.Sprintf(",upperdir=%s,workdir=%s", o.Upper, o.Work)
	}
	return explain.Step{
		Phase: explain.PhaseRootfs,
		Text:  text,
		Man:   manOverlay,
		Fields: map[string]any{
			"op": "mount", "source": "overlay", "target": "/", "fstype": "overlay",
			"flags": "0", "lowerdir": o.Lower, "upperdir": o.Upper, "workdir": o.Work,
		},
	}
}

// deviceStep explains one node made in the container's /dev; bound says
// the host's node was bound onto it instead (a nodev mount, or no
// CAP_MKNOD).
func deviceStep(d device, bound bool) explain.Step {
	st := explain.Step{
		Phase: explain.PhaseRootfs,
		Text:  fmt.Sprintf("mknod(%q, %s, %d:%d), chown %d:%d", d.path, modeString(d.mode), d.major, d.minor, d.uid, d.gid),
		Man:   manMknod,
		Fields: map[string]any{
			"op": "mknod", "path": d.path, "major": d.major, "minor": d.minor,
		},
	}
	if bound {
		st.Text = fmt.Sprintf("mount(%q, %q, \"\", MS_BIND, \"\"): the host's node, as mknod cannot serve here", d.path, d.path)
		st.Man = manMount
		st.Fields = map[string]any{"op": "mount", "source": d.path, "target": d.path, "fstype": "", "flags": flagString(msBind), "data": ""}
	}
	return st
}
