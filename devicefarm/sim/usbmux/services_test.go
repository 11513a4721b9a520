package usbmux_test

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/danielpaulus/go-ios/ios"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
)

// session opens lockdown, starts a session and returns the TLS connection and its pair record.
func session(t *testing.T, srv *usbmux.Server, d *usbmux.Device) (*tls.Conn, ios.PairRecord) {
	t.Helper()
	c, rec := startSession(t, srv, d)
	return clientTLS(t, c, rec), rec
}

// startSession opens lockdown and starts a session with d's pair record, returning the
// connection before the TLS handshake the device now expects.
func startSession(t *testing.T, srv *usbmux.Server, d *usbmux.Device) (net.Conn, ios.PairRecord) {
	t.Helper()
	rec, err := ios.ReadPairRecord(d.UDID())
	if err != nil {
		t.Fatal(err)
	}
	c := lockdown(t, srv, d)
	ldSend(t, c, req(map[string]any{"Request": "StartSession", "HostID": rec.HostID, "SystemBUID": rec.SystemBUID}))
	if m := ldRecv(t, c); m["EnableSessionSSL"] != true {
		t.Fatalf("StartSession: %v", m)
	}
	return c, rec
}

func clientTLS(t *testing.T, c net.Conn, rec ios.PairRecord) *tls.Conn {
	t.Helper()
	cert, err := tls.X509KeyPair(rec.HostCertificate, rec.HostPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	return tc
}

// service starts name through lockdown and connects to it over TLS.
func service(t *testing.T, srv *usbmux.Server, d *usbmux.Device, name string) *tls.Conn {
	t.Helper()
	ld, rec := session(t, srv, d)
	ldSend(t, ld, req(map[string]any{"Request": "StartService", "Service": name}))
	m := ldRecv(t, ld)
	port, ok := m["Port"].(uint64)
	if !ok || m["EnableServiceSSL"] != true {
		t.Fatalf("StartService %s: %v", name, m)
	}
	r := dialRaw(t, srv)
	r.send(1, map[string]any{"MessageType": "Connect", "DeviceID": d.ID(), "PortNumber": int(ios.Ntohs(uint16(port)))})
	if m, _, ok := r.recv(); !ok || number(m) != 0 {
		t.Fatalf("connect to %s: %v", name, m)
	}
	// a service port is one-shot, as lockdownd's are
	r2 := dialRaw(t, srv)
	r2.send(1, map[string]any{"MessageType": "Connect", "DeviceID": d.ID(), "PortNumber": int(ios.Ntohs(uint16(port)))})
	if m, _, _ := r2.recv(); number(m) != usbmux.ResultConnRefused {
		t.Fatalf("second connect to a one-shot port: %v", m)
	}
	return clientTLS(t, r.c, rec)
}

func TestLockdownSessionErrors(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	tc, rec := session(t, srv, d)
	tests := []struct {
		name string
		req  map[string]any
		want string
	}{
		{"second session", map[string]any{"Request": "StartSession", "HostID": rec.HostID}, "SessionActive"},
		{"unknown service", map[string]any{"Request": "StartService", "Service": "com.apple.nope"}, "InvalidService"},
		{"missing service", map[string]any{"Request": "StartService"}, "MissingService"},
		{"wrong session id", map[string]any{"Request": "StopSession", "SessionID": "WRONG"}, "InvalidSessionID"},
		{"private value in session", map[string]any{"Request": "GetValue", "Key": "SerialNumber"}, ""},
		{"unknown domain", map[string]any{"Request": "GetValue", "Domain": "com.apple.nope"}, "MissingValue"},
		{"battery domain", map[string]any{"Request": "GetValue", "Domain": "com.apple.mobile.battery", "Key": "BatteryCurrentCapacity"}, ""},
	}
	for _, tc2 := range tests {
		t.Run(tc2.name, func(t *testing.T) {
			ldSend(t, tc, req(tc2.req))
			m := ldRecv(t, tc)
			if got, _ := m["Error"].(string); got != tc2.want {
				t.Fatalf("reply %v, want Error %q", m, tc2.want)
			}
		})
	}
}

func TestLockdownOversizedMessageDropsOnlyThatClient(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	c := lockdown(t, srv, d)
	_, _ = c.Write([]byte{0xff, 0xff, 0xff, 0xff})
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("server kept reading a 4 GiB message")
	}
	if _, err := ios.GetValues(entry(t, d.UDID())); err != nil {
		t.Fatalf("device disturbed: %v", err)
	}
}

func TestZipConduitGarbage(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	c := service(t, srv, d, "com.apple.streaming_zip_conduit")
	ldSend(t, c, req(map[string]any{"MediaSubdir": "PublicStaging/x.ipa", "InstallOptionsDictionary": map[string]any{}}))
	_, _ = c.Write([]byte("this is not a zip stream at all"))
	m := ldRecv(t, c)
	pd, _ := m["InstallProgressDict"].(map[string]any)
	if pd["Error"] != "PackageExtractionFailed" {
		t.Fatalf("reply %v", m)
	}
	if len(d.Apps()) != 0 {
		t.Fatal("garbage installed an app")
	}
}

func TestServiceBadRequests(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	t.Run("installation_proxy unknown command", func(t *testing.T) {
		c := service(t, srv, d, "com.apple.mobile.installation_proxy")
		ldSend(t, c, req(map[string]any{"Command": "Frobnicate"}))
		if m := ldRecv(t, c); m["Error"] != "UnknownCommand" {
			t.Fatalf("%v", m)
		}
		ldSend(t, c, []byte("not a plist"))
		if m := ldRecv(t, c); m["Error"] != "InvalidRequest" {
			t.Fatalf("%v", m)
		}
		ldSend(t, c, req(map[string]any{"Command": "Lookup", "ClientOptions": map[string]any{"BundleIDs": []string{"com.none"}}}))
		if m := ldRecv(t, c); m["Status"] != "Complete" {
			t.Fatalf("connection not usable after bad requests: %v", m)
		}
	})
	t.Run("diagnostics unknown request", func(t *testing.T) {
		c := service(t, srv, d, "com.apple.mobile.diagnostics_relay")
		ldSend(t, c, req(map[string]any{"Request": "Frobnicate"}))
		if m := ldRecv(t, c); m["Status"] != "UnknownRequest" {
			t.Fatalf("%v", m)
		}
	})
	t.Run("afc", func(t *testing.T) {
		c := service(t, srv, d, "com.apple.crashreportcopymobile")
		tests := []struct {
			name   string
			op     uint64
			header []byte
			want   uint64
		}{
			{"open missing", 0x0D, append(le64(1), []byte("nope.ips\x00")...), 8},
			{"open for write", 0x0D, append(le64(3), []byte("x.ips\x00")...), 10},
			{"remove missing", 0x08, []byte("nope.ips"), 8},
			{"mkdir", 0x09, []byte("dir\x00"), 10},
			{"read bad handle", 0x0F, append(le64(99), le64(10)...), 7},
			{"unknown op", 0x77, nil, 15},
		}
		for i, tc := range tests {
			writeAFCPacket(t, c, uint64(i+1), tc.op, tc.header)
			op, hdr := readAFCPacket(t, c)
			if op != 1 || len(hdr) < 8 || binary.LittleEndian.Uint64(hdr) != tc.want {
				t.Errorf("%s: op %d status %v, want status %d", tc.name, op, hdr, tc.want)
			}
		}
		_, _ = c.Write(make([]byte, 40)) // bad magic: the connection is dropped
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("AFC kept a client that sent a bad magic")
		}
	})
}

func le64(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

func writeAFCPacket(t *testing.T, w io.Writer, num, op uint64, header []byte) {
	b := append(le64(0x4141504c36414643), le64(uint64(40+len(header)))...)
	b = append(b, le64(uint64(40+len(header)))...)
	b = append(b, le64(num)...)
	b = append(b, le64(op)...)
	if _, err := w.Write(append(b, header...)); err != nil {
		t.Fatal(err)
	}
}

func readAFCPacket(t *testing.T, r io.Reader) (uint64, []byte) {
	h := make([]byte, 40)
	if _, err := io.ReadFull(r, h); err != nil {
		t.Fatal(err)
	}
	entire, this := binary.LittleEndian.Uint64(h[8:]), binary.LittleEndian.Uint64(h[16:])
	rest := make([]byte, entire-40)
	if _, err := io.ReadFull(r, rest); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(h[32:]), rest[:this-40]
}
