package styles_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"

	"github.com/fleetlens/fleetlens/tui/styles"
)

var sgr = regexp.MustCompile(`\x1b\[([0-9;]*)m`)

// TestProfiles: each profile gets colours it can show — basic ANSI codes (30-37, 90-97,
// 40-47, 100-107) on 16-colour terminals, 256-colour indexes on 256, true colour otherwise,
// and no colour at all (bold/reverse only) when there is none.
func TestProfiles(t *testing.T) {
	cases := []struct {
		p    colorprofile.Profile
		want *regexp.Regexp
		deny *regexp.Regexp
	}{
		{colorprofile.ANSI, regexp.MustCompile(`^(3[0-7]|9[0-7]|4[0-7]|10[0-7]|1|7)$`), regexp.MustCompile(`38;|48;`)},
		{colorprofile.ANSI256, regexp.MustCompile(`^(38;5;\d+|48;5;\d+|1|7|3[0-7]|9[0-7])$`), regexp.MustCompile(`38;2;`)},
		{colorprofile.TrueColor, regexp.MustCompile(`^(38;2;\d+;\d+;\d+|48;2;\d+;\d+;\d+|1|7)$`), nil},
		{colorprofile.Ascii, regexp.MustCompile(`^(1|7)$`), regexp.MustCompile(`3[0-9]|4[0-9]`)},
	}
	for _, c := range cases {
		t.Run(c.p.String(), func(t *testing.T) {
			s := styles.New(c.p)
			var out strings.Builder
			for _, st := range []string{"idle", "busy", "offline", "quarantined", "failed", "fail", "marginal"} {
				out.WriteString(s.StateStyle(st).Render(st))
			}
			out.WriteString(s.Selected.Render("row") + s.ActiveTab.Render("tab") + s.Error.Render("err"))
			// What reaches the terminal: Bubble Tea writes through colorprofile for the
			// terminal's profile, as here.
			var term strings.Builder
			w := &colorprofile.Writer{Forward: &term, Profile: c.p}
			if _, err := w.WriteString(out.String()); err != nil {
				t.Fatal(err)
			}
			if c.p == colorprofile.ANSI {
				// Our 16-colour palette is exact, not a nearest match: idle green, quarantined
				// red, the selection on a blue background.
				for _, want := range []string{"\x1b[32m", "\x1b[1;31m", "44m"} {
					if !strings.Contains(term.String(), want) {
						t.Errorf("16-colour output lacks %q: %q", want, term.String())
					}
				}
			}
			found := 0
			for _, m := range sgr.FindAllStringSubmatch(term.String(), -1) {
				for _, part := range splitSGR(m[1]) {
					if part == "" || part == "0" || part == "m" {
						continue
					}
					found++
					if !c.want.MatchString(part) || (c.deny != nil && c.deny.MatchString(part)) {
						t.Errorf("%s: unexpected SGR %q in %q", c.p, part, m[0])
					}
				}
			}
			if found == 0 {
				t.Fatalf("%s: no styling at all", c.p)
			}
		})
	}
}

// splitSGR splits "1;38;5;33" into attributes, keeping extended colours together.
func splitSGR(s string) []string {
	f := strings.Split(s, ";")
	var out []string
	for i := 0; i < len(f); i++ {
		if (f[i] == "38" || f[i] == "48") && i+1 < len(f) {
			n := 3
			if f[i+1] == "2" {
				n = 5
			}
			out = append(out, strings.Join(f[i:min(i+n, len(f))], ";"))
			i += n - 1
			continue
		}
		out = append(out, f[i])
	}
	return out
}
