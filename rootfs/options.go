package rootfs

import (
	"strconv"
	"strings"
)

// Mount flags, with the values of the Linux ABI (<linux/mount.h>).
//
// They are written out here, rather than taken from golang.org/x/sys/unix,
// so that option parsing and Plan compile and are unit-tested on every OS;
// flags_linux_test.go checks each one against x/sys/unix.
const (
	msRdonly      uintptr = 0x1       // MS_RDONLY
	msNosuid      uintptr = 0x2       // MS_NOSUID
	msNodev       uintptr = 0x4       // MS_NODEV
	msNoexec      uintptr = 0x8       // MS_NOEXEC
	msSynchronous uintptr = 0x10      // MS_SYNCHRONOUS
	msRemount     uintptr = 0x20      // MS_REMOUNT
	msMandlock    uintptr = 0x40      // MS_MANDLOCK
	msDirsync     uintptr = 0x80      // MS_DIRSYNC
	msNosymfollow uintptr = 0x100     // MS_NOSYMFOLLOW
	msNoatime     uintptr = 0x400     // MS_NOATIME
	msNodiratime  uintptr = 0x800     // MS_NODIRATIME
	msBind        uintptr = 0x1000    // MS_BIND
	msMove        uintptr = 0x2000    // MS_MOVE
	msRec         uintptr = 0x4000    // MS_REC
	msSilent      uintptr = 0x8000    // MS_SILENT
	msUnbindable  uintptr = 0x20000   // MS_UNBINDABLE
	msPrivate     uintptr = 0x40000   // MS_PRIVATE
	msSlave       uintptr = 0x80000   // MS_SLAVE
	msShared      uintptr = 0x100000  // MS_SHARED
	msRelatime    uintptr = 0x200000  // MS_RELATIME
	msStrictatime uintptr = 0x1000000 // MS_STRICTATIME
)

// flagNames lists the flags in the order flagString prints them.
var flagNames = []struct {
	flag uintptr
	name string
}{
	{msRdonly, "MS_RDONLY"},
	{msNosuid, "MS_NOSUID"},
	{msNodev, "MS_NODEV"},
	{msNoexec, "MS_NOEXEC"},
	{msSynchronous, "MS_SYNCHRONOUS"},
	{msRemount, "MS_REMOUNT"},
	{msMandlock, "MS_MANDLOCK"},
	{msDirsync, "MS_DIRSYNC"},
	{msNosymfollow, "MS_NOSYMFOLLOW"},
	{msNoatime, "MS_NOATIME"},
	{msNodiratime, "MS_NODIRATIME"},
	{msBind, "MS_BIND"},
	{msMove, "MS_MOVE"},
	{msRec, "MS_REC"},
	{msSilent, "MS_SILENT"},
	{msUnbindable, "MS_UNBINDABLE"},
	{msPrivate, "MS_PRIVATE"},
	{msSlave, "MS_SLAVE"},
	{msShared, "MS_SHARED"},
	{msRelatime, "MS_RELATIME"},
	{msStrictatime, "MS_STRICTATIME"},
}

// flagString writes mount flags the way mount(2) names them,
// "MS_NOSUID|MS_NODEV", "0" for none; bits without a name are shown in hex.
func flagString(flags uintptr) string {
	if flags == 0 {
		return "0"
	}
	var parts []string
	for _, f := range flagNames {
		if flags&f.flag != 0 {
			parts = append(parts, f.name)
			flags &^= f.flag
		}
	}
	if flags != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(flags), 16))
	}
	return strings.Join(parts, "|")
}

// optionFlags maps a mount option to the flag it sets, or clears when clear
// is true ("rw" clears MS_RDONLY). It is the table mount(8) documents.
var optionFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, msRdonly},
	"rw":            {true, msRdonly},
	"nosuid":        {false, msNosuid},
	"suid":          {true, msNosuid},
	"nodev":         {false, msNodev},
	"dev":           {true, msNodev},
	"noexec":        {false, msNoexec},
	"exec":          {true, msNoexec},
	"sync":          {false, msSynchronous},
	"async":         {true, msSynchronous},
	"dirsync":       {false, msDirsync},
	"remount":       {false, msRemount},
	"mand":          {false, msMandlock},
	"nomand":        {true, msMandlock},
	"atime":         {true, msNoatime},
	"noatime":       {false, msNoatime},
	"diratime":      {true, msNodiratime},
	"nodiratime":    {false, msNodiratime},
	"relatime":      {false, msRelatime},
	"norelatime":    {true, msRelatime},
	"strictatime":   {false, msStrictatime},
	"nostrictatime": {true, msStrictatime},
	"nosymfollow":   {false, msNosymfollow},
	"symfollow":     {true, msNosymfollow},
	"bind":          {false, msBind},
	"rbind":         {false, msBind | msRec},
}

// propagationOptions maps a propagation option to the flags of the separate
// mount(2) call that applies it: the kernel refuses propagation flags mixed
// with anything else in one call.
var propagationOptions = map[string]uintptr{
	"private":     msPrivate,
	"rprivate":    msPrivate | msRec,
	"shared":      msShared,
	"rshared":     msShared | msRec,
	"slave":       msSlave,
	"rslave":      msSlave | msRec,
	"unbindable":  msUnbindable,
	"runbindable": msUnbindable | msRec,
}

// options is a parsed list of mount options.
type options struct {
	// flags are the flags the options set, for mount(2)'s flags argument.
	flags uintptr
	// cleared are the flags the options asked to be off ("rw", "suid",
	// "dev", "exec", ...). A remount that must keep a bind's locked flags
	// never adds back one of these.
	cleared uintptr
	// propagation holds one entry per propagation option, in order.
	propagation []uintptr
	// data is every other option, comma-joined in order, for the
	// filesystem itself ("mode=755,size=65536k").
	data string
}

// parseOptions turns OCI mount options into flags, propagation and data.
// Later options win over earlier ones ("ro,rw" is read-write), as with
// mount(8).
func parseOptions(opts []string) options {
	var o options
	var data []string
	for _, opt := range opts {
		if f, ok := optionFlags[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
				o.cleared |= f.flag
			} else {
				o.flags |= f.flag
				o.cleared &^= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if opt != "" {
			data = append(data, opt)
		}
	}
	o.data = strings.Join(data, ",")
	return o
}

// propagationFlags returns the flags for linux.rootfsPropagation, or 0 for
// "" (leave it as it is); any other value is an error.
func propagationFlags(name string) (uintptr, bool) {
	if name == "" {
		return 0, true
	}
	p, ok := propagationOptions[name]
	return p, ok
}
