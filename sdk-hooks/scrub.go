package sdkhooks

import (
	"net/url"
	"strings"
)

// Redacted replaces sensitive values (semconv url.full guidance: query values and
// credentials are replaced with "REDACTED").
const Redacted = "REDACTED"

// scrubURL drops credentials and the fragment, and replaces every query value with
// REDACTED unless keep is set: query strings carry tokens, emails and search terms.
func scrubURL(u *url.URL, keep bool) string {
	var b strings.Builder
	b.Grow(len(u.Scheme) + len(u.Host) + len(u.EscapedPath()) + len(u.RawQuery) + 8)
	if u.Scheme != "" {
		b.WriteString(u.Scheme)
		b.WriteString("://")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery == "" {
		return b.String()
	}
	b.WriteByte('?')
	if keep {
		b.WriteString(u.RawQuery)
		return b.String()
	}
	first := true
	for part := range strings.SplitSeq(u.RawQuery, "&") {
		if part == "" {
			continue
		}
		if !first {
			b.WriteByte('&')
		}
		first = false
		key, _, hasVal := strings.Cut(part, "=")
		b.WriteString(key)
		if hasVal {
			b.WriteString("=" + Redacted)
		}
	}
	return b.String()
}

// ScrubURL is scrubURL for callers reporting requests of other stacks.
func ScrubURL(raw string, keep bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Redacted // unparseable: safest to send nothing of it
	}
	return scrubURL(u, keep)
}

func (s *SDK) redactHeader(canonical, v string) string {
	if s.redact[canonical] {
		return Redacted
	}
	return v
}

func lowerHeader(h string) string { return strings.ToLower(h) }
