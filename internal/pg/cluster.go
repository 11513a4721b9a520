package pg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClusterConfig says where a managed cluster lives and how it runs.
type ClusterConfig struct {
	// Home is the cluster's root directory; data, socket, log and password live below it.
	Home string
	// Port is the loopback TCP port; 0 picks a free one on first start and keeps it.
	Port int
	// Fast trades durability for speed (fsync off); only test clusters set it.
	Fast bool
}

// Cluster is a private PostgreSQL cluster that fleetlens initialises, starts and stops itself
// from the PostgreSQL binaries installed on the machine. It never downloads anything.
type Cluster struct {
	cfg  ClusterConfig
	bins binaries
	who  runAs
}

const (
	superuser = "fleetlens"
	database  = "fleetlens"
	// initMarker is written after initdb and configuration succeed, so a data directory left
	// half-made by a killed initdb is recognised and rebuilt instead of failing forever.
	initMarker = "initialized"
)

// DefaultHome is $FLEETLENS_HOME, else ~/.local/share/fleetlens; as root (whose home the
// unprivileged server user cannot enter) it is /var/lib/fleetlens.
func DefaultHome() string {
	if h := os.Getenv("FLEETLENS_HOME"); h != "" {
		return h
	}
	if os.Geteuid() == 0 {
		return "/var/lib/fleetlens"
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "fleetlens")
	}
	return filepath.Join(os.TempDir(), "fleetlens")
}

// NewCluster checks the binaries and the identity the server will run as.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Home == "" {
		return nil, errors.New("managed cluster: Home is empty")
	}
	abs, err := filepath.Abs(cfg.Home)
	if err != nil {
		return nil, fmt.Errorf("managed cluster home %q: %w", cfg.Home, err)
	}
	cfg.Home = filepath.Join(abs, "pg")
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	who, err := serverIdentity()
	if err != nil {
		return nil, err
	}
	return &Cluster{cfg: cfg, bins: bins, who: who}, nil
}

func (c *Cluster) dataDir() string   { return filepath.Join(c.cfg.Home, "data") }
func (c *Cluster) socketDir() string { return filepath.Join(c.cfg.Home, "run") }
func (c *Cluster) logFile() string   { return filepath.Join(c.cfg.Home, "run", "server.log") }
func (c *Cluster) pwFile() string    { return filepath.Join(c.cfg.Home, "password") }
func (c *Cluster) portFile() string  { return filepath.Join(c.cfg.Home, "port") }

// Home is the directory the cluster lives in.
func (c *Cluster) Home() string { return c.cfg.Home }

// LogFile is the server's log, useful in error messages.
func (c *Cluster) LogFile() string { return c.logFile() }

// Initialized reports whether initdb completed for this cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.cfg.Home, initMarker))
	return err == nil
}

// init runs initdb once. It recovers from a half-initialised data directory by removing it.
func (c *Cluster) init(ctx context.Context) error {
	if c.Initialized() {
		return c.checkOwner()
	}
	// Directories we create must let the server user through when it is not us.
	perm := os.FileMode(0o700)
	if c.who.asRoot {
		perm = 0o711
	}
	if err := os.MkdirAll(c.cfg.Home, perm); err != nil {
		return fmt.Errorf("create %s: %w", c.cfg.Home, err)
	}
	if err := c.who.checkReachable(c.cfg.Home); err != nil {
		return err
	}
	if _, err := os.Stat(c.dataDir()); err == nil {
		slog.Warn("removing half-initialised PostgreSQL data directory (initdb did not finish)", "dir", c.dataDir())
		if err := os.RemoveAll(c.dataDir()); err != nil {
			return fmt.Errorf("remove half-initialised %s: %w", c.dataDir(), err)
		}
	}
	password, err := c.password()
	if err != nil {
		return err
	}
	// initdb reads the superuser password from a file the server user can read; it is removed
	// right after so the only copy left is ours (mode 0600).
	tmpPw := filepath.Join(c.cfg.Home, "initdb-pw")
	if err := os.WriteFile(tmpPw, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(tmpPw)
	for _, d := range []string{c.dataDir(), c.socketDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := c.who.own(tmpPw); err != nil {
		return fmt.Errorf("chown %s to %s: %w", tmpPw, c.who.name, err)
	}
	for _, d := range []string{c.dataDir(), c.socketDir()} {
		if err := c.who.own(d); err != nil {
			return fmt.Errorf("chown %s to %s: %w", d, c.who.name, err)
		}
	}
	if c.who.asRoot {
		// The server user must enter Home to reach data and socket directories.
		if err := os.Chmod(c.cfg.Home, 0o711); err != nil {
			return err
		}
	}
	args := []string{"-D", c.dataDir(), "-U", superuser, "--pwfile", tmpPw, "-E", "UTF8", "--no-locale",
		"--auth-local=trust", "--auth-host=scram-sha-256"}
	if c.cfg.Fast {
		args = append(args, "--no-sync")
	}
	cmd := c.who.command(c.bins.initdb, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := runCtx(ctx, cmd); err != nil {
		return fmt.Errorf("initdb %s failed: %w\n%s", c.dataDir(), err, lastLines(out.String(), 8))
	}
	conf := fmt.Sprintf("\n# fleetlens managed cluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nmax_connections = 300\nlogging_collector = off\n", c.socketDir())
	if c.cfg.Fast {
		conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
	}
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("configure cluster: %w", err)
	}
	_, werr := f.WriteString(conf)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("configure cluster: %w", werr)
	}
	return os.WriteFile(filepath.Join(c.cfg.Home, initMarker), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// checkOwner gives a clear error when the data directory belongs to someone the server
// cannot run as (PostgreSQL would refuse with a less helpful message).
func (c *Cluster) checkOwner() error {
	st, err := os.Stat(c.dataDir())
	if err != nil {
		return fmt.Errorf("data directory %s: %w (remove %s to start afresh)", c.dataDir(), err, c.cfg.Home)
	}
	uid := int(st.Sys().(*syscall.Stat_t).Uid)
	if uid != c.who.uid {
		return fmt.Errorf("data directory %s is owned by uid %d, but the server runs as %s (uid %d): run fleetlens as that user, or set FLEETLENS_HOME to another directory", c.dataDir(), uid, c.who.name, c.who.uid)
	}
	return nil
}

func (c *Cluster) password() (string, error) {
	if b, err := os.ReadFile(c.pwFile()); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 18)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(buf)
	if err := os.WriteFile(c.pwFile(), []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", c.pwFile(), err)
	}
	return pw, nil
}

// Port is the cluster's TCP port (0 before the first start).
func (c *Cluster) Port() int {
	b, err := os.ReadFile(c.portFile())
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

func (c *Cluster) choosePort() (int, error) {
	if p := c.Port(); p != 0 && c.cfg.Port == 0 {
		return p, nil
	}
	p := c.cfg.Port
	if p == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		p = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	return p, os.WriteFile(c.portFile(), []byte(strconv.Itoa(p)+"\n"), 0o644)
}

// ForgetPort drops the remembered port so the next Start picks a free one.
func (c *Cluster) ForgetPort() error {
	if err := os.Remove(c.portFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// DSN is the superuser connection string for the fleetlens database.
func (c *Cluster) DSN() string { return c.DSNFor(database) }

// DSNFor is the superuser connection string for another database of the cluster.
func (c *Cluster) DSNFor(db string) string {
	pw, _ := c.password()
	u := url.URL{Scheme: "postgres", User: url.UserPassword(superuser, pw), Host: "127.0.0.1:" + strconv.Itoa(c.Port()), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Start initialises the cluster if needed and starts the server; starting a running cluster
// is a no-op. It waits until the server accepts connections and the database exists.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.init(ctx); err != nil {
		return err
	}
	st := c.Status(ctx)
	if st.Running {
		return nil
	}
	port, err := c.choosePort()
	if err != nil {
		return err
	}
	if err := waitPortFree(ctx, port, 5*time.Second); err != nil {
		return err
	}
	var lastErr error
	// A postmaster killed with -9 leaves backends that hold its shared memory for a moment;
	// PostgreSQL then refuses to start, so retry briefly instead of failing.
	for attempt := 0; attempt < 5; attempt++ {
		cmd := c.who.command(c.bins.pgctl, "start", "-D", c.dataDir(), "-w", "-t", "60", "-l", c.logFile(),
			"-o", fmt.Sprintf("-p %d", port))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if lastErr = runCtx(ctx, cmd); lastErr == nil {
			break
		}
		lastErr = fmt.Errorf("start PostgreSQL in %s: %w\n%s\n%s", c.dataDir(), lastErr, lastLines(out.String(), 4), lastLines(readFile(c.logFile()), 6))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 300 * time.Millisecond):
		}
	}
	if lastErr != nil {
		return lastErr
	}
	return c.ensureDatabase(ctx)
}

func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.DSNFor("postgres"))
	if err != nil {
		return fmt.Errorf("connect to the new cluster on port %d: %w", c.Port(), err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("check database %s: %w", database, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+database); err != nil {
			return fmt.Errorf("create database %s: %w", database, err)
		}
	}
	return nil
}

// Stop shuts the server down (fast mode: rolls back open transactions, checkpoints).
// Stopping a stopped cluster is a no-op.
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.Status(ctx).Running {
		return nil
	}
	cmd := c.who.command(c.bins.pgctl, "stop", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "60")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := runCtx(ctx, cmd); err != nil {
		return fmt.Errorf("stop PostgreSQL in %s: %w\n%s", c.dataDir(), err, lastLines(out.String(), 4))
	}
	return nil
}

// Status is what the cluster is doing, told from the postmaster's pid file and a live probe,
// so a postmaster killed with -9 shows as stopped (with a stale pid file), not as running.
type Status struct {
	Initialized bool
	Running     bool // postmaster alive and accepting connections
	PID         int  // postmaster pid from postmaster.pid (0 if none)
	Stale       bool // pid file present but that process is gone
	Port        int
	Home        string
	Detail      string // one line for humans
}

// Status inspects the cluster without changing it.
func (c *Cluster) Status(ctx context.Context) Status {
	st := Status{Initialized: c.Initialized(), Port: c.Port(), Home: c.cfg.Home}
	if !st.Initialized {
		st.Detail = "not initialised (run `fleetlens db start`)"
		return st
	}
	pidText, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		st.Detail = "stopped"
		return st
	}
	st.PID, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidText), "\n", 2)[0]))
	if !postmasterAlive(st.PID) {
		st.Stale = true
		st.Detail = fmt.Sprintf("stopped: postmaster %d is gone (killed?) but left its pid file; `fleetlens db start` recovers", st.PID)
		return st
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(pctx, c.DSNFor("postgres"))
	if err != nil {
		st.Detail = fmt.Sprintf("postmaster %d is alive but not accepting connections on port %d: %v", st.PID, st.Port, err)
		return st
	}
	conn.Close(pctx)
	st.Running = true
	st.Detail = fmt.Sprintf("running: pid %d, 127.0.0.1:%d, data %s", st.PID, st.Port, c.dataDir())
	return st
}

// waitPortFree waits briefly for port to be free: a postmaster killed a moment ago may still
// be exiting with its listening socket open, and that is not "another program".
func waitPortFree(ctx context.Context, port int, patience time.Duration) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(patience)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			return l.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d on 127.0.0.1 is in use by another program: stop it, or run `fleetlens db start --port 0` to move the cluster to a free port", port)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// postmasterAlive tells whether pid is a live postgres process. A killed postmaster whose
// parent does not reap it lingers as a zombie (kill(pid, 0) still succeeds), and a pid may
// be reused by another program, so look at /proc rather than trusting the pid file.
func postmasterAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no procfs: best effort
	}
	// Format: pid (comm) state ...; comm may contain spaces, so split after the last ')'.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || fields[0] == "Z" || fields[0] == "X" {
		return false
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.Contains(string(cmdline), "postgres")
}

func runCtx(ctx context.Context, cmd interface {
	Start() error
	Wait() error
}) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// pg_ctl keeps going on its own; we stop waiting for it.
		return ctx.Err()
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
