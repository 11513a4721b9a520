// Package catalog owns the list of real device models that the Android and iOS simulators
// impersonate and that the traffic simulator samples user sessions from. The data lives in
// models.yaml (embedded) so that every simulator draws from one source of truth.
package catalog

import (
	_ "embed"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed models.yaml
var modelsYAML []byte

// Platform is the mobile operating system family of a model.
type Platform string

const (
	Android Platform = "android"
	IOS     Platform = "ios"
)

// Model is one real phone or tablet model with its published hardware figures.
type Model struct {
	ID            string   `yaml:"id"`
	Platform      Platform `yaml:"-"`
	Manufacturer  string   `yaml:"manufacturer"`
	Brand         string   `yaml:"brand"`
	Name          string   `yaml:"model"`          // marketing name, e.g. "Galaxy A12"
	ModelCode     string   `yaml:"model_code"`     // Android ro.product.model, e.g. "SM-A125F"
	Device        string   `yaml:"device"`         // Android ro.product.device codename
	Product       string   `yaml:"product"`        // Android ro.product.name
	ProductType   string   `yaml:"product_type"`   // iOS ProductType, e.g. "iPhone14,5"
	HardwareModel string   `yaml:"hardware_model"` // iOS HardwareModel, e.g. "D17AP"
	SoC           string   `yaml:"soc"`
	ABI           string   `yaml:"abi"`
	RAMMB         int      `yaml:"ram_mb"`
	CPUCores      int      `yaml:"cpu_cores"`
	CPUMaxMHz     int      `yaml:"cpu_max_mhz"`
	Screen        string   `yaml:"screen"` // "WIDTHxHEIGHT" in pixels
	DPI           int      `yaml:"dpi"`
	OSVersions    []string `yaml:"os_versions"`
}

type file struct {
	Android []Model `yaml:"android"`
	IOS     []Model `yaml:"ios"`
}

var (
	loadOnce sync.Once
	all      []Model
	loadErr  error
)

// All returns every model, Android first, in catalog order. The slice is shared: do not modify it.
func All() []Model {
	loadOnce.Do(func() {
		var f file
		if loadErr = yaml.Unmarshal(modelsYAML, &f); loadErr != nil {
			loadErr = fmt.Errorf("catalog: parse models.yaml: %w", loadErr)
			return
		}
		for i := range f.Android {
			f.Android[i].Platform = Android
		}
		for i := range f.IOS {
			f.IOS[i].Platform = IOS
		}
		all = append(f.Android, f.IOS...)
		loadErr = validate(all)
	})
	if loadErr != nil {
		// The file is embedded and covered by tests: a parse failure is a build defect.
		panic(loadErr)
	}
	return all
}

func validate(models []Model) error {
	seen := map[string]bool{}
	for _, m := range models {
		switch {
		case m.ID == "" || seen[m.ID]:
			return fmt.Errorf("catalog: model id %q is empty or repeated", m.ID)
		case len(m.OSVersions) == 0:
			return fmt.Errorf("catalog: model %s has no os_versions", m.ID)
		case m.RAMMB <= 0 || m.CPUCores <= 0 || m.CPUMaxMHz <= 0:
			return fmt.Errorf("catalog: model %s lacks RAM/CPU figures", m.ID)
		case m.Platform == Android && (m.ModelCode == "" || m.Device == "" || m.ABI == ""):
			return fmt.Errorf("catalog: android model %s lacks model_code/device/abi", m.ID)
		case m.Platform == IOS && m.ProductType == "":
			return fmt.Errorf("catalog: ios model %s lacks product_type", m.ID)
		}
		for _, v := range m.OSVersions {
			if m.Platform == Android && AndroidAPILevel(v) == 0 {
				return fmt.Errorf("catalog: model %s: unknown Android version %q", m.ID, v)
			}
		}
		seen[m.ID] = true
	}
	return nil
}

// ByPlatform returns the models of one platform in catalog order.
func ByPlatform(p Platform) []Model {
	var out []Model
	for _, m := range All() {
		if m.Platform == p {
			out = append(out, m)
		}
	}
	return out
}

// Lookup finds a model by its catalog id.
func Lookup(id string) (Model, bool) {
	for _, m := range All() {
		if m.ID == id {
			return m, true
		}
	}
	return Model{}, false
}

// ScreenSize parses Screen into width and height pixels.
func (m Model) ScreenSize() (w, h int) {
	ws, hs, _ := strings.Cut(m.Screen, "x")
	w, _ = strconv.Atoi(ws)
	h, _ = strconv.Atoi(hs)
	return w, h
}

// AndroidAPILevel maps an Android release ("9".."15") to its SDK/API level; 0 if unknown.
func AndroidAPILevel(release string) int {
	switch release {
	case "9":
		return 28
	case "10":
		return 29
	case "11":
		return 30
	case "12":
		return 31
	case "13":
		return 33
	case "14":
		return 34
	case "15":
		return 35
	}
	return 0
}

// Instance is one concrete simulated device: a model running one OS version with a stable
// serial/UDID derived from its index, so fleets are reproducible run to run.
type Instance struct {
	Model     Model
	OSVersion string
	Index     int
	Serial    string // Android serial (16 hex) or iOS UDID (00008030-...)
}

// Fleet returns n devices of platform p, cycling through models and their OS versions so that
// every (model, OS version) pair appears before any repeats. seed varies the serials so two
// fleets on one machine never collide.
func Fleet(p Platform, n int, seed string) []Instance {
	var pairs []Instance
	models := ByPlatform(p)
	for round := 0; ; round++ {
		added := false
		for _, m := range models {
			if round < len(m.OSVersions) {
				pairs = append(pairs, Instance{Model: m, OSVersion: m.OSVersions[round]})
				added = true
			}
		}
		if !added {
			break
		}
	}
	out := make([]Instance, n)
	for i := range out {
		inst := pairs[i%len(pairs)]
		inst.Index = i
		inst.Serial = serialFor(p, seed, i)
		out[i] = inst
	}
	return out
}

func serialFor(p Platform, seed string, i int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", p, seed, i)
	sum := h.Sum64()
	if p == IOS {
		// Modern UDIDs look like "00008030-001A2C3E0C38802E": chip id, dash, 16 hex digits.
		return fmt.Sprintf("00008030-%016X", sum)
	}
	return fmt.Sprintf("%016x", sum)
}
