package data

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channels the farm notifies on (see internal/pg/migrations/003_farm.sql).
const (
	ChannelDevices = "fleetlens_devices"
	ChannelRuns    = "fleetlens_runs"
)

// listener holds one dedicated connection that LISTENs, reconnecting with capped exponential
// backoff, and coalesces payloads into Events.
type listener struct {
	cfg        *pgx.ConnConfig
	coalesce   time.Duration
	maxBackoff time.Duration
	out        chan Event

	mu      sync.Mutex
	serials map[string]struct{}
	runs    map[int64]struct{}
	all     bool
	kick    chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// onReconnect runs when the connection comes back after being lost (the pool drops its
	// connections to the old server there).
	onReconnect func()
}

func newListener(cfg *pgx.ConnConfig, coalesce, maxBackoff time.Duration) *listener {
	return &listener{
		cfg: cfg, coalesce: coalesce, maxBackoff: maxBackoff,
		out:     make(chan Event, 16),
		serials: map[string]struct{}{},
		runs:    map[int64]struct{}{},
		kick:    make(chan struct{}, 1),
	}
}

func (l *listener) start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.loop(ctx) }()
	go func() { defer l.wg.Done(); l.flusher(ctx) }()
}

func (l *listener) stop() {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
}

func (l *listener) send(ctx context.Context, e Event) {
	select {
	case l.out <- e:
	case <-ctx.Done():
	}
}

func (l *listener) loop(ctx context.Context) {
	backoff := 250 * time.Millisecond
	attempt := 0
	var since time.Time
	everUp := false
	for ctx.Err() == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			attempt++
			if since.IsZero() {
				since = time.Now()
			}
			slog.Warn("tui: database unreachable", "attempt", attempt, "err", err)
			l.send(ctx, Event{Conn: &ConnState{Up: false, Attempt: attempt, Err: err, Since: since}})
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, l.maxBackoff)
			continue
		}
		backoff, attempt, since = 250*time.Millisecond, 0, time.Time{}
		if everUp && l.onReconnect != nil {
			l.onReconnect()
		}
		slog.Info("tui: listening", "channels", []string{ChannelDevices, ChannelRuns})
		l.send(ctx, Event{Conn: &ConnState{Up: true, Since: time.Now()}, All: everUp})
		everUp = true
		err = l.wait(ctx, conn)
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		slog.Warn("tui: lost database connection", "err", err)
		since = time.Now()
		attempt = 1
		l.send(ctx, Event{Conn: &ConnState{Up: false, Attempt: 0, Err: err, Since: since}})
	}
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, l.cfg.Copy())
	if err != nil {
		return nil, err
	}
	for _, ch := range []string{ChannelDevices, ChannelRuns} {
		if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return nil, err
		}
	}
	return conn, nil
}

type notifyPayload struct {
	Serial string `json:"serial"`
	Run    int64  `json:"run"`
}

func (l *listener) wait(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var p notifyPayload
		bad := json.Unmarshal([]byte(n.Payload), &p) != nil
		l.mu.Lock()
		switch {
		case bad:
			l.all = true // an unknown payload: refresh everything rather than miss a change
		case n.Channel == ChannelDevices && p.Serial != "":
			l.serials[p.Serial] = struct{}{}
		case n.Channel == ChannelRuns && p.Run != 0:
			l.runs[p.Run] = struct{}{}
		default:
			l.all = true
		}
		l.mu.Unlock()
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// flusher emits at most one Event per coalesce interval.
func (l *listener) flusher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		}
		select {
		case <-time.After(l.coalesce):
		case <-ctx.Done():
			return
		}
		l.mu.Lock()
		e := Event{All: l.all}
		for s := range l.serials {
			e.Serials = append(e.Serials, s)
		}
		for r := range l.runs {
			e.Runs = append(e.Runs, r)
		}
		clear(l.serials)
		clear(l.runs)
		l.all = false
		l.mu.Unlock()
		sort.Strings(e.Serials)
		sort.Slice(e.Runs, func(i, j int) bool { return e.Runs[i] < e.Runs[j] })
		l.send(ctx, e)
	}
}
