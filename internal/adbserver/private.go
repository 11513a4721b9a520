package adbserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Server is a private adb server this process started and owns.
type Server struct {
	Addr string
	Port int
	Home string // HOME of the server (its adbkey lives in Home/.android)
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPrivate runs `adb -P PORT nodaemon server` on a free port with its own HOME, in the
// foreground so Stop can kill exactly it; it also dies with this process (see spawn).
func StartPrivate(ctx context.Context, home string) (*Server, error) {
	bin, err := exec.LookPath("adb")
	if err != nil {
		return nil, fmt.Errorf("adb binary not on PATH (apt-get install adb): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(home, ".android"), 0o700); err != nil {
		return nil, err
	}
	// Generate the host key first: adb 29 creating it at server start (and watching it with
	// inotify) has been seen to crash the server when devices connect at once.
	if key := filepath.Join(home, ".android", "adbkey"); !exists(key) {
		if out, err := exec.CommandContext(ctx, bin, "keygen", key).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("adb keygen %s: %w: %s", key, err, out)
		}
	}
	log, err := os.Create(filepath.Join(home, "adb-server.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Home: home, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "-P", strconv.Itoa(port), "nodaemon", "server")
	s.cmd.Env = s.Env()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.spawn(); err != nil {
		return nil, fmt.Errorf("start adb server on %d: %w", port, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := Version(ctx, s.Addr); err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("adb server on %d exited at start; see %s", port, log.Name())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("adb server on %d did not answer within 20s", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spawn starts the server from a goroutine locked to its OS thread for the server's whole
// life: Pdeathsig fires when the *thread* that forked dies, so the thread must outlive the
// child, and the kernel then kills the server if this process dies (a test binary killed by
// -timeout leaves no server behind).
func (s *Server) spawn() error {
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	done := s.done
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = s.cmd.Wait()
		close(done)
	}()
	return <-started
}

// Env is the environment adb clients need to reach this server.
func (s *Server) Env() []string {
	return append(os.Environ(), "HOME="+s.Home, "ANDROID_ADB_SERVER_PORT="+strconv.Itoa(s.Port), "ADB_MDNS=0", "ADB_MDNS_AUTO_CONNECT=0")
}

// Command builds an adb CLI invocation against this server.
func (s *Server) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "adb", append([]string{"-P", strconv.Itoa(s.Port)}, args...)...)
	cmd.Env = s.Env()
	return cmd
}

// PID is the server's process id (for RSS measurements).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop kills the server process group and waits for it.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// Restart kills the server and starts a new one on the same port (an "adb server restarted
// mid-run" fault).
func (s *Server) Restart(ctx context.Context) error {
	s.Stop()
	bin, _ := exec.LookPath("adb")
	s.done = make(chan struct{})
	s.cmd = exec.Command(bin, "-P", strconv.Itoa(s.Port), "nodaemon", "server")
	s.cmd.Env = s.Env()
	if err := s.spawn(); err != nil {
		return err
	}
	for i := 0; i < 200; i++ {
		if _, err := Version(ctx, s.Addr); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("adb server on %d did not come back", s.Port)
}

// Pause stops the server process (SIGSTOP) without closing its socket: the kernel still
// accepts connections and requests, but nothing answers — a stalled adb server, for tests
// that a caller's deadline holds. Resume undoes it; Stop kills a paused server too.
func (s *Server) Pause() error { return syscall.Kill(s.cmd.Process.Pid, syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return syscall.Kill(s.cmd.Process.Pid, syscall.SIGCONT) }

// ForTest starts a private server for one test and stops it on cleanup.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartPrivate(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatalf("adb server: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
