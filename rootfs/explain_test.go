package rootfs

import "testing"

// The explained mount is what Prepare passes to mount(2), flags by their
// names: the integration test compares these fields with mountinfo.
func TestMountStep(t *testing.T) {
	for _, tc := range []struct {
		name                string
		source, target, fs  string
		flags               uintptr
		data                string
		keep                bool
		wantText, wantFlags string
	}{
		{"proc", "proc", "/proc", "proc", msNosuid | msNodev | msNoexec, "", false,
			`mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, "")`, "MS_NOSUID|MS_NODEV|MS_NOEXEC"},
		{"tmpfs with data", "tmpfs", "/dev", "tmpfs", msNosuid | msStrictatime, "mode=755", false,
			`mount("tmpfs", "/dev", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755")`, "MS_NOSUID|MS_STRICTATIME"},
		{"read-only remount keeping flags", "", "/proc/sys", "", msBind | msRemount | msRdonly, "", true,
			`mount("", "/proc/sys", "", MS_RDONLY|MS_REMOUNT|MS_BIND, "") + the flags it has (statfs(2))`, "MS_RDONLY|MS_REMOUNT|MS_BIND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := mountStep(tc.source, tc.target, tc.fs, tc.flags, tc.data, tc.keep)
			if st.Text != tc.wantText {
				t.Errorf("text %q, want %q", st.Text, tc.wantText)
			}
			if st.Fields["flags"] != tc.wantFlags || st.Fields["target"] != tc.target || st.Fields["fstype"] != tc.fs || st.Fields["keep"] != tc.keep {
				t.Errorf("fields %v", st.Fields)
			}
			if st.Man == "" || st.Phase != "rootfs" {
				t.Errorf("phase %q, man %q", st.Phase, st.Man)
			}
		})
	}
}
