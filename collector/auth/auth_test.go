package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestTokensMintResolveRevoke(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO apps (id) VALUES ('a1'), ('a2')`); err != nil {
		t.Fatal(err)
	}
	t1, err := Mint(ctx, pool, "a1")
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := Mint(ctx, pool, "a2")
	if !strings.HasPrefix(t1, Prefix) || len(t1) < 40 || t1 == t2 {
		t.Fatalf("tokens %q %q", t1, t2)
	}
	if _, err := Mint(ctx, pool, "missing"); !errors.Is(err, ErrNoApp) {
		t.Fatalf("mint for a missing app: %v", err)
	}
	// Only the digest is stored.
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM ingest_tokens WHERE position($1::bytea in token_hash) > 0 OR hint = $2`, []byte(t1), t1).Scan(&n)
	if n != 0 {
		t.Fatal("the token itself is stored")
	}
	tok := NewTokens(pool, 200*time.Millisecond)
	for tk, want := range map[string]string{t1: "a1", t2: "a2"} {
		if app, err := tok.App(ctx, tk); err != nil || app != want {
			t.Fatalf("App(%q) = %q, %v", tk, app, err)
		}
	}
	for _, bad := range []string{"", "flt_", "nope", t1 + "x", strings.Repeat("flt_", 100)} {
		if _, err := tok.App(ctx, bad); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("App(%q): %v", bad, err)
		}
	}
	// Revocation takes effect within the cache TTL.
	if _, err := pool.Exec(ctx, `UPDATE ingest_tokens SET revoked_at = now() WHERE token_hash = $1`, Hash(t1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := tok.App(ctx, t1); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("revoked token still accepted: %v", err)
	}
	// A database that cannot be asked is not "unauthenticated".
	pool.Close()
	if _, err := NewTokens(pool, time.Second).App(ctx, t2); err == nil || errors.Is(err, ErrUnknownToken) {
		t.Fatalf("closed pool: %v", err)
	}
}
