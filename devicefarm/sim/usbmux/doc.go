// Package usbmux owns the simulated iOS fleet: a usbmuxd on a Unix socket with lockdownd and
// device services behind it, faithful enough that go-ios and libimobiledevice's tools
// (idevice_id, ideviceinfo, idevicesyslog, idevicediagnostics, ideviceinstaller) treat the
// devices as real iPhones and iPads from the shared catalog.
//
// Wire protocols:
//   - usbmuxd: 16-byte little-endian header (length, version 1, type 8 = plist, tag) + XML
//     plist. ListDevices, Listen (Attached/Detached events), ReadBUID, ReadPairRecord,
//     Save/DeletePairRecord (accepted), Connect (port in network byte order). Result codes
//     0 OK, 1 BadCommand (unknown message; also a body that is not an XML/binary plist, after
//     which the client is dropped), 2 BadDevice, 3 ConnRefused (port not opened by
//     StartService), 6 BadVersion (header version/type other than 1/8). A header length
//     outside 16..1 MiB drops the client.
//   - lockdownd (port 62078): 4-byte big-endian length + plist. QueryType, GetValue (main
//     domain plus battery, disk_usage, international, developer, wireless_lockdown,
//     Accessibility ...), SetValue, ValidatePair, StartSession -> TLS >= 1.2 with the pair
//     record's certificates (SHA-256, one CA/host/device set per fleet), StopSession (back to
//     plaintext), StartService (one-shot port, EnableServiceSSL). Errors carry lockdownd's
//     names: InvalidHostID, MissingHostID, SessionActive, SessionInactive, InvalidSessionID,
//     MissingValue, MissingService, InvalidService, InvalidRequest.
//   - services: installation_proxy (Browse, Lookup, Uninstall), streaming_zip_conduit (the
//     stored-zip stream go-ios sends; size and SHA-256 kept, bytes dropped; MinimumOSVersion
//     and UIDeviceFamily enforced), syslog_relay (NUL-separated lines: recent backlog, then live
//     events and background chatter), diagnostics_relay (All, GasGauge, IORegistry
//     IOPMPowerSource, MobileGestalt, Restart, Shutdown, Goodbye), crashreportmover ("ping")
//     and crashreportcopymobile (AFC: list, stat, read, remove .ips reports),
//     notification_proxy (accepted, silent).
//
// Go API:
//
//	srv, err := usbmux.NewServer(usbmux.Config{SocketPath: p, Count: 200, Seed: "farm"})
//	err = srv.Start(ctx)              // listen; os.Setenv("USBMUXD_SOCKET_ADDRESS", srv.SocketAddress())
//	d, _ := srv.Device(udid)          // or srv.Devices()
//	d.Detach(); d.Attach()            // unplug / replug (Listen clients see it, open connections are cut)
//	d.SetFaults(usbmux.Faults{DetachMidInstall: true, CrashAfterInstall: true, BatteryLevel: 4, TLSDelay: time.Second})
//	d.Apps(); d.CrashLogs(); d.InjectCrash("MyApp", "EXC_BAD_ACCESS", "SIGSEGV"); d.Log(proc, level, msg)
//	err = srv.Shutdown(ctx)
//
// Config.CrashOnOSVersion (with Config.CrashApp to name one bundle id) turns on
// CrashAfterInstall for every device on that iOS version: the "crash a given app on a given OS
// version" scenario of the farm demo.
package usbmux
