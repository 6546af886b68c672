// Command mksyscalls writes the system call tables of package seccomp from
// a Linux source tree:
//
//	go run ./internal/mksyscalls -o . /path/to/linux
//
// The kernel defines each ABI's numbers in one place, and those are read
// here rather than copied by hand:
//
//   - x86_64 and x32: arch/x86/entry/syscalls/syscall_64.tbl, the rows of
//     abi "common" plus "64" or "x32"; an x32 call's number carries
//     __X32_SYSCALL_BIT (0x40000000), as seccomp_data.nr shows it;
//   - i386: arch/x86/entry/syscalls/syscall_32.tbl;
//   - arm64: include/uapi/asm-generic/unistd.h under the __ARCH_WANT_*
//     macros of arch/arm64/include/uapi/asm/unistd.h, or scripts/syscall.tbl
//     where the tree has one (Linux 6.11 and later);
//   - 32-bit arm (EABI, which an arm64 kernel runs as its compat ABI):
//     arch/arm/tools/syscall.tbl and the ARM-private calls (__ARM_NR_*) of
//     arch/arm/include/uapi/asm/unistd.h.
//
// The output names the kernel version it came from (the tree's Makefile).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// x32Bit is __X32_SYSCALL_BIT of arch/x86/include/uapi/asm/unistd.h.
const x32Bit = 0x40000000

// armPrivateBase is __ARM_NR_BASE for EABI: __NR_SYSCALL_BASE (0) plus
// 0x0f0000.
const armPrivateBase = 0x0f0000

// table is one ABI's calls: its Go variable, a comment, and name → number.
type table struct {
	comment string
	calls   map[string]uint32
}

func main() {
	out := flag.String("o", ".", "directory to write the zsyscalls_*.go files to")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mksyscalls [-o DIR] LINUX_SOURCE_TREE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, "mksyscalls:", err)
		os.Exit(1)
	}
}

func run(tree, out string) error {
	version, err := kernelVersion(tree)
	if err != nil {
		return err
	}
	x86, err := x86Tables(tree)
	if err != nil {
		return err
	}
	arm, armSources, err := armTables(tree)
	if err != nil {
		return err
	}
	files := []struct {
		name, sources, varName, family string
		tables                         []table
	}{
		{"zsyscalls_x86.go", "arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl", "sysX86", "the x86 family", x86},
		{"zsyscalls_aarch64.go", armSources, "sysARM", "the arm family", arm},
	}
	for _, f := range files {
		src, err := render(version, f.sources, f.varName, f.family, f.tables)
		if err != nil {
			return fmt.Errorf("render %s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(out, f.name), src, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// kernelVersion reads VERSION.PATCHLEVEL.SUBLEVEL from the tree's Makefile.
func kernelVersion(tree string) (string, error) {
	data, err := os.ReadFile(filepath.Join(tree, "Makefile"))
	if err != nil {
		return "", fmt.Errorf("read kernel version: %w", err)
	}
	v := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		switch k {
		case "VERSION", "PATCHLEVEL", "SUBLEVEL":
			if _, seen := v[k]; !seen {
				v[k] = strings.TrimSpace(val)
			}
		}
	}
	if v["VERSION"] == "" || v["PATCHLEVEL"] == "" {
		return "", fmt.Errorf("read kernel version: no VERSION or PATCHLEVEL in %s/Makefile", tree)
	}
	s := v["VERSION"] + "." + v["PATCHLEVEL"]
	if v["SUBLEVEL"] != "" {
		s += "." + v["SUBLEVEL"]
	}
	return s, nil
}

func x86Tables(tree string) ([]table, error) {
	t64 := filepath.Join(tree, "arch/x86/entry/syscalls/syscall_64.tbl")
	x8664, err := readTbl(t64, []string{"common", "64"}, 0)
	if err != nil {
		return nil, err
	}
	x32, err := readTbl(t64, []string{"common", "x32"}, x32Bit)
	if err != nil {
		return nil, err
	}
	i386, err := readTbl(filepath.Join(tree, "arch/x86/entry/syscalls/syscall_32.tbl"), []string{"i386"}, 0)
	if err != nil {
		return nil, err
	}
	return []table{
		{"x86_64", x8664},
		{"x32, numbers with __X32_SYSCALL_BIT set", x32},
		{"i386, native or an x86_64 kernel's IA-32 emulation", i386},
	}, nil
}

func armTables(tree string) ([]table, string, error) {
	var aarch64 map[string]uint32
	sources := "include/uapi/asm-generic/unistd.h"
	generic := filepath.Join(tree, "scripts/syscall.tbl")
	if _, err := os.Stat(generic); err == nil {
		sources = "scripts/syscall.tbl"
		// Linux 6.11 moved the asm-generic numbers to a table, each
		// architecture naming the ABIs it takes from it beside
		// "common" and "64".
		abis, err := makeAbis(filepath.Join(tree, "arch/arm64/kernel/Makefile.syscalls"), "syscall_abis_64")
		if err != nil {
			return nil, "", err
		}
		aarch64, err = readTbl(generic, append([]string{"common", "64"}, abis...), 0)
		if err != nil {
			return nil, "", err
		}
	} else {
		want, err := archWants(filepath.Join(tree, "arch/arm64/include/uapi/asm/unistd.h"))
		if err != nil {
			return nil, "", err
		}
		aarch64, err = readGenericUnistd(filepath.Join(tree, "include/uapi/asm-generic/unistd.h"), want, 64)
		if err != nil {
			return nil, "", err
		}
	}
	arm, err := readTbl(filepath.Join(tree, "arch/arm/tools/syscall.tbl"), []string{"common", "eabi"}, 0)
	if err != nil {
		return nil, "", err
	}
	private, err := armPrivate(filepath.Join(tree, "arch/arm/include/uapi/asm/unistd.h"))
	if err != nil {
		return nil, "", err
	}
	for name, nr := range private {
		arm[name] = nr
	}
	return []table{
		{"arm64", aarch64},
		{"32-bit arm (EABI), native or an arm64 kernel's compat ABI, ARM-private calls included", arm},
	}, sources + ", arch/arm/tools/syscall.tbl", nil
}

// makeAbis reads the ABIs a Makefile.syscalls adds to variable (for arm64:
// "syscall_abis_64 += renameat rlimit memfd_secret").
func makeAbis(path, variable string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read syscall ABIs: %w", err)
	}
	var abis []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == variable && (f[1] == "+=" || f[1] == ":=" || f[1] == "=") {
			abis = append(abis, f[2:]...)
		}
	}
	return abis, nil
}

// readTbl reads a syscall.tbl ("<number> <abi> <name> [<entry point>...]")
// keeping the rows of the given ABIs, numbers ORed with bit.
func readTbl(path string, abis []string, bit uint32) (map[string]uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read syscall table: %w", err)
	}
	defer f.Close()
	calls := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s:%d: want <number> <abi> <name>, got %q", path, n, line)
		}
		if !slices.Contains(abis, fields[1]) {
			continue
		}
		nr, err := strconv.ParseUint(fields[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad number %q", path, n, fields[0])
		}
		if err := add(calls, fields[2], uint32(nr)|bit); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("%s: no system calls of ABI %v", path, abis)
	}
	return calls, nil
}

func add(calls map[string]uint32, name string, nr uint32) error {
	if old, ok := calls[name]; ok && old != nr {
		return fmt.Errorf("%s is both %d and %d", name, old, nr)
	}
	calls[name] = nr
	return nil
}

// archWants returns the macros an architecture's uapi unistd.h defines
// before it includes asm-generic/unistd.h (__ARCH_WANT_RENAMEAT and such).
func archWants(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read arch unistd.h: %w", err)
	}
	want := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "#define" {
			want[f[1]] = true
		}
	}
	return want, nil
}

// readGenericUnistd evaluates just enough of the C preprocessor to read
// include/uapi/asm-generic/unistd.h as one architecture sees it: #define,
// #undef, #ifdef, #ifndef, #if with defined(), !, ==, !=, && and ||, #else
// and #endif. defined holds the architecture's macros; __BITS_PER_LONG is
// bits. Every __NR_name that ends up a number is a call.
func readGenericUnistd(path string, defined map[string]bool, bits int) (map[string]uint32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read asm-generic unistd.h: %w", err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	macros := map[string]string{"__BITS_PER_LONG": strconv.Itoa(bits)}
	for name := range defined {
		macros[name] = ""
	}
	// active holds, for each open #if, whether its current branch is taken
	// and whether any branch was.
	type cond struct{ on, taken bool }
	var stack []cond
	enabled := func() bool {
		for _, c := range stack {
			if !c.on {
				return false
			}
		}
		return true
	}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(stripComment(line))
		if !strings.HasPrefix(line, "#") {
			continue
		}
		dir, rest, _ := strings.Cut(strings.TrimSpace(line[1:]), " ")
		rest = strings.TrimSpace(rest)
		where := fmt.Sprintf("%s:%d", path, n+1)
		switch dir {
		case "ifdef", "ifndef":
			_, ok := macros[rest]
			on := ok == (dir == "ifdef")
			stack = append(stack, cond{on, on})
		case "if":
			v, err := evalCond(rest, macros)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			stack = append(stack, cond{v, v})
		case "else":
			if len(stack) == 0 {
				return nil, fmt.Errorf("%s: #else without #if", where)
			}
			top := &stack[len(stack)-1]
			top.on = !top.taken
			top.taken = true
		case "endif":
			if len(stack) == 0 {
				return nil, fmt.Errorf("%s: #endif without #if", where)
			}
			stack = stack[:len(stack)-1]
		case "elif":
			return nil, fmt.Errorf("%s: #elif is not understood", where)
		case "define":
			if !enabled() {
				continue
			}
			name, value, _ := strings.Cut(rest, " ")
			if strings.Contains(name, "(") {
				continue // a function-like macro: no number
			}
			macros[name] = strings.TrimSpace(value)
		case "undef":
			if enabled() {
				delete(macros, rest)
			}
		}
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("%s: unterminated #if", path)
	}
	calls := map[string]uint32{}
	for name := range macros {
		sys, ok := strings.CutPrefix(name, "__NR_")
		// __NR_syscalls counts them; __NR_arch_specific_syscall is
		// where an architecture's own calls would start.
		if !ok || sys == "syscalls" || sys == "arch_specific_syscall" {
			continue
		}
		nr, err := macroValue(name, macros, 0)
		if err != nil {
			return nil, err
		}
		calls[sys] = nr
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("%s: no system calls", path)
	}
	return calls, nil
}

func stripComment(line string) string {
	if i := strings.Index(line, "/*"); i >= 0 {
		return line[:i]
	}
	return line
}

// macroValue resolves an object-like macro to a number through aliases
// (__NR_fcntl → __NR3264_fcntl → 25) and sums ((__NR_BASE+1)).
func macroValue(name string, macros map[string]string, depth int) (uint32, error) {
	if depth > 8 {
		return 0, fmt.Errorf("macro %s: too deep", name)
	}
	v, ok := macros[name]
	if !ok {
		return 0, fmt.Errorf("macro %s: not defined", name)
	}
	v = strings.Trim(strings.TrimSpace(v), "()")
	var sum uint32
	for _, term := range strings.Split(v, "+") {
		term = strings.TrimSpace(term)
		if n, err := strconv.ParseUint(term, 0, 32); err == nil {
			sum += uint32(n)
			continue
		}
		n, err := macroValue(term, macros, depth+1)
		if err != nil {
			return 0, fmt.Errorf("macro %s: %w", name, err)
		}
		sum += n
	}
	return sum, nil
}

// armPrivate reads the ARM-private calls: #define __ARM_NR_name (__ARM_NR_BASE+n).
func armPrivate(path string) (map[string]uint32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read arm unistd.h: %w", err)
	}
	calls := map[string]uint32{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "#define" {
			continue
		}
		name, ok := strings.CutPrefix(f[1], "__ARM_NR_")
		if !ok || name == "BASE" {
			continue
		}
		off, ok := strings.CutPrefix(strings.Join(f[2:], ""), "(__ARM_NR_BASE+")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(off, ")"), 0, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: __ARM_NR_%s: %w", path, name, err)
		}
		calls[name] = armPrivateBase + uint32(n)
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("%s: no __ARM_NR_ calls", path)
	}
	return calls, nil
}

// render writes one family's tables as a single Go table sorted by name:
// one row per name, one column per ABI, so that one search finds a call in
// all of them.
func render(version, sources, varName, family string, tables []table) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by mksyscalls from Linux %s (%s); DO NOT EDIT.\n\n", version, sources)
	b.WriteString("package seccomp\n\n")
	names := map[string]bool{}
	fmt.Fprintf(&b, "// %s lists the system calls of %s, sorted by name, with their number\n// in each of its ABIs (noSys where an ABI has none):\n", varName, family)
	for i, t := range tables {
		fmt.Fprintf(&b, "//   - column %d: %s\n", i, t.comment)
		for name := range t.calls {
			names[name] = true
		}
	}
	fmt.Fprintf(&b, "var %s = []sysEntry{\n", varName)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		cols := make([]string, maxColumns)
		for i := range cols {
			cols[i] = "noSys"
			if i >= len(tables) {
				continue
			}
			if nr, ok := tables[i].calls[name]; ok {
				cols[i] = fmt.Sprintf("%#x", nr)
			}
		}
		fmt.Fprintf(&b, "\t{%q, [%d]uint32{%s}},\n", name, maxColumns, strings.Join(cols, ", "))
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// maxColumns is the length of sysEntry.nr: the most ABIs one kernel runs.
const maxColumns = 3

// evalCond evaluates a #if expression of defined(X), !, ==, !=, && and ||
// over macros whose values are numbers or empty.
func evalCond(expr string, macros map[string]string) (bool, error) {
	p := &condParser{toks: tokenize(expr), macros: macros}
	v, err := p.or()
	if err != nil {
		return false, fmt.Errorf("#if %s: %w", expr, err)
	}
	if p.i != len(p.toks) {
		return false, fmt.Errorf("#if %s: trailing %q", expr, p.toks[p.i:])
	}
	return v != 0, nil
}

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case strings.HasPrefix(s[i:], "&&"), strings.HasPrefix(s[i:], "||"),
			strings.HasPrefix(s[i:], "=="), strings.HasPrefix(s[i:], "!="):
			toks = append(toks, s[i:i+2])
			i += 2
		case c == '(' || c == ')' || c == '!':
			toks = append(toks, s[i:i+1])
			i++
		default:
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= '0' && s[j] <= '9' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				j++
			}
			if j == i {
				j = i + 1
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

type condParser struct {
	toks   []string
	i      int
	macros map[string]string
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *condParser) next() string {
	t := p.peek()
	p.i++
	return t
}

func (p *condParser) or() (int64, error) {
	v, err := p.and()
	for err == nil && p.peek() == "||" {
		p.next()
		var w int64
		w, err = p.and()
		v = b2i(v != 0 || w != 0)
	}
	return v, err
}

func (p *condParser) and() (int64, error) {
	v, err := p.cmp()
	for err == nil && p.peek() == "&&" {
		p.next()
		var w int64
		w, err = p.cmp()
		v = b2i(v != 0 && w != 0)
	}
	return v, err
}

func (p *condParser) cmp() (int64, error) {
	v, err := p.unary()
	if err != nil {
		return 0, err
	}
	switch op := p.peek(); op {
	case "==", "!=":
		p.next()
		w, err := p.unary()
		if err != nil {
			return 0, err
		}
		return b2i((v == w) == (op == "==")), nil
	}
	return v, nil
}

func (p *condParser) unary() (int64, error) {
	switch t := p.next(); {
	case t == "!":
		v, err := p.unary()
		return b2i(v == 0), err
	case t == "(":
		v, err := p.or()
		if err == nil && p.next() != ")" {
			err = errors.New("missing )")
		}
		return v, err
	case t == "defined":
		paren := p.peek() == "("
		if paren {
			p.next()
		}
		name := p.next()
		if paren && p.next() != ")" {
			return 0, errors.New("missing ) after defined")
		}
		_, ok := p.macros[name]
		return b2i(ok), nil
	case t == "":
		return 0, errors.New("unexpected end")
	default:
		if n, err := strconv.ParseInt(t, 0, 64); err == nil {
			return n, nil
		}
		v, ok := p.macros[t]
		if !ok {
			return 0, nil // as cpp: an undefined identifier is 0
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 0, 64)
		if err != nil {
			return 0, fmt.Errorf("macro %s=%q is not a number", t, v)
		}
		return n, nil
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
