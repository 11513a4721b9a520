package pg

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// runAs is the unprivileged identity the server runs under. PostgreSQL refuses to run as
// root, so when fleetlens itself runs as root (CI does) the server runs as the "postgres"
// system user that Debian's package creates; otherwise it runs as the invoking user.
type runAs struct {
	name     string
	uid, gid int
	groups   []int
	asRoot   bool // fleetlens is root and switches identity for server processes
}

func serverIdentity() (runAs, error) {
	if os.Geteuid() != 0 {
		u, _ := user.Current()
		name := strconv.Itoa(os.Geteuid())
		if u != nil {
			name = u.Username
		}
		return runAs{name: name, uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runAs{}, fmt.Errorf("running as root, but PostgreSQL refuses to run as root and there is no 'postgres' user to run it as: apt-get install -y postgresql creates one (or run fleetlens as an ordinary user)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	r := runAs{name: "postgres", uid: uid, gid: gid, asRoot: true}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.Atoi(g); err == nil {
				r.groups = append(r.groups, n)
			}
		}
	}
	return r, nil
}

// command builds an exec.Cmd that runs as the server identity.
func (r runAs) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if r.asRoot {
		groups := make([]uint32, len(r.groups))
		for i, g := range r.groups {
			groups[i] = uint32(g)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: groups}}
		cmd.Env = append(os.Environ(), "HOME=/tmp")
	}
	// The server must not inherit our terminal's signals (Ctrl-C on `fleetlens demo` would
	// otherwise kill postgres before we stop it cleanly).
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	return cmd
}

// own makes path owned by the server identity (no-op unless we are root).
func (r runAs) own(path string) error {
	if !r.asRoot {
		return nil
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, r.uid, r.gid)
	})
}

// checkReachable verifies the server identity can traverse every ancestor of dir, so that the
// failure is ours and clear instead of an opaque "permission denied" from initdb.
func (r runAs) checkReachable(dir string) error {
	if !r.asRoot {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check %s: %w", p, err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		mode := st.Mode().Perm()
		ok := mode&0o001 != 0 ||
			(int(sys.Uid) == r.uid && mode&0o100 != 0) ||
			(r.inGroup(int(sys.Gid)) && mode&0o010 != 0)
		if !ok {
			return fmt.Errorf("the PostgreSQL server runs as user %q, which cannot enter %s (mode %v): set FLEETLENS_HOME to a directory outside it, e.g. /var/lib/fleetlens", r.name, p, mode)
		}
		if p == "/" {
			return nil
		}
	}
}

func (r runAs) inGroup(gid int) bool {
	if gid == r.gid {
		return true
	}
	for _, g := range r.groups {
		if g == gid {
			return true
		}
	}
	return false
}
