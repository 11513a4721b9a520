package receiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	ctProto = "application/x-protobuf"
	ctJSON  = "application/json"
)

type httpError struct {
	code   int
	reason string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errf(code int, reason, format string, args ...any) *httpError {
	return &httpError{code: code, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// handler serves one OTLP/HTTP signal path.
func (r *Receiver) handler(signal string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		t0 := time.Now()
		code := r.serveHTTP(w, req, signal)
		r.obs.Request(signal, "http", code, time.Since(t0))
	}
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request, signal string) int {
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return r.fail(w, ct, signal, errf(http.StatusMethodNotAllowed, "method", "method %s not allowed, use POST", req.Method))
	}
	if ct != ctProto && ct != ctJSON {
		return r.fail(w, ctProto, signal, errf(http.StatusUnsupportedMediaType, "content_type",
			"unsupported Content-Type %q: use %s or %s", req.Header.Get("Content-Type"), ctProto, ctJSON))
	}
	enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding")))
	if enc != "" && enc != "identity" && enc != "gzip" && enc != "zstd" {
		return r.fail(w, ct, signal, errf(http.StatusUnsupportedMediaType, "content_encoding",
			"unsupported Content-Encoding %q: use gzip, zstd or none", enc))
	}
	auth := req.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return r.fail(w, ct, signal, errf(http.StatusUnauthorized, "unauthenticated",
			"missing Authorization: Bearer <ingest token> (mint one with: fleetlens app token APP)"))
	}
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.RequestTimeout)
	defer cancel()
	app, err := r.auth.App(ctx, strings.TrimSpace(token))
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			return r.fail(w, ct, signal, errf(http.StatusUnauthorized, "unauthenticated", "ingest token not valid: %v", err))
		}
		return r.fail(w, ct, signal, errf(http.StatusServiceUnavailable, "unavailable", "cannot check the ingest token now: %v", err))
	}

	// Reserve memory before reading: the declared length, or the maximum when chunked.
	if req.ContentLength > r.cfg.MaxBodyBytes {
		return r.fail(w, ct, signal, errf(http.StatusRequestEntityTooLarge, "too_large",
			"request body of %d bytes exceeds the %d byte limit", req.ContentLength, r.cfg.MaxBodyBytes))
	}
	reserve := r.cfg.MaxBodyBytes
	if req.ContentLength >= 0 {
		reserve = req.ContentLength
	}
	if !r.budget.try(reserve) {
		return r.fail(w, ct, signal, errf(http.StatusTooManyRequests, "overloaded", "collector is busy, retry later"))
	}
	held := reserve
	defer func() { r.budget.release(held) }()

	buf := bytes.NewBuffer(make([]byte, 0, max(req.ContentLength, 0)+bytes.MinRead))
	_, err = buf.ReadFrom(http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return r.fail(w, ct, signal, errf(http.StatusRequestEntityTooLarge, "too_large",
				"request body exceeds the %d byte limit", r.cfg.MaxBodyBytes))
		}
		return r.fail(w, ct, signal, errf(http.StatusBadRequest, "read", "reading request body: %v", err))
	}
	if enc == "gzip" || enc == "zstd" {
		// Decoded pdata costs a few times the protobuf size; reserve for it up front so a
		// burst of small compressed bodies cannot balloon.
		raw, herr := r.decompress(enc, body)
		if herr != nil {
			return r.fail(w, ct, signal, herr)
		}
		extra := min(3*int64(len(raw)), r.cfg.MaxDecodedBytes)
		if !r.budget.try(extra) {
			return r.fail(w, ct, signal, errf(http.StatusTooManyRequests, "overloaded", "collector is busy, retry later"))
		}
		held += extra
		body = raw
	} else {
		extra := min(2*int64(len(body)), r.cfg.MaxDecodedBytes)
		if !r.budget.try(extra) {
			return r.fail(w, ct, signal, errf(http.StatusTooManyRequests, "overloaded", "collector is busy, retry later"))
		}
		held += extra
	}

	var out Outcome
	var resp []byte
	switch signal {
	case "traces":
		er := ptraceotlp.NewExportRequest()
		if err := unmarshal(ct, body, er.UnmarshalProto, er.UnmarshalJSON); err != nil {
			return r.fail(w, ct, signal, errf(http.StatusBadRequest, "malformed", "cannot decode OTLP traces request as %s: %v", ct, err))
		}
		td := er.Traces()
		n := td.SpanCount()
		r.obs.Received(signal, "http", n)
		out, err = r.sink.Traces(ctx, app, td)
		if err == nil {
			resp, err = marshal(ct, ptraceotlp.NewExportResponse())
		}
	case "logs":
		er := plogotlp.NewExportRequest()
		if err := unmarshal(ct, body, er.UnmarshalProto, er.UnmarshalJSON); err != nil {
			return r.fail(w, ct, signal, errf(http.StatusBadRequest, "malformed", "cannot decode OTLP logs request as %s: %v", ct, err))
		}
		ld := er.Logs()
		r.obs.Received(signal, "http", ld.LogRecordCount())
		out, err = r.sink.Logs(ctx, app, ld)
		if err == nil {
			resp, err = marshal(ct, plogotlp.NewExportResponse())
		}
	}
	if err != nil {
		code, _, reason := classify(err)
		return r.fail(w, ct, signal, errf(code, reason, "%s not stored: %v", signal, err))
	}
	if out.Rejected > 0 {
		// The valid items are committed; the client must not resend the invalid ones.
		return r.fail(w, ct, signal, errf(http.StatusBadRequest, "rejected", "%s", out.Message))
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(resp)
	return http.StatusOK
}

func unmarshal(ct string, body []byte, p, j func([]byte) error) error {
	if ct == ctJSON {
		return j(body)
	}
	return p(body)
}

type marshaler interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func marshal(ct string, m marshaler) ([]byte, error) {
	if ct == ctJSON {
		return m.MarshalJSON()
	}
	return m.MarshalProto()
}

var gzipPool sync.Pool

func (r *Receiver) decompress(enc string, body []byte) ([]byte, *httpError) {
	limit := r.cfg.MaxDecodedBytes
	switch enc {
	case "gzip":
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(body))
		} else {
			err = zr.Reset(bytes.NewReader(body))
		}
		if err != nil {
			return nil, errf(http.StatusBadRequest, "bad_compression", "gzip body: %v", err)
		}
		defer gzipPool.Put(zr)
		buf := bytes.NewBuffer(make([]byte, 0, min(int64(len(body))*6, limit)))
		n, err := io.Copy(buf, io.LimitReader(zr, limit+1))
		if err != nil {
			return nil, errf(http.StatusBadRequest, "bad_compression", "gzip body: %v", err)
		}
		if n > limit {
			return nil, errf(http.StatusRequestEntityTooLarge, "too_large", "decompressed body exceeds the %d byte limit", limit)
		}
		return buf.Bytes(), nil
	case "zstd":
		out, err := r.zstd.DecodeAll(body, nil)
		if err != nil {
			if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
				return nil, errf(http.StatusRequestEntityTooLarge, "too_large", "decompressed body exceeds the %d byte limit", limit)
			}
			return nil, errf(http.StatusBadRequest, "bad_compression", "zstd body: %v", err)
		}
		return out, nil
	}
	return body, nil
}

// fail writes an OTLP error: a google.rpc.Status in the request's encoding, with
// Retry-After on the codes clients retry.
func (r *Receiver) fail(w http.ResponseWriter, ct, signal string, e *httpError) int {
	r.obs.RequestRejected(signal, "http", e.reason)
	if e.code == http.StatusTooManyRequests || e.code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds(r.cfg.RetryAfter))
	}
	gcode := codes.InvalidArgument
	switch e.code {
	case http.StatusUnauthorized:
		gcode = codes.Unauthenticated
	case http.StatusTooManyRequests:
		gcode = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		gcode = codes.Unavailable
	}
	st := &spb.Status{Code: int32(gcode), Message: e.msg}
	var body []byte
	if ct == ctJSON {
		body, _ = protojson.Marshal(st)
	} else {
		ct = ctProto
		body, _ = proto.Marshal(st)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(e.code)
	w.Write(body)
	return e.code
}
