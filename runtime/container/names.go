package container

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
)

// Names are docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// A generated name is an adjective and a noun, as docker makes them
// ("quirky_turing"); these are words of the kernel's.
var (
	adjectives = []string{"atomic", "blocking", "cached", "dirty", "eager", "frozen", "idle", "lazy",
		"mapped", "nested", "pinned", "private", "quiet", "shared", "sleepy", "slave", "sticky", "zombie"}
	nouns = []string{"cgroup", "clone", "dentry", "epoll", "futex", "inode", "kthread", "mount",
		"namespace", "overlay", "pidfd", "pivot", "seccomp", "signal", "socket", "tmpfs", "veth", "whiteout"}
)

func pick(words []string) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	return words[n.Int64()]
}

// uniqueName returns want, checked, or a generated name no container has.
// The caller holds Manager.lock.
func (m *Manager) uniqueName(want string) (string, error) {
	recs, err := m.Records()
	if err != nil {
		return "", err
	}
	taken := map[string]string{}
	for _, r := range recs {
		taken[r.Name] = r.ID
	}
	if want != "" {
		if !namePattern.MatchString(want) {
			return "", fmt.Errorf("invalid container name %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", want)
		}
		if id, ok := taken[want]; ok {
			return "", fmt.Errorf("%w: %q is used by container %s (remove or rename it)", ErrNameInUse, want, id[:12])
		}
		return want, nil
	}
	for i := 0; ; i++ {
		name := pick(adjectives) + "_" + pick(nouns)
		if i > 20 {
			name += fmt.Sprint(i)
		}
		if _, ok := taken[name]; !ok {
			return name, nil
		}
	}
}
