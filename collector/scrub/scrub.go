// Package scrub owns the PII rules the collector applies to telemetry before anything is
// stored: query strings and fragments removed from URLs, e-mail addresses masked in every
// string, and user ids in configured attribute keys replaced by a keyed pseudonym (or
// redacted). It edits pdata in place so the raw JSONB columns never hold the original.
package scrub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Config says what to scrub. The zero value scrubs nothing; Defaults is what the collector uses.
type Config struct {
	// URLKeys hold URLs whose query string and fragment are removed (they carry tokens,
	// search terms and e-mail addresses far more often than anything a release manager needs).
	URLKeys []string `yaml:"url_keys"`
	// DropKeys are removed entirely (url.query holds nothing but the query string).
	DropKeys []string `yaml:"drop_keys"`
	// UserIDKeys hold user identifiers: replaced by "pseudo:<hmac>" when UserIDKey is set
	// (stable, so distinct users can still be counted), else by "[redacted]".
	UserIDKeys []string `yaml:"user_id_keys"`
	UserIDKey  string   `yaml:"user_id_key" env:"FLEETLENS_COLLECTOR_USER_ID_KEY"`
	// Emails masks e-mail addresses found in any string value, span name or log body.
	Emails bool `yaml:"emails"`
}

// Defaults returns the rules the collector applies unless configured otherwise.
func Defaults() Config {
	return Config{
		URLKeys:    []string{"url.full", "http.url", "http.target", "url.original"},
		DropKeys:   []string{"url.query"},
		UserIDKeys: []string{"enduser.id", "user.id", "user.email", "user.name", "usr.id"},
		Emails:     true,
	}
}

// Scrubber applies a Config. Safe for concurrent use.
type Scrubber struct {
	cfg    Config
	url    map[string]bool
	drop   map[string]bool
	userID map[string]bool
}

// Masks that replace scrubbed values.
const (
	EmailMask    = "[email]"
	RedactedMask = "[redacted]"
)

// emailRE is deliberately simple: it catches the addresses apps log by accident without
// trying to be an RFC 5322 parser.
var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

// New returns a Scrubber for cfg.
func New(cfg Config) *Scrubber {
	set := func(keys []string) map[string]bool {
		m := make(map[string]bool, len(keys))
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	return &Scrubber{cfg: cfg, url: set(cfg.URLKeys), drop: set(cfg.DropKeys), userID: set(cfg.UserIDKeys)}
}

// String masks e-mail addresses in s.
func (s *Scrubber) String(v string) string {
	if !s.cfg.Emails || strings.IndexByte(v, '@') < 0 {
		return v
	}
	return emailRE.ReplaceAllString(v, EmailMask)
}

// SpanName strips a query string from names like "GET /search?q=..." and masks e-mails.
func (s *Scrubber) SpanName(v string) string {
	if i := strings.IndexAny(v, "?#"); i >= 0 && len(s.url) > 0 {
		v = v[:i]
	}
	return s.String(v)
}

// URL removes the query string and fragment of u.
func URL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

func (s *Scrubber) pseudonym(v string) string {
	if s.cfg.UserIDKey == "" {
		return RedactedMask
	}
	m := hmac.New(sha256.New, []byte(s.cfg.UserIDKey))
	m.Write([]byte(v))
	return "pseudo:" + hex.EncodeToString(m.Sum(nil)[:12])
}

// Map scrubs m in place.
func (s *Scrubber) Map(m pcommon.Map) {
	if len(s.drop) > 0 {
		m.RemoveIf(func(k string, _ pcommon.Value) bool { return s.drop[k] })
	}
	m.Range(func(k string, v pcommon.Value) bool {
		switch {
		case s.userID[k] && v.Type() != pcommon.ValueTypeEmpty:
			v.SetStr(s.pseudonym(v.AsString()))
		case s.url[k] && v.Type() == pcommon.ValueTypeStr:
			v.SetStr(s.String(URL(v.Str())))
		default:
			s.Value(v)
		}
		return true
	})
}

// Value masks e-mail addresses in v and everything nested in it.
func (s *Scrubber) Value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if str := v.Str(); s.cfg.Emails && strings.IndexByte(str, '@') >= 0 {
			v.SetStr(s.String(str))
		}
	case pcommon.ValueTypeMap:
		s.Map(v.Map())
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			s.Value(sl.At(i))
		}
	}
}
