// Package auth owns per-app ingest tokens: minting them (shown once, stored only as a
// SHA-256 digest in ingest_tokens), and resolving the bearer token of an OTLP request to
// its app with a short-lived cache so authentication costs no query per request.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUnknownToken means the token is missing, malformed, revoked or never issued.
var ErrUnknownToken = errors.New("unknown or revoked ingest token")

// ErrNoApp means the app named when minting a token does not exist.
var ErrNoApp = errors.New("no such app")

// Prefix marks fleetlens ingest tokens (so secret scanners and humans recognise them).
const Prefix = "flt_"

// Hash is the digest stored for token. Tokens carry 256 random bits, so a fast hash is
// enough: there is nothing to brute-force the way there is with a password.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewToken returns a fresh random token.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // cannot happen on Linux
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Mint stores a new token for app and returns it; it is the only time the token is seen.
func Mint(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, app string) (string, error) {
	tok := NewToken()
	_, err := db.Exec(ctx, `INSERT INTO ingest_tokens (token_hash, app_id, hint) VALUES ($1, $2, $3)`,
		Hash(tok), app, tok[:len(Prefix)+4])
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return "", fmt.Errorf("mint token for app %q: %w", app, ErrNoApp)
	}
	if err != nil {
		return "", fmt.Errorf("mint token for app %q: %w", app, err)
	}
	return tok, nil
}

// Tokens resolves bearer tokens to apps. Positive answers are cached for TTL, negative
// ones for a fifth of it, so a revoked token stops working within TTL.
type Tokens struct {
	pool *pgxpool.Pool
	ttl  time.Duration
	mu   sync.Mutex
	m    map[string]entry // key: string(hash)
}

type entry struct {
	app     string // "" for a known-bad token
	expires time.Time
}

// NewTokens returns a resolver on pool.
func NewTokens(pool *pgxpool.Pool, ttl time.Duration) *Tokens {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Tokens{pool: pool, ttl: ttl, m: map[string]entry{}}
}

// maxCached bounds the cache; a flood of random tokens cannot grow memory past it.
const maxCached = 10_000

// App returns the app token belongs to. Errors other than ErrUnknownToken mean the
// database could not be asked (the caller answers 503, not 401).
func (t *Tokens) App(ctx context.Context, token string) (string, error) {
	if !strings.HasPrefix(token, Prefix) || len(token) > 200 {
		return "", ErrUnknownToken
	}
	h := Hash(token)
	key := string(h)
	now := time.Now()
	t.mu.Lock()
	e, ok := t.m[key]
	t.mu.Unlock()
	if ok && now.Before(e.expires) {
		if e.app == "" {
			return "", ErrUnknownToken
		}
		return e.app, nil
	}
	var app string
	err := t.pool.QueryRow(ctx, `SELECT app_id FROM ingest_tokens WHERE token_hash = $1 AND revoked_at IS NULL`, h).Scan(&app)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		e = entry{"", now.Add(t.ttl / 5)}
	case err != nil:
		return "", fmt.Errorf("look up ingest token: %w", err)
	default:
		e = entry{app, now.Add(t.ttl)}
	}
	t.mu.Lock()
	if len(t.m) >= maxCached {
		for k, v := range t.m {
			if now.After(v.expires) || v.app == "" {
				delete(t.m, k)
			}
		}
		if len(t.m) >= maxCached {
			t.m = map[string]entry{}
		}
	}
	t.m[key] = e
	t.mu.Unlock()
	if e.app == "" {
		return "", ErrUnknownToken
	}
	return e.app, nil
}
