package rootfs

import (
	"slices"
	"testing"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []string
		flags   uintptr
		cleared uintptr
		prop    []uintptr
		data    string
	}{
		{name: "none"},
		{name: "defaults", opts: []string{"defaults"}},
		{name: "ro", opts: []string{"ro"}, flags: msRdonly},
		{name: "rw clears ro", opts: []string{"ro", "rw"}, cleared: msRdonly},
		{name: "ro after rw", opts: []string{"rw", "ro"}, flags: msRdonly},
		{
			name:  "set flags",
			opts:  []string{"nosuid", "nodev", "noexec", "sync", "dirsync", "remount", "mand", "noatime", "nodiratime", "relatime", "strictatime", "nosymfollow"},
			flags: msNosuid | msNodev | msNoexec | msSynchronous | msDirsync | msRemount | msMandlock | msNoatime | msNodiratime | msRelatime | msStrictatime | msNosymfollow,
		},
		{
			name:    "clear flags",
			opts:    []string{"nosuid", "suid", "dev", "exec", "async", "nomand", "atime", "diratime", "norelatime", "nostrictatime"},
			cleared: msNosuid | msNodev | msNoexec | msSynchronous | msMandlock | msNoatime | msNodiratime | msRelatime | msStrictatime,
		},
		{name: "bind", opts: []string{"bind"}, flags: msBind},
		{name: "rbind", opts: []string{"rbind", "ro"}, flags: msBind | msRec | msRdonly},
		{
			name: "propagation in order",
			opts: []string{"rprivate", "private", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"},
			prop: []uintptr{msRec | msPrivate, msPrivate, msShared, msRec | msShared, msSlave, msRec | msSlave, msUnbindable, msRec | msUnbindable},
		},
		{
			name:  "unknown options are data, in order",
			opts:  []string{"nosuid", "mode=755", "size=65536k", "strictatime", "", "newinstance"},
			flags: msNosuid | msStrictatime,
			data:  "mode=755,size=65536k,newinstance",
		},
		{
			name:  "devpts",
			opts:  []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			flags: msNosuid | msNoexec,
			data:  "newinstance,ptmxmode=0666,mode=0620,gid=5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parseOptions(tt.opts)
			if o.flags != tt.flags {
				t.Errorf("flags = %s, want %s", flagString(o.flags), flagString(tt.flags))
			}
			if o.cleared != tt.cleared {
				t.Errorf("cleared = %s, want %s", flagString(o.cleared), flagString(tt.cleared))
			}
			if !slices.Equal(o.propagation, tt.prop) {
				t.Errorf("propagation = %v, want %v", o.propagation, tt.prop)
			}
			if o.data != tt.data {
				t.Errorf("data = %q, want %q", o.data, tt.data)
			}
		})
	}
}

func TestFlagString(t *testing.T) {
	tests := []struct {
		flags uintptr
		want  string
	}{
		{0, "0"},
		{msNosuid | msNodev | msNoexec, "MS_NOSUID|MS_NODEV|MS_NOEXEC"},
		{msRec | msPrivate, "MS_REC|MS_PRIVATE"},
		{msBind | msRemount | msRdonly, "MS_RDONLY|MS_REMOUNT|MS_BIND"},
		{msRdonly | 1<<30, "MS_RDONLY|0x40000000"},
	}
	for _, tt := range tests {
		if got := flagString(tt.flags); got != tt.want {
			t.Errorf("flagString(%#x) = %q, want %q", tt.flags, got, tt.want)
		}
	}
}

func TestPropagationFlags(t *testing.T) {
	for name, want := range map[string]uintptr{"": 0, "rslave": msRec | msSlave, "shared": msShared, "private": msPrivate} {
		got, ok := propagationFlags(name)
		if !ok || got != want {
			t.Errorf("propagationFlags(%q) = %s, %v; want %s", name, flagString(got), ok, flagString(want))
		}
	}
	if _, ok := propagationFlags("rbind"); ok {
		t.Error(`propagationFlags("rbind") accepted`)
	}
}
