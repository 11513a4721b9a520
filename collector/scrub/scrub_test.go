package scrub

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestScrubMap(t *testing.T) {
	cfg := Defaults()
	tests := []struct {
		name, key, in, want string
		userKey             string
	}{
		{"query string removed", "url.full", "https://api.example.com/search?q=alice@example.com&token=s3cr3t#frag", "https://api.example.com/search", ""},
		{"old semconv url", "http.url", "http://x/y?session=abc", "http://x/y", ""},
		{"email in free text", "exception.message", "login failed for bob.smith+1@mail.example.co.uk today", "login failed for [email] today", ""},
		{"no email untouched", "exception.message", "user @home pressed", "user @home pressed", ""},
		{"user id redacted", "enduser.id", "12345", "[redacted]", ""},
		{"user id pseudonymised", "enduser.id", "12345", "pseudo:", "k"},
		{"other keys kept", "http.request.method", "GET", "GET", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.UserIDKey = tt.userKey
			m := pcommon.NewMap()
			m.PutStr(tt.key, tt.in)
			m.PutStr("url.query", "q=1")
			New(c).Map(m)
			got, _ := m.Get(tt.key)
			if tt.userKey != "" {
				if g := got.Str(); len(g) != len("pseudo:")+24 || g[:7] != "pseudo:" {
					t.Fatalf("got %q, want a pseudonym", g)
				}
				// stable: the same id maps to the same pseudonym
				m2 := pcommon.NewMap()
				m2.PutStr(tt.key, tt.in)
				New(c).Map(m2)
				if g2, _ := m2.Get(tt.key); g2.Str() != got.Str() {
					t.Fatalf("pseudonym not stable: %q vs %q", got.Str(), g2.Str())
				}
			} else if got.Str() != tt.want {
				t.Fatalf("got %q, want %q", got.Str(), tt.want)
			}
			if _, ok := m.Get("url.query"); ok {
				t.Fatal("url.query not dropped")
			}
		})
	}
}

func TestScrubNestedAndSpanName(t *testing.T) {
	s := New(Defaults())
	m := pcommon.NewMap()
	inner := m.PutEmptyMap("ctx")
	inner.PutEmptySlice("list").AppendEmpty().SetStr("mail me: a@b.io")
	s.Map(m)
	v, _ := m.Get("ctx")
	l, _ := v.Map().Get("list")
	if got := l.Slice().At(0).Str(); got != "mail me: [email]" {
		t.Fatalf("nested = %q", got)
	}
	if got := s.SpanName("GET /search?q=secret"); got != "GET /search" {
		t.Fatalf("span name = %q", got)
	}
}
