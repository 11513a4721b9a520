package fleet

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/tui/components"
	"github.com/fleetlens/fleetlens/tui/data"
)

func intp(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

func floatp(p *float64) float64 {
	if p == nil {
		return -1000
	}
	return *p
}

func compareBy(col int, a, b *data.Device) int {
	switch col {
	case colPlatform:
		return cmp.Compare(a.Platform, b.Platform)
	case colModel:
		return cmp.Compare(a.Model, b.Model)
	case colOS:
		return compareVersion(a.OSVersion, b.OSVersion)
	case colHost:
		return cmp.Compare(a.Host(), b.Host())
	case colState:
		return cmp.Compare(slices.Index(States, a.State), slices.Index(States, b.State))
	case colBattery:
		return cmp.Compare(intp(a.Battery), intp(b.Battery))
	case colTemp:
		return cmp.Compare(floatp(a.TempC), floatp(b.TempC))
	}
	return cmp.Compare(a.Serial, b.Serial)
}

// compareVersion orders "9" before "10" and "16.4" before "17".
func compareVersion(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			fmt.Sscanf(pa[i], "%d", &x)
		}
		if i < len(pb) {
			fmt.Sscanf(pb[i], "%d", &y)
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(a, b)
}

func fillCells(cells []string, d *data.Device, now time.Time) {
	cells[colSerial] = d.Serial
	cells[colPlatform] = map[string]string{"android": "and", "ios": "ios"}[d.Platform]
	cells[colModel] = d.Model
	cells[colOS] = d.OSVersion
	cells[colHost] = d.Host()
	cells[colState] = d.State
	if !d.HealthOK && d.State != "quarantined" && d.State != "offline" {
		cells[colState] = d.State + "!"
	}
	cells[colBattery] = "-"
	if d.Battery != nil {
		cells[colBattery] = fmt.Sprintf("%d%%", *d.Battery)
	}
	cells[colTemp] = "-"
	if d.TempC != nil {
		cells[colTemp] = fmt.Sprintf("%.0f°C", *d.TempC)
	}
	cells[8] = ""
	if d.CurrentRun != nil {
		cells[8] = fmt.Sprintf("#%d %s", *d.CurrentRun, d.CurrentTest)
	}
	cells[9] = components.Duration(now.Sub(d.LastSeen))
}
