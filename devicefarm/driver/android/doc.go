// Package android owns the Android implementation of driver.Driver, on
// github.com/electricbubble/gadb v0.1.0 and the real adb server.
//
// gadb falls short in ways a farm cannot live with, so this package wraps it:
//   - no context: every gadb call runs under callCtx, which returns when ctx ends (the gadb
//     goroutine then finishes on its own socket timeout); our own adb-server client closes its
//     socket when ctx ends, so long calls (am instrument) stop at once.
//   - no exit codes: shell v2 (`shell,v2,raw:`) where the device advertises shell_v2, else
//     `shell:` with a sentinel suffix (`; echo <sentinel>$?`), on our own connection too so
//     a cancelled call leaves no gadb socket behind.
//   - a global 60 s read deadline counted from the OKAY: instrumentation runs longer, so it is
//     streamed over our own connection, never through gadb.
//   - DeviceList drops offline/unauthorized devices: List reads host:devices-l itself.
//   - no hot-plug: Watch follows host:track-devices, restarts the adb server if it died and
//     re-connects the TCP devices it had seen (an adb server restarted mid-run).
//
// Written by hand here (no maintained Go library covers them): the adb smart-socket client
// in internal/adbserver, shell v2 framing, the `am instrument -r` parser (after ddmlib's
// InstrumentationResultParser), the logcat/DropBox crash and ANR parsers, and a minimal
// binary AndroidManifest.xml reader (package, versionName, versionCode) for real APKs.
//
// gadb is used for what it does well: host:connect, sync push/pull/list. A device that vanishes mid-call yields an error wrapping
// driver.ErrDeviceGone; one listed but offline/unauthorized yields driver.ErrDeviceNotReady.
package android
