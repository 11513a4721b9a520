package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/sync/semaphore"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP/gRPC clients may gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Receiver serves OTLP/HTTP and OTLP/gRPC.
type Receiver struct {
	cfg    Config
	auth   Authenticator
	sink   Sink
	obs    Observer
	budget budget
	zstd   *zstd.Decoder

	httpSrv  *http.Server
	grpcSrv  *grpc.Server
	httpLn   net.Listener
	grpcLn   net.Listener
	serveErr chan error
}

// New returns a receiver; Start listens.
func New(cfg Config, auth Authenticator, sink Sink, obs Observer) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// DecodeAll on a shared decoder is safe for concurrent use; the memory cap is the
	// decompression-bomb guard for zstd.
	zd, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(cfg.MaxDecodedBytes)),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("receiver: zstd decoder: %w", err)
	}
	return &Receiver{cfg: cfg, auth: auth, sink: sink, obs: obs, zstd: zd,
		budget: budget{semaphore.NewWeighted(cfg.MaxInflightBytes)}, serveErr: make(chan error, 2)}, nil
}

// HTTPAddr and GRPCAddr are the bound addresses (after Start), e.g. for ":0" configs.
func (r *Receiver) HTTPAddr() string { return addr(r.httpLn) }
func (r *Receiver) GRPCAddr() string { return addr(r.grpcLn) }

func addr(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Start binds the listeners and serves in the background.
func (r *Receiver) Start(ctx context.Context) error {
	var tlsCfg *tls.Config
	if r.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(r.cfg.TLSCertFile, r.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("receiver: load TLS key pair %s: %w", r.cfg.TLSCertFile, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var lc net.ListenConfig
	if r.cfg.HTTPAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", r.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("receiver: listen OTLP/HTTP on %s: %w", r.cfg.HTTPAddr, err)
		}
		r.httpLn = ln
		mux := http.NewServeMux()
		mux.Handle("/v1/traces", r.handler("traces"))
		mux.Handle("/v1/logs", r.handler("logs"))
		r.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: r.cfg.RequestTimeout + 30*time.Second, IdleTimeout: 2 * time.Minute}
		if tlsCfg != nil {
			r.httpSrv.TLSConfig = tlsCfg.Clone() // net/http adds h2 to its copy; gRPC gets its own
		}
		go func() {
			var err error
			if tlsCfg != nil {
				err = r.httpSrv.ServeTLS(ln, "", "")
			} else {
				err = r.httpSrv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				r.serveErr <- fmt.Errorf("receiver: OTLP/HTTP: %w", err)
			}
		}()
	}
	if r.cfg.GRPCAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", r.cfg.GRPCAddr)
		if err != nil {
			r.Shutdown(ctx)
			return fmt.Errorf("receiver: listen OTLP/gRPC on %s: %w", r.cfg.GRPCAddr, err)
		}
		r.grpcLn = ln
		opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(int(r.cfg.MaxBodyBytes)), grpc.MaxConcurrentStreams(256)}
		if tlsCfg != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg.Clone())))
		}
		r.grpcSrv = grpc.NewServer(opts...)
		ptraceotlp.RegisterGRPCServer(r.grpcSrv, &grpcTraces{r: r})
		plogotlp.RegisterGRPCServer(r.grpcSrv, &grpcLogs{r: r})
		go func() {
			if err := r.grpcSrv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				r.serveErr <- fmt.Errorf("receiver: OTLP/gRPC: %w", err)
			}
		}()
	}
	slog.Info("collector receiving OTLP", "http", r.HTTPAddr(), "grpc", r.GRPCAddr(), "tls", tlsCfg != nil)
	return nil
}

// Err reports a serve loop that died.
func (r *Receiver) Err() <-chan error { return r.serveErr }

// Shutdown stops accepting requests and waits for those in flight.
func (r *Receiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.grpcSrv != nil {
		done := make(chan struct{})
		go func() { r.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			r.grpcSrv.Stop()
		}
	}
	if r.httpSrv != nil {
		if err := r.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("receiver: OTLP/HTTP shutdown: %w", err))
			r.httpSrv.Close()
		}
	}
	r.zstd.Close()
	return errors.Join(errs...)
}

func grpcApp(ctx context.Context, a Authenticator) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var token string
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			token = strings.TrimSpace(t)
		}
	}
	if token == "" {
		return "", status.Error(codes.Unauthenticated, "missing authorization: Bearer <ingest token> metadata (mint one with: fleetlens app token APP)")
	}
	app, err := a.App(ctx, token)
	if errors.Is(err, ErrUnauthenticated) {
		return "", status.Errorf(codes.Unauthenticated, "ingest token not valid: %v", err)
	}
	if err != nil {
		return "", status.Errorf(codes.Unavailable, "cannot check the ingest token now: %v", err)
	}
	return app, nil
}

// grpcStatus maps a sink outcome to a gRPC status. Retryable codes carry RetryInfo-less
// Unavailable/ResourceExhausted, which OTLP clients retry with backoff.
func (r *Receiver) grpcStatus(out Outcome, err error) error {
	if err != nil {
		_, c, _ := classify(err)
		return r.withRetryInfo(status.New(c, err.Error()))
	}
	if out.Rejected > 0 {
		return status.Error(codes.InvalidArgument, out.Message)
	}
	return nil
}

type grpcTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (g *grpcTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	t0 := time.Now()
	resp, err := g.export(ctx, req)
	g.r.obs.Request("traces", "grpc", int(status.Code(err)), time.Since(t0))
	return resp, err
}

func (g *grpcTraces) export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	r := g.r
	app, err := grpcApp(ctx, r.auth)
	if err != nil {
		r.obs.RequestRejected("traces", "grpc", strings.ToLower(status.Code(err).String()))
		return ptraceotlp.NewExportResponse(), err
	}
	td := req.Traces()
	n := td.SpanCount()
	cost := min(int64(n)*2048, r.cfg.MaxDecodedBytes)
	if !r.budget.try(cost) {
		r.obs.RequestRejected("traces", "grpc", "overloaded")
		return ptraceotlp.NewExportResponse(), r.exhausted()
	}
	defer r.budget.release(cost)
	r.obs.Received("traces", "grpc", n)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	out, err := r.sink.Traces(ctx, app, td)
	if serr := r.grpcStatus(out, err); serr != nil {
		r.obs.RequestRejected("traces", "grpc", strings.ToLower(status.Code(serr).String()))
		return ptraceotlp.NewExportResponse(), serr
	}
	return ptraceotlp.NewExportResponse(), nil
}

type grpcLogs struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (g *grpcLogs) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	t0 := time.Now()
	resp, err := g.export(ctx, req)
	g.r.obs.Request("logs", "grpc", int(status.Code(err)), time.Since(t0))
	return resp, err
}

func (g *grpcLogs) export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	r := g.r
	app, err := grpcApp(ctx, r.auth)
	if err != nil {
		r.obs.RequestRejected("logs", "grpc", strings.ToLower(status.Code(err).String()))
		return plogotlp.NewExportResponse(), err
	}
	ld := req.Logs()
	n := ld.LogRecordCount()
	cost := min(int64(n)*2048, r.cfg.MaxDecodedBytes)
	if !r.budget.try(cost) {
		r.obs.RequestRejected("logs", "grpc", "overloaded")
		return plogotlp.NewExportResponse(), r.exhausted()
	}
	defer r.budget.release(cost)
	r.obs.Received("logs", "grpc", n)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	out, err := r.sink.Logs(ctx, app, ld)
	if serr := r.grpcStatus(out, err); serr != nil {
		r.obs.RequestRejected("logs", "grpc", strings.ToLower(status.Code(serr).String()))
		return plogotlp.NewExportResponse(), serr
	}
	return plogotlp.NewExportResponse(), nil
}

// withRetryInfo attaches the retry delay: OTLP/gRPC clients retry ResourceExhausted only
// when RetryInfo is present, and use its delay for Unavailable too.
func (r *Receiver) withRetryInfo(st *status.Status) error {
	if c := st.Code(); c != codes.ResourceExhausted && c != codes.Unavailable {
		return st.Err()
	}
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.cfg.RetryAfter)}); err == nil {
		return d.Err()
	}
	return st.Err()
}

func (r *Receiver) exhausted() error {
	return r.withRetryInfo(status.New(codes.ResourceExhausted, "collector is busy, retry later"))
}
