package usbmux_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielpaulus/go-ios/ios"
)

// TestFleet200 runs the full fleet size the farm uses on one machine: every device listed by
// both clients and every device answering a lockdown session in parallel.
func TestFleet200(t *testing.T) {
	srv := startSim(t, 200, nil)
	out, err := tool(t, 20*time.Second, "idevice_id", "-l")
	if err != nil || len(strings.Fields(out)) != 200 {
		t.Fatalf("idevice_id -l: %d lines, %v", len(strings.Fields(out)), err)
	}
	list, err := ios.ListDevices()
	if err != nil || len(list.DeviceList) != 200 {
		t.Fatalf("ListDevices: %d, %v", len(list.DeviceList), err)
	}
	types := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, 200)
	for _, e := range list.DeviceList {
		wg.Add(1)
		sem <- struct{}{}
		go func(e ios.DeviceEntry) {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := ios.GetValues(e)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			types[v.Value.ProductType+" "+v.Value.ProductVersion] = true
			mu.Unlock()
		}(e)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(types) < 20 {
		t.Errorf("only %d distinct model/OS pairs across 200 devices: %v", len(types), types)
	}
	_ = srv
}
