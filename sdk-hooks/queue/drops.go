package queue

import (
	"encoding/json"
	"maps"
	"os"
)

const dropFile = "dropped.json"

// dropCounts survives restarts: Total only grows, Reported trails it.
type dropCounts struct {
	Total    map[string]int64 `json:"total"`
	Reported map[string]int64 `json:"reported"`
}

func (d *dropCounts) load(path string) {
	b, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal(b, d) // garbage counts restart from zero rather than failing the app
	}
	if d.Total == nil {
		d.Total = map[string]int64{}
	}
	if d.Reported == nil {
		d.Reported = map[string]int64{}
	}
	for k, v := range d.Total {
		if v < 0 {
			delete(d.Total, k)
		}
	}
}

func (d *dropCounts) add(reason string, n int64) {
	if n > 0 {
		d.Total[reason] += n
	}
}

func (d *dropCounts) unreported() map[string]int64 {
	out := map[string]int64{}
	for k, v := range d.Total {
		if u := v - d.Reported[k]; u > 0 {
			out[k] = u
		}
	}
	return out
}

func (d *dropCounts) save(path string, sync bool) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func clone(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return maps.Clone(m)
}
