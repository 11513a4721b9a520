package dashboards

import "strings"

// Files renders the committed tree from the Go definitions: json/<uid minus "fleetlens-">.json
// for each dashboard and the environment-driven provisioning files.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{
		"provisioning/datasources/fleetlens.yaml": DatasourceYAML(envConnection),
		"provisioning/dashboards/fleetlens.yaml":  ProviderYAML(DefaultDashboardsPath),
	}
	for _, d := range All() {
		b, err := d.Marshal()
		if err != nil {
			return nil, err
		}
		out["json/"+strings.TrimPrefix(d.UID, "fleetlens-")+".json"] = b
	}
	return out, nil
}
