package usbmux

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"howett.net/plist"
)

const maxLockdownMessage = 16 << 20

var errNotPlist = errors.New("payload is not an XML or binary plist")

// decodePlist accepts only the two encodings Apple's services speak; howett.net/plist would
// also read OpenStep text, which a device never accepts.
func decodePlist(b []byte) (map[string]any, error) {
	var m map[string]any
	format, err := plist.Unmarshal(b, &m)
	if err != nil || (format != plist.XMLFormat && format != plist.BinaryFormat) || m == nil {
		return nil, errNotPlist
	}
	return m, nil
}

// readMsg reads one 4-byte big-endian length + plist message. A body that is not a plist
// yields errNotPlist with the framing intact, so the service can answer and go on.
func readMsg(r io.Reader) (map[string]any, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > maxLockdownMessage {
		return nil, fmt.Errorf("message length %d exceeds %d", n, maxLockdownMessage)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return decodePlist(body)
}

func writeMsg(w io.Writer, v any) error {
	body, err := plist.Marshal(v, plist.XMLFormat)
	if err != nil {
		return err
	}
	out := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(out, uint32(len(body)))
	_, err = w.Write(append(out, body...))
	return err
}

// services lockdownd can start, mapped to whether they run over TLS.
var knownServices = map[string]bool{
	"com.apple.mobile.installation_proxy": true,
	"com.apple.streaming_zip_conduit":     true,
	"com.apple.syslog_relay":              true,
	"com.apple.mobile.diagnostics_relay":  true,
	"com.apple.crashreportmover":          true,
	"com.apple.crashreportcopymobile":     true,
	"com.apple.mobile.notification_proxy": true,
}

// serve runs the service a usbmux Connect reached, until the client or the device goes.
func (d *Device) serve(c net.Conn, service string) {
	defer func() {
		d.untrack(c)
		c.Close()
	}()
	if service == "lockdownd" {
		d.serveLockdown(c)
		return
	}
	conn := net.Conn(c)
	if knownServices[service] {
		tc, err := d.handshake(c)
		if err != nil {
			d.srv.log.Debug("service TLS handshake failed", "udid", d.UDID(), "service", service, "err", err)
			return
		}
		conn = tc
	}
	switch service {
	case "com.apple.mobile.installation_proxy":
		d.serveInstallationProxy(conn)
	case "com.apple.streaming_zip_conduit":
		d.serveZipConduit(conn)
	case "com.apple.syslog_relay":
		d.serveSyslog(conn)
	case "com.apple.mobile.diagnostics_relay":
		d.serveDiagnostics(conn)
	case "com.apple.crashreportmover":
		d.serveCrashMover(conn)
	case "com.apple.crashreportcopymobile":
		d.serveAFC(conn)
	case "com.apple.mobile.notification_proxy":
		d.serveNotificationProxy(conn)
	}
}

// handshake runs the device side of TLS, bounded so a client that never finishes it only
// costs its own connection.
func (d *Device) handshake(c net.Conn) (*tls.Conn, error) {
	if delay := d.Faults().TLSDelay; delay > 0 {
		select {
		case <-time.After(delay):
		case <-d.srv.done:
			return nil, errors.New("server shutting down")
		}
	}
	tc := tls.Server(c, d.srv.pki.serverTLS())
	_ = c.SetDeadline(time.Now().Add(d.srv.cfg.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return tc, nil
}

// tlsAlertSkipper drops the TLS close_notify record a client sends when it leaves the session
// (libimobiledevice calls SSL_shutdown after StopSession) before plaintext resumes.
type tlsAlertSkipper struct {
	r       io.Reader
	checked bool
}

func (s *tlsAlertSkipper) Read(p []byte) (int, error) {
	if !s.checked {
		s.checked = true
		var first [1]byte
		if _, err := io.ReadFull(s.r, first[:]); err != nil {
			return 0, err
		}
		if first[0] == 0x15 { // TLS record type "alert"
			var rest [4]byte
			if _, err := io.ReadFull(s.r, rest[:]); err != nil {
				return 0, err
			}
			if _, err := io.CopyN(io.Discard, s.r, int64(binary.BigEndian.Uint16(rest[2:]))); err != nil {
				return 0, err
			}
		} else {
			p[0] = first[0]
			return 1, nil
		}
	}
	return s.r.Read(p)
}

func (d *Device) serveLockdown(c net.Conn) {
	var (
		r       io.Reader = c
		w       io.Writer = c
		session string
	)
	for {
		req, err := readMsg(r)
		if errors.Is(err, errNotPlist) {
			if writeMsg(w, map[string]any{"Error": "InvalidRequest"}) != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		name, _ := req["Request"].(string)
		resp := map[string]any{"Request": name}
		switch name {
		case "QueryType":
			resp["Type"] = "com.apple.mobile.lockdown"
		case "GetValue":
			domain, _ := req["Domain"].(string)
			key, _ := req["Key"].(string)
			if domain != "" {
				resp["Domain"] = domain
			}
			if key != "" {
				resp["Key"] = key
			}
			v, errName := d.getValue(domain, key, session != "")
			if errName != "" {
				resp["Error"] = errName
			} else {
				resp["Value"] = v
			}
		case "SetValue":
			if session == "" {
				resp["Error"] = "SessionInactive"
				break
			}
			domain, _ := req["Domain"].(string)
			key, _ := req["Key"].(string)
			if key == "" || req["Value"] == nil {
				resp["Error"] = "MissingValue"
				break
			}
			d.mu.Lock()
			d.setVals[domain+"\x00"+key] = req["Value"]
			d.mu.Unlock()
		case "ValidatePair":
			if !d.hostKnown(req) {
				resp["Error"] = "InvalidHostID"
			}
		case "Pair":
			resp["Error"] = "PairingProhibitedOverThisConnection"
		case "StartSession":
			hostID, _ := req["HostID"].(string)
			switch {
			case session != "":
				resp["Error"] = "SessionActive"
			case hostID == "":
				resp["Error"] = "MissingHostID"
			case hostID != d.srv.hostID:
				resp["Error"] = "InvalidHostID"
			default:
				session = newUUID()
				resp["SessionID"] = session
				resp["EnableSessionSSL"] = true
			}
			if writeMsg(w, resp) != nil {
				return
			}
			if session != "" && resp["Error"] == nil {
				tc, err := d.handshake(c)
				if err != nil {
					d.srv.log.Debug("lockdown TLS handshake failed", "udid", d.UDID(), "err", err)
					return
				}
				r, w = tc, tc
			}
			continue
		case "StopSession":
			id, _ := req["SessionID"].(string)
			switch {
			case session == "":
				resp["Error"] = "SessionInactive"
			case id == "":
				resp["Error"] = "MissingSessionID"
			case id != session:
				resp["Error"] = "InvalidSessionID"
			}
			if writeMsg(w, resp) != nil {
				return
			}
			if resp["Error"] == nil {
				session = ""
				r, w = &tlsAlertSkipper{r: c}, c
			}
			continue
		case "StartService":
			svc, _ := req["Service"].(string)
			switch {
			case svc == "":
				resp["Error"] = "MissingService"
			case session == "":
				resp["Error"] = "SessionInactive"
			case !knownServices[svc]:
				resp["Error"] = "InvalidService"
			default:
				resp["Service"] = svc
				resp["Port"] = int(d.openService(svc))
				resp["EnableServiceSSL"] = knownServices[svc]
			}
		case "Goodbye":
			_ = writeMsg(w, resp)
			return
		case "":
			resp = map[string]any{"Error": "MissingRequest"}
		default:
			resp["Error"] = "InvalidRequest"
		}
		if writeMsg(w, resp) != nil {
			return
		}
	}
}

func (d *Device) hostKnown(req map[string]any) bool {
	rec, _ := req["PairRecord"].(map[string]any)
	id, _ := rec["HostID"].(string)
	return id == d.srv.hostID
}
