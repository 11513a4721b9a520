package pg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrPostgresMissing means no PostgreSQL server binaries were found on this machine.
var ErrPostgresMissing = errors.New("PostgreSQL server binaries not found")

// binaries holds the absolute paths of the server programs fleetlens drives.
type binaries struct {
	initdb, pgctl, postgres string
}

// findBinaries looks on PATH first, then in Debian's versioned directories
// /usr/lib/postgresql/*/bin (newest first), because Debian puts initdb and pg_ctl only there.
func findBinaries() (binaries, error) {
	dirs := []string{}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { return pgMajor(versioned[i]) > pgMajor(versioned[j]) })
	dirs = append(dirs, versioned...)
	for _, d := range dirs {
		b := binaries{
			initdb:   filepath.Join(d, "initdb"),
			pgctl:    filepath.Join(d, "pg_ctl"),
			postgres: filepath.Join(d, "postgres"),
		}
		if isExecutable(b.initdb) && isExecutable(b.pgctl) && isExecutable(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, fmt.Errorf("%w: initdb and pg_ctl are neither on PATH nor under /usr/lib/postgresql/*/bin; install them with: apt-get install -y postgresql", ErrPostgresMissing)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(binDir)), ".")[0])
	return n
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
