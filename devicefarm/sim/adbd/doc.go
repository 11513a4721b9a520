// Package adbd owns the Android device simulator: one TCP listener per simulated phone
// speaking the adb transport protocol (CNXN with optional AUTH, OPEN/OKAY/WRTE/CLSE with one
// outstanding WRTE per direction, maxdata 1 MiB) well enough that the real adb server
// (`adb connect 127.0.0.1:PORT`) and gadb cannot tell it from a phone.
//
// Services: `shell:` and `shell,v2,...:` (stdout/stderr/exit packets), `exec:`, `sync:`
// (STAT/LIST/SEND/RECV/QUIT, frames spanning WRTE boundaries), `reverse:`, `reboot:`. The shell knows
// getprop, pm/cmd package (list, install -S streamed, install PATH, uninstall, path),
// dumpsys battery|thermalservice|package|dropbox, logcat (-d dumps, else follows; -c/-b/-T/-t/-s),
// screencap -p (a real PNG),
// settings get/put/delete, am instrument -w -r (AndroidJUnitRunner raw status format), df,
// wm size, cat of /proc and /sys hardware files and of small pushed files, echo, sleep;
// `shell:` with no command is an interactive shell (echo and prompt when a pty is asked for).
// Unknown services get CLSE, unknown commands exit 127; garbage or truncated frames drop
// the one transport (the adb server reconnects) and the device keeps listening.
//
// Devices impersonate real models from devicefarm/sim/catalog with their getprop keys.
// Pushed files and installed APKs are kept as size + xxhash64 (plus content when at most
// 64 KiB), so a fleet of 500 stays small. A goroutine runs per listener and per transport
// (blocked in the netpoller) and per active stream; nothing polls.
//
// Test APKs are zips made by BuildAPK: their first, stored entry is a JSON Manifest
// (package, version, instrumentation target and test list). A sidecar
// /data/local/tmp/PKG.fleetlens-tests.json overrides it. Each test may carry Behaviours
// matched per model/OS/SDK: fail (e.g. only on Android 10), error, ignored, assumption,
// flaky with a probability, crash (FATAL EXCEPTION in the crash buffer and "Process
// crashed."), anr ("ANR in" in the system buffer), drop (the device falls off the bus).
//
// A sidecar (or the embedded entry) looks like:
//
//	{"package": "com.example.shop.test",
//	 "instrumentation": {"target_package": "com.example.shop", "tests": [
//	   {"class": "com.example.shop.LoginTest", "method": "rejectsBadPassword", "duration_ms": 900,
//	    "behaviours": [{"when": {"os": ["10"]}, "outcome": "fail", "message": "expected:<x> but was:<null>"}]},
//	   {"class": "com.example.shop.FeedTest", "method": "scrolls",
//	    "behaviours": [{"when": {"models": ["redmi-9a"]}, "outcome": "anr"},
//	                   {"outcome": "flaky", "probability": 0.2}]}]}}
//
// am instrument honours -e class A#m,B, -e notClass, -e numShards/-e shardIndex and
// -e log true; durations are jittered ±20 % and scaled by the model's CPU clock.
//
// API used by the farm and the demo:
//
//	fleet, err := adbd.NewFleet(adbd.Config{Count: 20, TimeScale: 0.05})
//	err = fleet.Start(ctx)
//	for _, d := range fleet.Devices() { fmt.Println(d.Addr(), d.Instance().Model.Name) }
//	d := fleet.Device("127.0.0.1:40001")          // by adb serial or ro.serialno
//	d.SetBattery(4, 47.5); d.SetCharging(false)   // low battery, overheating (health=3)
//	d.SetThermalStatus(4); d.SetFreeStorageMB(50) // throttling, full storage
//	d.SetStorageSpeedMBps(8)                      // slow eMMC: pushes/installs crawl
//	d.DropAfterTests(3)                           // falls off the bus in its next run
//	d.Detach(); d.Attach()                        // cable pulled / plugged back
//	d.SetOffline(true); d.SetUnauthorized(true)   // adb shows offline / unauthorized
//	d.SetAuthRequired(true); d.SetShellV2(false)  // AUTH handshake; pre-Android-7 adbd
//	d.FileInfo(path); d.Packages(); d.Log('E', "MyTag", "msg")
//	err = fleet.Shutdown(ctx)
//
// Config.Faults applies device misbehaviour by Match at start (also as YAML, see
// `fleetlens sim android --faults`). BuildAPK writes test and app APKs for the farm and demo;
// ParseManifest validates a sidecar. Config.TimeScale shrinks simulated durations for tests.
package adbd
