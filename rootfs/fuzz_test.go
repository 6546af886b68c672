package rootfs

import (
	"slices"
	"strings"
	"testing"
)

// formatOptions writes o back as OCI mount options: one option per flag
// set or cleared, the propagation options in order, then the data as one
// option.
func formatOptions(o options) []string {
	setName, clearName := map[uintptr]string{}, map[uintptr]string{}
	for name, f := range optionFlags {
		switch {
		case f.flag == 0 || f.flag == msBind|msRec:
		case f.clear:
			clearName[f.flag] = name
		default:
			setName[f.flag] = name
		}
	}
	propName := map[uintptr]string{}
	for name, p := range propagationOptions {
		propName[p] = name
	}
	var out []string
	flags := o.flags
	if flags&msRec != 0 {
		out = append(out, "rbind")
		flags &^= msBind | msRec
	}
	for _, f := range flagNames {
		if flags&f.flag != 0 {
			out = append(out, setName[f.flag])
		}
		if o.cleared&f.flag != 0 {
			out = append(out, clearName[f.flag])
		}
	}
	for _, p := range o.propagation {
		out = append(out, propName[p])
	}
	if o.data != "" {
		out = append(out, o.data)
	}
	return out
}

// FuzzParseMountOptions: for any list of options (the fuzzer's string,
// split at newlines), the last option that touches a flag decides it;
// flags set and flags cleared never overlap; propagation stays out of
// the flags (mount(2) refuses them mixed) and keeps its order; data is
// exactly the unknown options, in order; and the result written back as
// options parses to itself.
func FuzzParseMountOptions(f *testing.F) {
	for _, s := range []string{
		"", "ro", "ro\nrw", "rw\nro", "nosuid\nnodev\nnoexec\nmode=755\nsize=65536k",
		"rbind\nro\nrprivate", "bind\nshared\nslave\nunbindable", "defaults\n\nnewinstance\nptmxmode=0666",
		"atime\nnoatime\nrelatime\nnorelatime\nstrictatime\nnostrictatime\nsymfollow\nnosymfollow",
		"size=1m,ro", "sync\nasync\ndirsync\nmand\nnomand\nremount\ndiratime\nnodiratime",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts := strings.Split(s, "\n")
		o := parseOptions(opts)
		if o.flags&o.cleared != 0 {
			t.Fatalf("%q: flags %s both set and cleared", opts, flagString(o.flags&o.cleared))
		}
		if prop := msPrivate | msShared | msSlave | msUnbindable; o.flags&prop != 0 {
			t.Fatalf("%q: propagation %s among the flags", opts, flagString(o.flags&prop))
		}
		var wantProp []uintptr
		var wantData []string
		for _, opt := range opts {
			if p, ok := propagationOptions[opt]; ok {
				wantProp = append(wantProp, p)
			} else if _, ok := optionFlags[opt]; !ok && opt != "" {
				wantData = append(wantData, opt)
			}
		}
		if !slices.Equal(o.propagation, wantProp) {
			t.Fatalf("%q: propagation %v, want %v", opts, o.propagation, wantProp)
		}
		if want := strings.Join(wantData, ","); o.data != want {
			t.Fatalf("%q: data %q, want %q", opts, o.data, want)
		}
		for _, fl := range flagNames {
			last := -1
			for i, opt := range opts {
				if of, ok := optionFlags[opt]; ok && of.flag&fl.flag != 0 {
					last = i
				}
			}
			if last < 0 {
				if (o.flags|o.cleared)&fl.flag != 0 {
					t.Fatalf("%q: %s changed by no option", opts, fl.name)
				}
				continue
			}
			cleared := optionFlags[opts[last]].clear
			if (o.flags&fl.flag != 0) == cleared || (o.cleared&fl.flag != 0) != cleared {
				t.Fatalf("%q: %s is not what %q, the last option on it, says", opts, fl.name, opts[last])
			}
		}
		again := parseOptions(formatOptions(o))
		if again.flags != o.flags || again.cleared != o.cleared || !slices.Equal(again.propagation, o.propagation) || again.data != o.data {
			t.Fatalf("%q parses to %+v; written back as %q it parses to %+v", opts, o, formatOptions(o), again)
		}
	})
}
