// Package adbserver owns finding and starting the adb server the way the adb client does:
// ADB_SERVER_SOCKET (tcp:HOST:PORT or tcp:PORT) first, else ANDROID_ADB_SERVER_PORT on
// localhost, else 127.0.0.1:5037; a server that is not running is started with
// `adb -P PORT start-server`. Tests get a private server on a free port (ForTest) that is
// killed on cleanup, so they never touch the user's 5037.
package adbserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// DefaultAddr is where adb listens when nothing overrides it.
const DefaultAddr = "127.0.0.1:5037"

// Addr resolves the adb server address from the environment, as adb does.
func Addr() (string, error) { return addrFrom(os.Getenv) }

func addrFrom(getenv func(string) string) (string, error) {
	if s := getenv("ADB_SERVER_SOCKET"); s != "" {
		rest, ok := strings.CutPrefix(s, "tcp:")
		if !ok {
			return "", fmt.Errorf("ADB_SERVER_SOCKET=%q: only tcp:[HOST:]PORT is supported", s)
		}
		host, port := "127.0.0.1", rest
		if h, p, err := net.SplitHostPort(rest); err == nil {
			host, port = h, p
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return "", fmt.Errorf("ADB_SERVER_SOCKET=%q: bad port", s)
		}
		if host == "localhost" || host == "" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port), nil
	}
	if p := getenv("ANDROID_ADB_SERVER_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", fmt.Errorf("ANDROID_ADB_SERVER_PORT=%q: want a port number 1..65535", p)
		}
		return net.JoinHostPort("127.0.0.1", p), nil
	}
	return DefaultAddr, nil
}

// Version asks a running server for host:version.
func Version(ctx context.Context, addr string) (int, error) {
	resp, err := Query(ctx, addr, "host:version")
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(resp, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("adb server %s: bad version %q", addr, resp)
	}
	return int(v), nil
}

// Query sends one host service request and returns its length-prefixed answer.
func Query(ctx context.Context, addr, service string) (string, error) {
	c, err := Dial(ctx, addr, service)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return ReadHexString(c)
}

// Dial connects to the server, sends a request and checks OKAY/FAIL; the connection is
// closed when ctx ends, so callers can block on it safely.
func Dial(ctx context.Context, addr, service string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("adb server %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	if err := Request(c, service); err != nil {
		stop()
		_ = c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("adb %s: %w", service, ctx.Err())
		}
		return nil, err
	}
	return &ctxConn{Conn: c, stop: stop}, nil
}

type ctxConn struct {
	net.Conn
	stop  func() bool
	quick bool
}

// Read re-arms quick ACKs after each read when the stream asked for them (see QuickAck).
func (c *ctxConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.quick {
		quickAck(c.Conn)
	}
	return n, err
}

// QuickAck makes a connection from Dial acknowledge every segment at once, for streams whose
// arrival times matter (live test output).
func QuickAck(c net.Conn) {
	if cc, ok := c.(*ctxConn); ok {
		cc.quick = true
		quickAck(cc.Conn)
	}
}

func (c *ctxConn) Close() error { c.stop(); return c.Conn.Close() }

// Request writes one smart-socket request and reads its status.
func Request(c net.Conn, service string) error {
	if _, err := fmt.Fprintf(c, "%04x%s", len(service), service); err != nil {
		return fmt.Errorf("adb %s: %w", service, err)
	}
	var st [4]byte
	if _, err := io.ReadFull(c, st[:]); err != nil {
		return fmt.Errorf("adb %s: reading status: %w", service, err)
	}
	switch string(st[:]) {
	case "OKAY":
		return nil
	case "FAIL":
		msg, err := ReadHexString(c)
		if err != nil {
			return fmt.Errorf("adb %s: FAIL (unreadable message: %w)", service, err)
		}
		return &FailError{Service: service, Msg: msg}
	}
	return fmt.Errorf("adb %s: unexpected status %q", service, st[:])
}

// FailError is a FAIL answer from the adb server.
type FailError struct{ Service, Msg string }

func (e *FailError) Error() string { return fmt.Sprintf("adb %s: %s", e.Service, e.Msg) }

// ReadHexString reads a 4-hex-digit length and that many bytes.
func ReadHexString(r io.Reader) (string, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return "", fmt.Errorf("adb: reading length: %w", err)
	}
	n, err := strconv.ParseUint(string(l[:]), 16, 16)
	if err != nil {
		return "", fmt.Errorf("adb: bad length %q", l[:])
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("adb: reading %d bytes: %w", n, err)
	}
	return string(b), nil
}

// Ensure makes sure a server answers at addr, starting one with the adb binary (found on
// PATH) when nothing listens, as any adb command would.
func Ensure(ctx context.Context, addr string) error {
	if _, err := Version(ctx, addr); err == nil {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("adb server address %q: %w", addr, err)
	}
	bin, err := exec.LookPath("adb")
	if err != nil {
		return fmt.Errorf("adb server %s is not running and no adb binary is on PATH (apt-get install adb): %w", addr, err)
	}
	cmd := exec.CommandContext(ctx, bin, "-P", port, "start-server")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("adb -P %s start-server: %w: %s", port, err, strings.TrimSpace(string(out)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := Version(ctx, addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.Join(fmt.Errorf("adb server %s did not come up", addr), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
