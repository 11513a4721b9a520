package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetlens/fleetlens/sdk-hooks/queue"
)

// UploaderConfig configures an Uploader.
type UploaderConfig struct {
	// Endpoint is the OTLP/HTTP base URL, e.g. "http://collector:4318"; "/v1/traces" and
	// "/v1/logs" are appended.
	Endpoint string
	Headers  map[string]string // e.g. the app's ingest token
	// Client sends the uploads; default: a client with Timeout.
	Client         *http.Client
	Timeout        time.Duration // per upload; default 30 s
	InitialBackoff time.Duration // default 1 s
	MaxBackoff     time.Duration // default 5 min
	// MaxRetryAfter caps a server's Retry-After so a bogus value cannot park the device
	// for days; default 30 min.
	MaxRetryAfter time.Duration
	// BatchIDPrefix names this install; with the record sequence it forms the
	// X-Fleetlens-Batch header, an idempotency key a backend may use to drop the one
	// duplicate that a crash between a 2xx and the local delete can cause.
	BatchIDPrefix string
	Logger        *slog.Logger
}

// Validate reports a configuration error.
func (c *UploaderConfig) Validate() error {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("export: endpoint %q is not an http(s) URL", c.Endpoint)
	}
	if c.Timeout < 0 || c.InitialBackoff < 0 || c.MaxBackoff < 0 {
		return errors.New("export: negative timeout or backoff")
	}
	return nil
}

// Uploader drains the queue to the backend, oldest record first, one request at a time.
type Uploader struct {
	cfg  UploaderConfig
	q    *queue.Queue
	base string

	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool

	sent     atomic.Int64
	attempts atomic.Int64
	lastErr  atomic.Value // string
}

// NewUploader returns an Uploader for q.
func NewUploader(cfg UploaderConfig, q *queue.Queue) (*Uploader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = 30 * time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Uploader{
		cfg: cfg, q: q, base: strings.TrimRight(cfg.Endpoint, "/"),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Start runs the upload loop until Shutdown.
func (u *Uploader) Start(ctx context.Context) error {
	if !u.started.CompareAndSwap(false, true) {
		return errors.New("export: uploader already started")
	}
	go u.loop()
	return nil
}

// Shutdown stops the loop; queued records stay on disk for the next start.
func (u *Uploader) Shutdown(ctx context.Context) error {
	u.once.Do(func() { close(u.stop) })
	if !u.started.Load() {
		return nil
	}
	select {
	case <-u.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("export: uploader shutdown: %w", ctx.Err())
	}
}

// Kick asks the loop to try now, e.g. when the platform reports the network is back.
func (u *Uploader) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Sent is the number of records delivered.
func (u *Uploader) Sent() int64 { return u.sent.Load() }

// Attempts is the number of upload requests made.
func (u *Uploader) Attempts() int64 { return u.attempts.Load() }

func (u *Uploader) loop() {
	defer close(u.done)
	failures := 0
	var wait time.Duration
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-u.stop:
				t.Stop()
				return
			case <-u.kick:
				// A kick (connectivity back) retries early, but not a server's Retry-After.
			case <-t.C:
			}
			t.Stop()
		}
		wait = 0
		rec, ok, err := u.q.Peek()
		if err != nil {
			u.cfg.Logger.Warn("sdk-hooks: read queue", "err", err)
		}
		if !ok {
			select {
			case <-u.stop:
				return
			case <-u.q.Notify():
			case <-u.kick:
			}
			continue
		}
		res := u.send(rec)
		switch res.outcome {
		case delivered:
			failures = 0
			if err := u.q.Remove(rec.Seq); err != nil {
				u.cfg.Logger.Warn("sdk-hooks: remove delivered record", "seq", rec.Seq, "err", err)
			}
			u.sent.Add(1)
		case rejected:
			failures = 0
			u.q.Discard(rec.Seq, queue.DropRejected)
			u.cfg.Logger.Warn("sdk-hooks: backend rejected batch", "seq", rec.Seq, "status", res.status)
		case retry:
			failures++
			wait = u.backoff(failures)
			if res.retryAfter > wait {
				wait = min(res.retryAfter, u.cfg.MaxRetryAfter)
			}
			select {
			case <-u.stop:
				return
			default:
			}
		}
	}
}

// backoff is exponential with full jitter (AWS architecture blog "Exponential Backoff And
// Jitter"), so a fleet of phones coming back online does not retry in lockstep.
func (u *Uploader) backoff(failures int) time.Duration {
	ceiling := u.cfg.InitialBackoff << min(failures-1, 20)
	if ceiling <= 0 || ceiling > u.cfg.MaxBackoff {
		ceiling = u.cfg.MaxBackoff
	}
	return u.cfg.InitialBackoff/2 + rand.N(ceiling)
}

type outcome int

const (
	delivered outcome = iota
	retry
	rejected
)

type result struct {
	outcome    outcome
	status     int
	retryAfter time.Duration
}

func (u *Uploader) send(rec queue.Record) result {
	u.attempts.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), u.cfg.Timeout)
	defer cancel()
	go func() {
		select {
		case <-u.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.base+"/v1/"+rec.Kind, bytes.NewReader(rec.Payload))
	if err != nil {
		return result{outcome: rejected}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("X-Fleetlens-Batch", u.cfg.BatchIDPrefix+"-"+strconv.FormatUint(rec.Seq, 10))
	for k, v := range u.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := u.cfg.Client.Do(req)
	if err != nil {
		u.lastErr.Store(err.Error())
		return result{outcome: retry}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res := result{status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		res.outcome = delivered
	// OTLP/HTTP spec "Retryable Response Codes": 429, 502, 503, 504; 408 is a timeout too.
	case resp.StatusCode == 429 || resp.StatusCode == 502 || resp.StatusCode == 503 ||
		resp.StatusCode == 504 || resp.StatusCode == 408:
		res.outcome = retry
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode >= 500:
		res.outcome = retry
	default:
		res.outcome = rejected
	}
	return res
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
