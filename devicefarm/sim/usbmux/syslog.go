package usbmux

import (
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

const logBookSize = 512

// logBook is a device's syslog: a ring of recent lines (dumped to each new syslog_relay client,
// which is how Logs(since) can see what happened during a test) and live subscribers.
type logBook struct {
	d    *Device
	mu   sync.Mutex
	ring []string
	next int
	subs map[chan string]struct{}
}

func newLogBook(d *Device) *logBook {
	return &logBook{d: d, subs: map[chan string]struct{}{}}
}

// Log appends a syslog line from process at level ("Notice", "Error", ...) and sends it to
// every connected syslog_relay client.
func (d *Device) Log(process, level, msg string) {
	d.syslog.add(d.formatLine(time.Now(), process, level, msg))
}

func (d *Device) formatLine(t time.Time, process, level, msg string) string {
	host := "iPhone"
	if strings.HasPrefix(d.productType, "iPad") {
		host = "iPad"
	}
	return fmt.Sprintf("%s %s %s[%d] <%s>: %s", t.Format(time.Stamp), host, process, pidOf(d, process), level, msg)
}

func pidOf(d *Device, process string) int {
	if process == "kernel" {
		return 0
	}
	h := fnv.New32a()
	fmt.Fprint(h, d.inst.Serial, process)
	return 30 + int(h.Sum32()%2000)
}

func (b *logBook) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) < logBookSize {
		b.ring = append(b.ring, line)
	} else {
		b.ring[b.next] = line
		b.next = (b.next + 1) % logBookSize
	}
	for ch := range b.subs {
		select {
		case ch <- line:
		default: // a slow reader loses lines, as with a real relay
		}
	}
}

func (b *logBook) subscribe() (backlog []string, ch chan string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	backlog = append(backlog, b.ring[b.next:]...)
	backlog = append(backlog, b.ring[:b.next]...)
	ch = make(chan string, 256)
	b.subs[ch] = struct{}{}
	return backlog, ch
}

func (b *logBook) unsubscribe(ch chan string) {
	b.mu.Lock()
	delete(b.subs, ch)
	b.mu.Unlock()
}

// chatter is the background noise of an idle phone, so a client sees a stream that looks alive.
var chatter = []struct{ proc, level, msg string }{
	{"SpringBoard", "Notice", "[FBSystemService] Handling request to update display layout"},
	{"locationd", "Notice", "{\"msg\":\"client authorization status\", \"Client\":\"com.apple.weather\"}"},
	{"wifid", "Notice", "__WiFiDeviceManagerEvaluateAPEnvironment: WiFi is associated, RSSI -54"},
	{"CommCenter", "Notice", "#I Network reachability changed: cellular=1 wifi=1"},
	{"backboardd", "Notice", "brightness change:0.437500 reason:BrightnessSystemDidChange"},
	{"mDNSResponder", "Notice", "[R1234] DNSServiceQueryRecord(15158C, 0, 0, <mask.hash: 'k3d1'>, AAAA) START PID[0]()"},
	{"kernel", "Notice", "AppleARMPMUCharger: limiting current to 1500mA"},
	{"dasd", "Notice", "Trigger: <private> is now 1"},
	{"symptomsd", "Notice", "Data Usage for nsurlsessiond on flow 1234 - WiFi in/out: 1823/512"},
}

func (d *Device) serveSyslog(c net.Conn) {
	backlog, ch := d.syslog.subscribe()
	defer d.syslog.unsubscribe(ch)
	write := func(line string) error {
		_, err := io.WriteString(c, line+"\n\x00")
		return err
	}
	for _, l := range backlog {
		if write(l) != nil {
			return
		}
	}
	// The client never sends anything; a read returning means it hung up.
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c)
		close(gone)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	i := int(d.ecid % uint64(len(chatter)))
	for {
		select {
		case <-gone:
			return
		case <-d.srv.done:
			return
		case l := <-ch:
			if write(l) != nil {
				return
			}
		case t := <-tick.C:
			cl := chatter[i%len(chatter)]
			i++
			if apps := d.Apps(); len(apps) > 0 && i%3 == 0 {
				// Installed apps are not launched, but their extensions and the system talk about them.
				a := apps[i%len(apps)]
				cl.proc, cl.level, cl.msg = a.Executable, "Notice", "[BGTaskScheduler] Scheduled refresh for "+a.BundleID+" in 900s"
			}
			if write(d.formatLine(t, cl.proc, cl.level, cl.msg)) != nil {
				return
			}
		}
	}
}
