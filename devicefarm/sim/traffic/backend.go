package traffic

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Backend is the sample app's API server: JSON feeds with realistic server think time and
// image payloads whose size the client picks. X-Sim-Delay-Ms adds server time, which is how
// a seeded TTFB regression reaches the client through the real network path.
type Backend struct {
	srv *http.Server
	ln  net.Listener
}

// ThinkTime is the backend's base processing time per API call: a typical API's server
// time, and what makes a 3g lab profile measure as 3g (2 x 100 ms link delay + this
// crosses Chromium's 272 ms 3g HTTP-RTT threshold).
const ThinkTime = 80 * time.Millisecond

// StartBackend listens on a free loopback port.
func StartBackend() (*Backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("traffic: sample backend listen: %w", err)
	}
	mux := http.NewServeMux()
	think := func(r *http.Request) {
		d := ThinkTime
		if ms, err := strconv.Atoi(r.Header.Get("X-Sim-Delay-Ms")); err == nil && ms > 0 && ms < 60000 {
			d += time.Duration(ms) * time.Millisecond
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	mux.HandleFunc("GET /api/feed", func(w http.ResponseWriter, r *http.Request) {
		think(r)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":[`)
		for i := range 40 {
			if i > 0 {
				io.WriteString(w, ",")
			}
			fmt.Fprintf(w, `{"id":%d,"title":"Item %d","price":%d.99,"img":"/api/image?id=%d"}`, i, i, 10+i, i)
		}
		io.WriteString(w, `]}`)
	})
	mux.HandleFunc("GET /api/image", func(w http.ResponseWriter, r *http.Request) {
		think(r)
		n, _ := strconv.Atoi(r.URL.Query().Get("bytes"))
		n = min(max(n, 1024), 4<<20)
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		buf := make([]byte, 16<<10)
		for n > 0 {
			k := min(n, len(buf))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("POST /api/cart", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		think(r)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":true}`)
	})
	b := &Backend{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go b.srv.Serve(ln)
	return b, nil
}

// Addr is host:port.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// Shutdown stops the server.
func (b *Backend) Shutdown(ctx context.Context) error { return b.srv.Shutdown(ctx) }
