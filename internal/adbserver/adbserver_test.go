package adbserver

import (
	"context"
	"testing"
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
