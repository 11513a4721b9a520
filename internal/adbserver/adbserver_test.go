package adbserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestAddrFrom(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"default", nil, "127.0.0.1:5037", false},
		{"port", map[string]string{"ANDROID_ADB_SERVER_PORT": "5099"}, "127.0.0.1:5099", false},
		{"socket wins", map[string]string{"ANDROID_ADB_SERVER_PORT": "5099", "ADB_SERVER_SOCKET": "tcp:10.0.0.2:6000"}, "10.0.0.2:6000", false},
		{"socket port only", map[string]string{"ADB_SERVER_SOCKET": "tcp:6001"}, "127.0.0.1:6001", false},
		{"socket localhost", map[string]string{"ADB_SERVER_SOCKET": "tcp:localhost:6002"}, "127.0.0.1:6002", false},
		{"bad port", map[string]string{"ANDROID_ADB_SERVER_PORT": "x"}, "", true},
		{"unix socket", map[string]string{"ADB_SERVER_SOCKET": "localfilesystem:/tmp/a"}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := addrFrom(func(k string) string { return c.env[k] })
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("addrFrom = %q, %v; want %q, err=%v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestPrivateServerAndEnsure(t *testing.T) {
	s := ForTest(t)
	v, err := Version(context.Background(), s.Addr)
	if err != nil || v < 39 {
		t.Fatalf("version = %d, %v", v, err)
	}
	if err := Ensure(context.Background(), s.Addr); err != nil {
		t.Fatal(err)
	}
	if _, err := Query(context.Background(), s.Addr, "host:no-such-thing"); err == nil {
		t.Fatal("unknown host service succeeded")
	}
}

// TestEnsureStartsServer: with nothing listening, Ensure starts a server the way any adb
// command would (a daemon), which this test then kills through host:kill.
func TestEnsureStartsServer(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("ADB_MDNS", "0")
	if _, err := Version(context.Background(), addr); err == nil {
		t.Fatal("something already listens on the free port")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := Ensure(ctx, addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := net.Dial("tcp", addr); err == nil {
			fmt.Fprintf(c, "%04xhost:kill", len("host:kill"))
			io.ReadAll(c)
			c.Close()
		}
	})
	if v, err := Version(ctx, addr); err != nil || v == 0 {
		t.Fatalf("after Ensure: %d, %v", v, err)
	}
}

func TestDialHonoursContext(t *testing.T) {
	// A listener that accepts and never answers: Dial must give up when ctx ends.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Dial(ctx, l.Addr().String(), "host:version"); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("Dial = %v after %v", err, time.Since(start))
	}
}
