package usbmux_test

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/danielpaulus/go-ios/ios"
	"howett.net/plist"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
)

type rawMux struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, srv *usbmux.Server) *rawMux {
	t.Helper()
	c, err := net.Dial("unix", strings.TrimPrefix(srv.SocketAddress(), "UNIX://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawMux{t, c}
}

func (r *rawMux) sendRaw(version, typ, tag uint32, body []byte) {
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(16+len(body)))
	binary.LittleEndian.PutUint32(h[4:], version)
	binary.LittleEndian.PutUint32(h[8:], typ)
	binary.LittleEndian.PutUint32(h[12:], tag)
	// A write may fail when the server already dropped us; recv then reports it.
	_, _ = r.c.Write(append(h[:], body...))
}

func (r *rawMux) send(tag uint32, msg map[string]any) {
	b, _ := plist.Marshal(msg, plist.XMLFormat)
	r.sendRaw(1, 8, tag, b)
}

// recv returns the reply and its tag; ok=false when the server hung up.
func (r *rawMux) recv() (map[string]any, uint32, bool) {
	var h [16]byte
	if _, err := io.ReadFull(r.c, h[:]); err != nil {
		return nil, 0, false
	}
	body := make([]byte, binary.LittleEndian.Uint32(h[0:])-16)
	if _, err := io.ReadFull(r.c, body); err != nil {
		return nil, 0, false
	}
	var m map[string]any
	if _, err := plist.Unmarshal(body, &m); err != nil {
		r.t.Fatalf("reply is not a plist: %v", err)
	}
	return m, binary.LittleEndian.Uint32(h[12:]), true
}

func number(m map[string]any) int {
	n, _ := m["Number"].(uint64)
	if m["MessageType"] != "Result" {
		return -1
	}
	return int(n)
}

func TestUsbmuxBadInput(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	tests := []struct {
		name       string
		send       func(r *rawMux)
		wantResult int  // -1: no reply expected
		wantClosed bool // server drops the client after the reply
	}{
		{"header length below 16", func(r *rawMux) {
			_, _ = r.c.Write([]byte{4, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0})
		}, -1, true},
		{"header length above 1 MiB", func(r *rawMux) {
			_, _ = r.c.Write([]byte{0, 0, 0, 0x10, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0})
		}, -1, true},
		{"binary protocol version 0", func(r *rawMux) { r.sendRaw(0, 3, 7, []byte{1, 2, 3, 4}) }, usbmux.ResultBadVersion, false},
		{"body not a plist", func(r *rawMux) { r.sendRaw(1, 8, 7, []byte("MessageType = ListDevices;")) }, usbmux.ResultBadCommand, true},
		{"body garbage", func(r *rawMux) { r.sendRaw(1, 8, 7, []byte{0xff, 0xfe, 0x00}) }, usbmux.ResultBadCommand, true},
		{"unknown message", func(r *rawMux) { r.send(7, map[string]any{"MessageType": "Frobnicate"}) }, usbmux.ResultBadCommand, false},
		{"connect to closed port", func(r *rawMux) {
			r.send(7, map[string]any{"MessageType": "Connect", "DeviceID": d.ID(), "PortNumber": int(ios.Ntohs(5555))})
		}, usbmux.ResultConnRefused, false},
		{"connect to unknown device", func(r *rawMux) {
			r.send(7, map[string]any{"MessageType": "Connect", "DeviceID": 999, "PortNumber": int(ios.Ntohs(62078))})
		}, usbmux.ResultBadDevice, false},
		{"pair record of unknown device", func(r *rawMux) {
			r.send(7, map[string]any{"MessageType": "ReadPairRecord", "PairRecordID": "nope"})
		}, usbmux.ResultBadDevice, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, srv)
			tc.send(r)
			if tc.wantResult >= 0 {
				m, tag, ok := r.recv()
				if !ok || number(m) != tc.wantResult || tag != 7 {
					t.Fatalf("reply %v tag %d ok %v, want Result %d tag 7", m, tag, ok, tc.wantResult)
				}
			}
			r.send(8, map[string]any{"MessageType": "ListDevices"})
			m, _, ok := r.recv()
			if tc.wantClosed && ok {
				t.Fatalf("server kept the client after bad input: %v", m)
			}
			if !tc.wantClosed && (!ok || m["DeviceList"] == nil) {
				t.Fatalf("client not served after bad input: %v %v", m, ok)
			}
			// nothing else disturbed
			if l, err := ios.ListDevices(); err != nil || len(l.DeviceList) != 1 {
				t.Fatalf("fresh client: %v %v", l, err)
			}
		})
	}
}

// lockdown opens a plaintext lockdown connection through the mux.
func lockdown(t *testing.T, srv *usbmux.Server, d *usbmux.Device) net.Conn {
	r := dialRaw(t, srv)
	r.send(1, map[string]any{"MessageType": "Connect", "DeviceID": d.ID(), "PortNumber": int(ios.Ntohs(62078))})
	if m, _, ok := r.recv(); !ok || number(m) != 0 {
		t.Fatalf("connect lockdown: %v", m)
	}
	return r.c
}

func ldSend(t *testing.T, w io.Writer, body []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(body)))
	if _, err := w.Write(append(l[:], body...)); err != nil {
		t.Fatal(err)
	}
}

func ldRecv(t *testing.T, r io.Reader) map[string]any {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		t.Fatalf("lockdown reply: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(l[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if _, err := plist.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func req(m map[string]any) []byte {
	b, _ := plist.Marshal(m, plist.XMLFormat)
	return b
}

func TestLockdownErrors(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	c := lockdown(t, srv, d)
	tests := []struct {
		name string
		body []byte
		want string // Error value; "" for success
	}{
		{"query type", req(map[string]any{"Request": "QueryType"}), ""},
		{"not a plist", []byte("{{{"), "InvalidRequest"},
		{"no request", req(map[string]any{"Label": "x"}), "MissingRequest"},
		{"public value without session", req(map[string]any{"Request": "GetValue", "Key": "ProductType"}), ""},
		{"private value without session", req(map[string]any{"Request": "GetValue", "Key": "SerialNumber"}), "MissingValue"},
		{"unknown key", req(map[string]any{"Request": "GetValue", "Key": "NoSuchKey"}), "MissingValue"},
		{"service without session", req(map[string]any{"Request": "StartService", "Service": "com.apple.syslog_relay"}), "SessionInactive"},
		{"stop without session", req(map[string]any{"Request": "StopSession", "SessionID": "x"}), "SessionInactive"},
		{"wrong host id", req(map[string]any{"Request": "StartSession", "HostID": "NOT-PAIRED", "SystemBUID": "x"}), "InvalidHostID"},
		{"missing host id", req(map[string]any{"Request": "StartSession"}), "MissingHostID"},
		{"unknown request", req(map[string]any{"Request": "Frobnicate"}), "InvalidRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ldSend(t, c, tc.body)
			m := ldRecv(t, c)
			if got, _ := m["Error"].(string); got != tc.want {
				t.Fatalf("reply %v, want Error %q", m, tc.want)
			}
		})
	}
}

func TestLockdownStalledTLSHandshake(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	c, _ := startSession(t, srv, d)
	// Never send a ClientHello. Meanwhile the device serves others normally.
	e := entry(t, d.UDID())
	if _, err := ios.GetValues(e); err != nil {
		t.Fatalf("other client disturbed: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(4 * time.Second))
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	if err == nil || time.Since(start) > 3500*time.Millisecond {
		t.Fatalf("stalled handshake not cut after HandshakeTimeout: err=%v after %v", err, time.Since(start))
	}
}

func TestLockdownStopSessionBackToPlaintext(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	rec, err := ios.ReadPairRecord(d.UDID())
	if err != nil {
		t.Fatal(err)
	}
	c := lockdown(t, srv, d)
	ldSend(t, c, req(map[string]any{"Request": "StartSession", "HostID": rec.HostID, "SystemBUID": rec.SystemBUID}))
	m := ldRecv(t, c)
	cert, err := tls.X509KeyPair(rec.HostCertificate, rec.HostPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12})
	ldSend(t, tc, req(map[string]any{"Request": "GetValue", "Key": "SerialNumber"}))
	if v := ldRecv(t, tc); v["Value"] == nil {
		t.Fatalf("in-session GetValue: %v", v)
	}
	ldSend(t, tc, req(map[string]any{"Request": "StopSession", "SessionID": m["SessionID"]}))
	if v := ldRecv(t, tc); v["Error"] != nil {
		t.Fatalf("StopSession: %v", v)
	}
	_ = tc.CloseWrite() // close_notify, as libimobiledevice's SSL_shutdown sends
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	ldSend(t, c, req(map[string]any{"Request": "QueryType"}))
	if v := ldRecv(t, c); v["Type"] != "com.apple.mobile.lockdown" {
		t.Fatalf("plaintext after StopSession: %v", v)
	}
}
