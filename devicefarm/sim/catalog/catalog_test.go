package catalog

import (
	"strings"
	"testing"
)

func TestCatalogLoadsAndCoversBothPlatforms(t *testing.T) {
	if n := len(ByPlatform(Android)); n < 10 {
		t.Fatalf("want at least 10 Android models, got %d", n)
	}
	if n := len(ByPlatform(IOS)); n < 10 {
		t.Fatalf("want at least 10 iOS models, got %d", n)
	}
	m, ok := Lookup("galaxy-a12")
	if !ok || m.ModelCode != "SM-A125F" || m.Platform != Android {
		t.Fatalf("galaxy-a12 lookup = %+v, %v", m, ok)
	}
	if w, h := m.ScreenSize(); w != 720 || h != 1600 {
		t.Fatalf("screen = %dx%d", w, h)
	}
}

func TestFleetCoversEveryModelOSPairBeforeRepeating(t *testing.T) {
	pairs := 0
	for _, m := range ByPlatform(Android) {
		pairs += len(m.OSVersions)
	}
	fleet := Fleet(Android, pairs, "t")
	seen := map[string]bool{}
	serials := map[string]bool{}
	for _, d := range fleet {
		k := d.Model.ID + "/" + d.OSVersion
		if seen[k] {
			t.Fatalf("pair %s repeated before all %d pairs were used", k, pairs)
		}
		seen[k] = true
		if serials[d.Serial] {
			t.Fatalf("serial %s repeated", d.Serial)
		}
		serials[d.Serial] = true
	}
	if a, b := Fleet(IOS, 3, "x")[2].Serial, Fleet(IOS, 3, "y")[2].Serial; a == b {
		t.Fatalf("different seeds gave the same UDID %s", a)
	}
}

func TestIOSProductTypesKeepTheirComma(t *testing.T) {
	for _, m := range ByPlatform(IOS) {
		if !strings.Contains(m.ProductType, ",") {
			t.Errorf("%s: ProductType %q lost its \",N\" part (unquoted in YAML flow style?)", m.ID, m.ProductType)
		}
	}
}
