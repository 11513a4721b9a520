package sdkhooks

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"github.com/fleetlens/fleetlens/sdk-hooks/vitals"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
)

// AppStarted records an app start of type t ("cold", "warm", "hot") that began at start
// (process start or activity creation, as the platform measures it) and ended when the
// first frame was drawn, as an app.start span.
func (s *SDK) AppStarted(t vitals.StartType, start, end time.Time) {
	defer s.guard("AppStarted")
	if end.Before(start) {
		start, end = end, start // a clock step during start must not produce a negative span
	}
	if _, ok := vitals.ParseStartType(string(t)); !ok {
		t = vitals.StartCold
	}
	ss := s.sess.Load()
	attrs := append([]attribute.KeyValue{
		attribute.String(sc.AppStartType, string(t)),
		attribute.Bool(sc.AppStartExcessive, vitals.IsExcessiveStart(t, end.Sub(start))),
		attribute.String(sc.SessionID, ss.id),
	}, s.net.Load().attrs()...)
	_, span := s.tracer.Start(context.Background(), sc.SpanAppStart,
		trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	span.End(trace.WithTimestamp(end))
}

// FrameRendered counts one frame that took d. Frozen frames emit app.jank; a frame over
// 5 s is an ANR (SPEC §4, Android vitals).
func (s *SDK) FrameRendered(d time.Duration) {
	defer s.guard("FrameRendered")
	ss := s.sess.Load()
	c := vitals.ClassifyFrame(d)
	ss.countFrame(c)
	switch c {
	case vitals.FrameFrozen:
		s.emit(ss, sc.EventJank, otellog.SeverityWarn, time.Now().Add(-d), attribute.Int64(sc.HangDurationMs, d.Milliseconds()))
	case vitals.FrameANR:
		s.emit(ss, sc.EventANR, otellog.SeverityError, time.Now().Add(-d), attribute.Int64(sc.HangDurationMs, d.Milliseconds()))
		s.flushLogs()
	}
}

// FrameStats adds counts the platform aggregated itself (Android FrameMetrics, iOS
// CADisplayLink) since the last call.
func (s *SDK) FrameStats(total, slow, frozen int64) {
	defer s.guard("FrameStats")
	if total < 0 || slow < 0 || frozen < 0 {
		return
	}
	ss := s.sess.Load()
	ss.frames.Add(total)
	ss.slow.Add(slow)
	ss.frozen.Add(frozen)
	if frozen > 0 {
		s.emit(ss, sc.EventJank, otellog.SeverityWarn, time.Time{}, attribute.Int64(sc.FramesFrozen, frozen), attribute.Int64(sc.FramesSlow, slow))
	}
}

// Heartbeat is called by the app's main loop (a main-thread Handler/RunLoop timer every
// few hundred ms). The first call arms the hang watchdog.
func (s *SDK) Heartbeat() {
	s.wd.last.Store(time.Now().UnixNano())
	if s.wd.armed.CompareAndSwap(false, true) {
		s.wd.start()
	}
}

// watchdog reports a main loop that stopped beating for longer than the hang threshold:
// app.hang on iOS (2 s), app.anr elsewhere (5 s). It reports each stall once, while it is
// happening, and flushes at once: a hung app is often killed before it recovers.
type watchdog struct {
	s         *SDK
	threshold time.Duration
	last      atomic.Int64
	armed     atomic.Bool
	reported  atomic.Int64 // the heartbeat timestamp of the stall already reported
	done      chan struct{}
	stopOnce  sync.Once
}

func (w *watchdog) init(s *SDK) {
	w.s = s
	w.done = make(chan struct{})
	w.threshold = s.cfg.HangThreshold
	if w.threshold == 0 {
		if s.platform == "ios" {
			w.threshold = vitals.IOSHang
		} else {
			w.threshold = vitals.ANR
		}
	}
}

func (w *watchdog) start() {
	go func() {
		defer w.s.guard("watchdog")
		tick := time.NewTicker(max(w.threshold/8, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			last := w.last.Load()
			stall := time.Duration(time.Now().UnixNano() - last)
			if stall <= w.threshold || w.reported.Load() == last {
				continue
			}
			w.reported.Store(last)
			ev := sc.EventANR
			if w.s.platform == "ios" {
				ev = sc.EventHang
			}
			w.s.emit(w.s.sess.Load(), ev, otellog.SeverityError, time.Unix(0, last),
				attribute.Int64(sc.HangDurationMs, stall.Milliseconds()))
			w.s.flushLogs()
		}
	}()
}

func (w *watchdog) stop() { w.stopOnce.Do(func() { close(w.done) }) }

// Crash records a crash the platform caught (an uncaught JVM exception, a signal, a Mach
// exception) and makes it durable before returning, since the process is about to die.
// source names the catcher: "jvm", "signal", "mach", "nsexception", ...
func (s *SDK) Crash(typ, message, stack, source string) {
	defer s.guard("Crash")
	s.crash(typ, message, stack, source)
}

func (s *SDK) crash(typ, message, stack, source string) {
	ss := s.sess.Load()
	s.emit(ss, sc.EventCrash, otellog.SeverityFatal, time.Time{},
		attribute.String(sc.ExceptionType, typ),
		attribute.String(sc.ExceptionMessage, message),
		attribute.String(sc.ExceptionStacktrace, stack),
		attribute.String(sc.CrashSource, source))
	// A crash ends the session; spans in flight are flushed with it.
	s.EndSession()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.Flush(ctx)
}

// RecoverPanic is the Go-side crash hook: `defer sdk.RecoverPanic()` at the top of a
// goroutine records a panic as app.crash, makes it durable, and re-panics so the app's
// own crash behaviour is unchanged.
func (s *SDK) RecoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	func() {
		defer s.guard("RecoverPanic")
		typ := fmt.Sprintf("%T", r)
		if err, ok := r.(error); ok {
			typ = fmt.Sprintf("%T", err)
		}
		s.crash(typ, fmt.Sprint(r), string(debug.Stack()), "go")
	}()
	panic(r)
}

func (s *SDK) flushLogs() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.lp.ForceFlush(ctx)
}
