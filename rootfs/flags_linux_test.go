package rootfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The flag values in options.go and plan.go are copies of the Linux ABI so
// that Plan is portable; check every copy against x/sys/unix.
func TestConstantsMatchUnix(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uint64
	}{
		{"MS_RDONLY", uint64(msRdonly), unix.MS_RDONLY},
		{"MS_NOSUID", uint64(msNosuid), unix.MS_NOSUID},
		{"MS_NODEV", uint64(msNodev), unix.MS_NODEV},
		{"MS_NOEXEC", uint64(msNoexec), unix.MS_NOEXEC},
		{"MS_SYNCHRONOUS", uint64(msSynchronous), unix.MS_SYNCHRONOUS},
		{"MS_REMOUNT", uint64(msRemount), unix.MS_REMOUNT},
		{"MS_MANDLOCK", uint64(msMandlock), unix.MS_MANDLOCK},
		{"MS_DIRSYNC", uint64(msDirsync), unix.MS_DIRSYNC},
		{"MS_NOSYMFOLLOW", uint64(msNosymfollow), unix.MS_NOSYMFOLLOW},
		{"MS_NOATIME", uint64(msNoatime), unix.MS_NOATIME},
		{"MS_NODIRATIME", uint64(msNodiratime), unix.MS_NODIRATIME},
		{"MS_BIND", uint64(msBind), unix.MS_BIND},
		{"MS_MOVE", uint64(msMove), unix.MS_MOVE},
		{"MS_REC", uint64(msRec), unix.MS_REC},
		{"MS_SILENT", uint64(msSilent), unix.MS_SILENT},
		{"MS_UNBINDABLE", uint64(msUnbindable), unix.MS_UNBINDABLE},
		{"MS_PRIVATE", uint64(msPrivate), unix.MS_PRIVATE},
		{"MS_SLAVE", uint64(msSlave), unix.MS_SLAVE},
		{"MS_SHARED", uint64(msShared), unix.MS_SHARED},
		{"MS_RELATIME", uint64(msRelatime), unix.MS_RELATIME},
		{"MS_STRICTATIME", uint64(msStrictatime), unix.MS_STRICTATIME},
		{"S_IFIFO", uint64(sIFIFO), unix.S_IFIFO},
		{"S_IFCHR", uint64(sIFCHR), unix.S_IFCHR},
		{"S_IFBLK", uint64(sIFBLK), unix.S_IFBLK},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#x here, %#x in x/sys/unix", tt.name, tt.got, tt.want)
		}
	}
}
