package test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/minirun/minirun/internal/testenv"
	tr "github.com/minirun/minirun/internal/testregistry"
)

// The guided tour in docs/ teaches with exercises a reader types into a
// shell, and TestDocs runs every one of them, so that no page can drift
// from what minirun does. The format, which docs/README.md explains to
// writers too:
//
//	```sh exercise name=ns-lsns [when=cgroup1|cgroup2]
//	commands, run with bash -euo pipefail
//	```
//
//	```text expect
//	a line that must appear in the output
//	re:^a regular expression one line must match$
//	```
//
// The expect block is optional and must follow its exercise with only
// blank lines between. Its lines must appear in this order, stdout and
// stderr together; a plain line matches an output line with the same
// words (runs of blanks count as one), a "re:" line any line its
// expression matches. docs/README.md holds one ```sh setup``` block
// (IMG=, and the shell functions the pages use): it runs before every
// exercise, as a reader pastes it once into their shell.

// docsDir is where the pages are: ../docs from the package directory, in
// the source tree and in test/vm's payload alike.
const docsDir = "../docs"

// exerciseTimeout bounds one exercise; the slowest, under test/vm's
// emulated CPU, take a few seconds.
const exerciseTimeout = 2 * time.Minute

// docBlock is one fenced block of a page that the tests care about.
type docBlock struct {
	kind  string            // "exercise", "expect" or "setup"
	attrs map[string]string // name=, when=
	code  string
	line  int // of the opening fence, 1-based
	end   int // of the closing fence, 1-based
}

// exercise is an exercise with its expectations.
type exercise struct {
	page, name, when string
	code             string
	expect           []string
	line             int
}

// docPage is one parsed page.
type docPage struct {
	file      string // base name, "namespaces.md"
	exercises []exercise
	setup     []string // code of setup blocks
}

var exerciseName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// parseBlocks returns the fenced blocks of a Markdown page whose info
// string marks them for the tests: its first word is the language, and a
// later word "exercise", "expect" or "setup" is the kind; key=value words
// are attributes. Other blocks are prose examples and are skipped. A fence
// left open is an error.
func parseBlocks(text string) ([]docBlock, error) {
	var out []docBlock
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		fence, info, ok := openFence(lines[i])
		if !ok {
			continue
		}
		start := i
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == fence {
				closed = true
				break
			}
			body = append(body, lines[i])
		}
		if !closed {
			return nil, fmt.Errorf("line %d: code block never closed", start+1)
		}
		b := docBlock{attrs: map[string]string{}, code: strings.Join(body, "\n"), line: start + 1, end: i + 1}
		for _, w := range strings.Fields(info)[min(1, len(strings.Fields(info))):] {
			switch k, v, hasEq := strings.Cut(w, "="); {
			case hasEq:
				b.attrs[k] = v
			case w == "exercise" || w == "expect" || w == "setup":
				if b.kind != "" {
					return nil, fmt.Errorf("line %d: block is both %s and %s", b.line, b.kind, w)
				}
				b.kind = w
			default:
				return nil, fmt.Errorf("line %d: unknown word %q in the info string %q", b.line, w, info)
			}
		}
		if b.kind == "" {
			if len(b.attrs) > 0 {
				return nil, fmt.Errorf("line %d: attributes on a block that is no exercise: %q", b.line, info)
			}
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// openFence recognizes an opening code fence ("```sh exercise ..."), at
// most three spaces in, as CommonMark allows.
func openFence(line string) (fence, info string, ok bool) {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 || !strings.HasPrefix(t, "```") {
		return "", "", false
	}
	n := len(t) - len(strings.TrimLeft(t, "`"))
	return t[:n], strings.TrimSpace(t[n:]), true
}

// parsePage turns a page's blocks into exercises and checks them: each
// exercise has a valid name, known attributes, and at most one expect
// block right after it; an expect block belongs to an exercise.
func parsePage(file, text string) (docPage, error) {
	p := docPage{file: file}
	blocks, err := parseBlocks(text)
	if err != nil {
		return p, fmt.Errorf("%s: %w", file, err)
	}
	lines := strings.Split(text, "\n")
	for i, b := range blocks {
		switch b.kind {
		case "setup":
			p.setup = append(p.setup, b.code)
		case "expect":
			prev := i - 1
			if prev < 0 || blocks[prev].kind != "exercise" || !onlyBlankBetween(lines, blocks[prev], b) {
				return p, fmt.Errorf("%s:%d: an expect block must follow its exercise, with only blank lines between", file, b.line)
			}
			ex := &p.exercises[len(p.exercises)-1]
			for _, l := range strings.Split(b.code, "\n") {
				if strings.TrimSpace(l) != "" {
					ex.expect = append(ex.expect, l)
				}
			}
		case "exercise":
			ex := exercise{page: file, name: b.attrs["name"], when: b.attrs["when"], code: b.code, line: b.line}
			for k := range b.attrs {
				if k != "name" && k != "when" {
					return p, fmt.Errorf("%s:%d: unknown attribute %q", file, b.line, k)
				}
			}
			if !exerciseName.MatchString(ex.name) {
				return p, fmt.Errorf("%s:%d: exercise name %q: want name=lowercase-words", file, b.line, ex.name)
			}
			if ex.when != "" && ex.when != "cgroup1" && ex.when != "cgroup2" {
				return p, fmt.Errorf("%s:%d: when=%q: want cgroup1 or cgroup2", file, b.line, ex.when)
			}
			if strings.TrimSpace(ex.code) == "" {
				return p, fmt.Errorf("%s:%d: exercise %s has no commands", file, b.line, ex.name)
			}
			p.exercises = append(p.exercises, ex)
		}
	}
	for _, ex := range p.exercises {
		for _, l := range ex.expect {
			if re, ok := strings.CutPrefix(l, "re:"); ok {
				if _, err := regexp.Compile(re); err != nil {
					return p, fmt.Errorf("%s: exercise %s: expect %q: %w", file, ex.name, l, err)
				}
			}
		}
	}
	return p, nil
}

// onlyBlankBetween: nothing but blank lines between block a's closing
// fence and block b's opening one (lines is 0-based, the blocks' numbers
// 1-based).
func onlyBlankBetween(lines []string, a, b docBlock) bool {
	for i := a.end; i < b.line-1; i++ {
		if strings.TrimSpace(lines[i]) != "" {
			return false
		}
	}
	return true
}

// loadPages parses every docs/*.md, README.md first.
func loadPages(dir string) ([]docPage, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no pages in %s", dir)
	}
	slices.SortFunc(files, func(a, b string) int {
		switch {
		case filepath.Base(a) == "README.md":
			return -1
		case filepath.Base(b) == "README.md":
			return 1
		}
		return strings.Compare(a, b)
	})
	var pages []docPage
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		p, err := parsePage(filepath.Base(f), string(b))
		if err != nil {
			return nil, err
		}
		if len(p.exercises) == 0 {
			return nil, fmt.Errorf("%s has no exercise: every page teaches with at least one", p.file)
		}
		if len(p.setup) > 0 && p.file != "README.md" {
			return nil, fmt.Errorf("%s: only README.md may hold the setup block", p.file)
		}
		for _, ex := range p.exercises {
			if other, dup := seen[ex.name]; dup {
				return nil, fmt.Errorf("%s:%d: exercise name %s is taken in %s", p.file, ex.line, ex.name, other)
			}
			seen[ex.name] = p.file
		}
		pages = append(pages, p)
	}
	if pages[0].file != "README.md" || len(pages[0].setup) != 1 {
		return nil, fmt.Errorf("docs/README.md must exist and hold exactly one setup block")
	}
	return pages, nil
}

// matchExpect checks that want's lines appear in out in order, and
// returns those that do not (the first missing one and every one after).
func matchExpect(out string, want []string) []string {
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	i := 0
	for k, w := range want {
		found := false
		for ; i < len(lines); i++ {
			if lineMatches(lines[i], w) {
				found = true
				i++
				break
			}
		}
		if !found {
			return want[k:]
		}
	}
	return nil
}

func lineMatches(line, want string) bool {
	if re, ok := strings.CutPrefix(want, "re:"); ok {
		return regexp.MustCompile(re).MatchString(line)
	}
	return strings.Join(strings.Fields(line), " ") == strings.Join(strings.Fields(want), " ")
}

func TestDocsFormat(t *testing.T) {
	page := "# p\n\n```sh exercise name=a when=cgroup2\necho hi\n```\n\n```text expect\nhi\nre:^h\n```\n\n```sh\nnot run\n```\n"
	for _, tc := range []struct {
		name, text string
		err        string // part of the error; "" for none
	}{
		{"ok", page, ""},
		{"unclosed", "```sh exercise name=a\necho\n", "never closed"},
		{"no name", "```sh exercise\necho\n```\n", "exercise name"},
		{"bad when", "```sh exercise name=a when=v3\necho\n```\n", "want cgroup1 or cgroup2"},
		{"unknown attribute", "```sh exercise name=a after=b\necho\n```\n", "unknown attribute"},
		{"unknown word", "```sh exercize name=a\necho\n```\n", "unknown word"},
		{"stray expect", "```text expect\nhi\n```\n", "must follow its exercise"},
		{"prose between", "```sh exercise name=a\necho\n```\nthen\n```text expect\nhi\n```\n", "must follow its exercise"},
		{"two expects", "```sh exercise name=a\necho\n```\n```text expect\nhi\n```\n```text expect\nhi\n```\n", "must follow its exercise"},
		{"empty", "```sh exercise name=a\n\n```\n", "no commands"},
		{"bad regexp", "```sh exercise name=a\necho\n```\n```text expect\nre:(\n```\n", "expect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePage("p.md", tc.text)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("parsePage: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("parsePage: error %v, want one containing %q", err, tc.err)
			case tc.err == "":
				want := []exercise{{page: "p.md", name: "a", when: "cgroup2", code: "echo hi", expect: []string{"hi", "re:^h"}, line: 3}}
				if !slices.EqualFunc(p.exercises, want, func(a, b exercise) bool {
					return a.page == b.page && a.name == b.name && a.when == b.when && a.code == b.code && a.line == b.line && slices.Equal(a.expect, b.expect)
				}) {
					t.Fatalf("parsePage = %+v, want %+v", p.exercises, want)
				}
			}
		})
	}
	readme := "```sh setup\nIMG=x\n```\n```sh exercise name=r\ntrue\n```\n"
	for _, tc := range []struct {
		name  string
		pages map[string]string
		err   string
	}{
		{"ok", map[string]string{"README.md": readme, "a.md": "```sh exercise name=a\ntrue\n```\n"}, ""},
		{"page without exercise", map[string]string{"README.md": readme, "a.md": "# nothing to do\n"}, "a.md has no exercise"},
		{"name taken", map[string]string{"README.md": readme, "a.md": "```sh exercise name=r\ntrue\n```\n"}, "is taken in README.md"},
		{"no setup", map[string]string{"README.md": "```sh exercise name=r\ntrue\n```\n"}, "exactly one setup block"},
		{"setup elsewhere", map[string]string{"README.md": readme, "a.md": "```sh setup\nA=1\n```\n```sh exercise name=a\ntrue\n```\n"}, "only README.md"},
	} {
		t.Run("pages/"+tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for f, text := range tc.pages {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := loadPages(dir)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("loadPages: error %v, want one containing %q", err, tc.err)
			}
		})
	}
	out := "first\nCapEff:\t00000000a80425fb\n  3 mnt   1 sleep 1000\nlast\n"
	for _, tc := range []struct {
		want    []string
		missing int
	}{
		{[]string{"CapEff: 00000000a80425fb", "last"}, 0},
		{[]string{"re:^\\s*\\d+ mnt\\s+1 sleep", "last"}, 0},
		{[]string{"last", "first"}, 1}, // out of order
		{[]string{"CapEff: 0"}, 1},     // a prefix is no match
		{[]string{"re:^CapBnd"}, 1},
	} {
		if got := matchExpect(out, tc.want); len(got) != tc.missing {
			t.Errorf("matchExpect(%q) missed %q, want %d missing", tc.want, got, tc.missing)
		}
	}
}

// TestDocsLinks checks that every relative link of the pages names a file
// of the source tree, so that links into the code survive refactoring.
func TestDocsLinks(t *testing.T) {
	if _, err := os.Stat(filepath.Join(docsDir, "..", "go.mod")); err != nil {
		t.Skip("no source tree around docs/ (test/vm's payload carries the pages only)")
	}
	files, _ := filepath.Glob(filepath.Join(docsDir, "*.md"))
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(b), "\n") {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				if _, err := os.Stat(filepath.Join(docsDir, target)); err != nil {
					t.Errorf("%s:%d: link to %s: %v", filepath.Base(f), n+1, m[1], err)
				}
			}
		}
	}
}

// TestDocs runs every exercise of docs/*.md as a reader would: bash with
// minirun first in PATH, the README's setup block first, the demo image
// loaded under the name the pages use. Each exercise gets its own
// --root; all share one store. An exercise that fails, prints less than
// its expect block says, or leaves a container, a state dir, a monitor, a
// lease, a veth or a container's nftables rule behind fails its subtest.
// Exercises marked when=cgroup1 or when=cgroup2 run where
// /sys/fs/cgroup is of that kind (hybrid hosts are cgroup1 here, as
// minirun uses v1 there) and skip elsewhere.
func TestDocs(t *testing.T) {
	requireMinirun(t)
	stateFor(t)
	if !inSuiteNetns {
		t.Fatal("the exercises create bridges and nftables rules: they run only in the suite's own network namespace")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		testenv.SkipOrFail(t, "the exercises need bash: "+err.Error())
	}
	pages, err := loadPages(docsDir)
	if err != nil {
		t.Fatal(err)
	}
	setup := pages[0].setup[0]
	img := setupVar(setup, "IMG")
	if img == "" {
		t.Fatal("docs/README.md: the setup block sets no IMG=")
	}
	// The pages promise that `make demo` loads IMG; the demo script is not
	// in test/vm's payload, where this check has nothing to read.
	if b, err := os.ReadFile("demo.sh"); err == nil && !strings.Contains(string(b), "\nimage="+img+"\n") {
		t.Fatalf("docs/README.md says IMG=%s, but test/demo.sh loads another image", img)
	}
	store := t.TempDir()
	loadDemoImage(t, store, img)
	mode := "cgroup1"
	if cgroupV2() {
		mode = "cgroup2"
	}
	for _, p := range pages {
		t.Run(strings.TrimSuffix(p.file, ".md"), func(t *testing.T) {
			for _, ex := range p.exercises {
				t.Run(ex.name, func(t *testing.T) {
					if ex.when != "" && ex.when != mode {
						t.Skipf("%s only; /sys/fs/cgroup here is %s", ex.when, mode)
					}
					runExercise(t, bash, store, setup, ex)
				})
			}
		})
	}
}

// setupVar finds NAME=VALUE at the start of a line of the setup block.
func setupVar(setup, name string) string {
	for _, l := range strings.Split(setup, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// loadDemoImage loads into store, named ref, the image test/demo.sh builds
// for `make demo`: one layer with the host's static busybox and a link for
// each of its applets, /etc/passwd and /etc/group with root and user
// (1000), empty /proc, /sys, /dev, /root and a sticky /tmp; sh as the
// command, /root as the working directory. It is built here rather than
// by demo.sh, which needs GNU tar, so that it builds in test/vm too.
func loadDemoImage(t *testing.T, store, ref string) {
	t.Helper()
	bb, err := busyboxPath()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	files := []tr.File{
		tr.Dir("bin", 0o755),
		{Path: "bin/busybox", Mode: 0o755, Data: bin},
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			files = append(files, tr.Symlink("bin/"+a, "busybox"))
		}
	}
	files = append(files,
		tr.Dir("dev", 0o755),
		tr.Dir("etc", 0o755),
		tr.Reg("etc/group", "root:x:0:\nuser:x:1000:\n", 0o644),
		tr.Reg("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n", 0o644),
		tr.Dir("proc", 0o755),
		tr.Dir("root", 0o755),
		tr.Dir("sys", 0o755),
		tr.Dir("tmp", 0o777|fs.ModeSticky),
	)
	cfg := v1.Config{
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd:        []string{"sh"},
		WorkingDir: "/root",
		Labels:     map[string]string{"org.opencontainers.image.title": "minirun demo"},
	}
	im := tr.NewImage(t, [][]tr.File{files}, cfg, tr.BuildOptions{Format: tr.Docker, Compression: tr.Uncompressed})
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "busybox-image.tar")
	if err := tarball.WriteToFile(archive, tag, im.Image); err != nil {
		t.Fatalf("write %s: %v", archive, err)
	}
	if r := imageRT(t, store, "load", "-q", "-i", archive); r.code != 0 {
		t.Fatalf("load the demo image: %v", r)
	}
}

// runExercise runs one exercise in a directory of its own, checks its
// output, and cleans up after it.
func runExercise(t *testing.T, bash, store, setup string, ex exercise) {
	dir := t.TempDir()
	root := filepath.Join(suiteDir, "roots", fmt.Sprintf("docs-%s-%d", ex.name, rootSeq.Add(1)))
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{root, bin, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// minirun, as the reader runs it, with this exercise's --root.
	wrapper := fmt.Sprintf("#!/bin/sh\nexec '%s' --root '%s' \"$@\"\n", runtimePath, root)
	if err := os.WriteFile(filepath.Join(bin, "minirun"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, ex.name+".sh")
	body := "# docs/README.md, setup\n" + setup + "\n# docs/" + ex.page + ", exercise " + ex.name + "\n" + ex.code + "\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	links0, rules0, _ := netLeftovers()
	t.Cleanup(func() { cleanExercise(t, store, root, links0, rules0) })

	out, code, err := runScript(bash, script, dir, bin, store)
	t.Logf("docs/%s:%d, exercise %s: exit %d\n%s", ex.page, ex.line, ex.name, code, out)
	switch {
	case err != nil:
		t.Fatalf("exercise %s: %v", ex.name, err)
	case code != 0:
		t.Fatalf("exercise %s failed (exit %d): see its output above", ex.name, code)
	}
	if missing := matchExpect(out, ex.expect); len(missing) > 0 {
		t.Errorf("exercise %s: the output lacks, in this order, from %q on:\n\t%s", ex.name, missing[0], strings.Join(missing, "\n\t"))
	}
	if ids := strings.Fields(imageRTAt(t, root, store, "ps", "-aq")); len(ids) > 0 {
		t.Errorf("exercise %s left containers %v: end it with minirun rm -f", ex.name, ids)
	}
}

// runScript runs bash -euo pipefail script in dir, in a process group of
// its own, and returns its output (stdout and stderr together) and exit
// code. The output goes to a file, not a pipe: containers and monitors
// the exercise starts in the background inherit it.
func runScript(bash, script, dir, bin, store string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), exerciseTimeout)
	defer cancel()
	outPath := script + ".out"
	f, err := os.Create(outPath)
	if err != nil {
		return "", -1, err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", script)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"MINIRUN_STORE="+store,
		"TMPDIR="+filepath.Join(dir, "tmp"),
		"LC_ALL=C",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := startCmd(cmd); err != nil {
		return "", -1, err
	}
	werr := waitCmd(cmd)
	b, _ := os.ReadFile(outPath)
	if ctx.Err() != nil {
		return string(b), -1, fmt.Errorf("timed out after %v", exerciseTimeout)
	}
	if werr != nil && cmd.ProcessState == nil {
		return string(b), -1, werr
	}
	return string(b), cmd.ProcessState.ExitCode(), nil
}

// imageRTAt runs minirun with an exercise's --root and the store, and
// returns its stdout; failures are the test's.
func imageRTAt(t *testing.T, root, store string, args ...string) string {
	t.Helper()
	cmd := exec.Command(runtimePath, append([]string{"--root", root, "--store", store}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := startCmd(cmd); err != nil {
		t.Errorf("minirun %v: %v", args, err)
		return ""
	}
	if err := waitCmd(cmd); err != nil {
		t.Errorf("minirun %v: %v: %s", args, err, errb.String())
	}
	return out.String()
}

// cleanExercise removes whatever containers an exercise left (a failed
// one stops before its own cleanup), then fails the test if anything of
// them remains: a state dir, a process naming the store (a monitor), a
// lease, a veth or a container rule that was not there before it.
func cleanExercise(t *testing.T, store, root string, links0, rules0 []string) {
	if ids := strings.Fields(imageRTAt(t, root, store, "ps", "-aq")); len(ids) > 0 {
		imageRTAt(t, root, store, append([]string{"rm", "-f"}, ids...)...)
	}
	var left []string
	poll(5*time.Second, func() bool {
		left = nil
		for _, s := range stateDirs(root) {
			left = append(left, "state "+filepath.Join(root, s))
		}
		for _, p := range storeProcs(store) {
			left = append(left, fmt.Sprintf("process %d: %s", p.pid, p.cmdline))
		}
		left = append(left, newNetLeftovers(store, links0, rules0)...)
		return len(left) == 0
	})
	for _, l := range left {
		t.Errorf("left behind: %s", l)
	}
	for _, p := range storeProcs(store) {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
	if len(stateDirs(root)) == 0 {
		os.Remove(root)
	}
}
