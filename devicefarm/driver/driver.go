// Package driver defines the Driver interface through which the agent and the device farm
// talk to phones, whatever their platform. Implementations live in android/ (on gadb and the
// adb server) and ios/ (on go-ios and usbmuxd). Every call does I/O, so every call takes a
// context and honours its deadline; a device that vanishes mid-call returns an error wrapping
// ErrDeviceGone, never an empty success.
package driver

import (
	"context"
	"errors"
	"time"
)

// Platform names the device family a driver serves.
type Platform string

const (
	Android Platform = "android"
	IOS     Platform = "ios"
)

// Sentinel errors callers branch on (wrap them with %w, test with errors.Is).
var (
	// ErrDeviceGone: the device disappeared (unplugged, adb/usbmux lost it) during the call.
	ErrDeviceGone = errors.New("device gone")
	// ErrDeviceNotReady: the device is listed but cannot be used (offline, unauthorized, not booted).
	ErrDeviceNotReady = errors.New("device not ready")
	// ErrInstallFailed: the platform refused the app; the message carries its reason code.
	ErrInstallFailed = errors.New("install failed")
)

// DeviceState is the device's connection state as its platform reports it.
type DeviceState string

const (
	StateReady        DeviceState = "ready" // adb "device", usbmux attached + paired
	StateOffline      DeviceState = "offline"
	StateUnauthorized DeviceState = "unauthorized"
	StateGone         DeviceState = "gone"
)

// Device is what a driver knows about one device.
type Device struct {
	Serial       string // adb serial or iOS UDID
	Platform     Platform
	State        DeviceState
	Manufacturer string
	Model        string // marketing/model name, e.g. "SM-A125F" or "iPhone 13"
	ProductType  string // iOS ProductType ("iPhone14,5"); Android ro.product.device
	OSVersion    string // "11", "17.6"
	APILevel     int    // Android SDK level; 0 on iOS
	ABI          string
	RAMMB        int
	CPUCores     int
	CPUMaxMHz    int
	Screen       string            // "WxH"
	Props        map[string]string // raw properties the platform exposed (getprop, lockdown values)
}

// Health is one health reading; zero values mean "not measured" only where noted.
type Health struct {
	BatteryLevel  int     // percent 0-100
	Charging      bool    // on AC/USB power
	TemperatureC  float64 // battery temperature
	ThermalStatus string  // "none", "light", "moderate", "severe", "critical", ...
	FreeStorageMB int64
	Booted        bool
	Responsive    bool
	CheckedAt     time.Time
}

// DeviceEvent reports a device appearing, changing state or disappearing.
type DeviceEvent struct {
	Device Device // State == StateGone when it disappeared
	At     time.Time
}

// App is an installed application.
type App struct {
	ID      string // Android package name or iOS bundle id
	Version string
}

// TestStatus is the outcome of one test execution.
type TestStatus string

const (
	TestPassed            TestStatus = "passed"
	TestFailed            TestStatus = "failed"
	TestError             TestStatus = "error" // the test crashed the process / did not complete
	TestIgnored           TestStatus = "ignored"
	TestAssumptionFailure TestStatus = "assumption_failure"
)

// TestCase names one test.
type TestCase struct {
	Class  string
	Method string
}

// TestResult is the outcome of one test on one device.
type TestResult struct {
	TestCase
	Status   TestStatus
	Duration time.Duration
	Message  string // failure message, first line
	Stack    string // full stack trace, if any
	Logcat   string // device log lines written while the test ran, when the driver captures them
}

// RunRequest asks a device to run a set of tests of an installed app.
type RunRequest struct {
	AppID       string     // app under test
	TestAppID   string     // Android test package (instrumentation); empty on iOS smoke
	Runner      string     // Android instrumentation runner, default androidx.test.runner.AndroidJUnitRunner
	Tests       []TestCase // empty: all tests
	Args        map[string]string
	TestTimeout time.Duration // per test; 0 means none
}

// Crash is a crash or ANR found on the device.
type Crash struct {
	Kind      string // "crash" or "anr"
	Process   string
	Exception string // e.g. "java.lang.NullPointerException", "EXC_BAD_ACCESS (SIGSEGV)"
	OSVersion string
	At        time.Time
	Text      string // the raw report or logcat excerpt
}

// Driver is the platform-neutral contract the agent consumes.
type Driver interface {
	Platform() Platform
	// List returns every device the platform sees, including offline/unauthorized ones.
	List(ctx context.Context) ([]Device, error)
	// Watch streams device events until ctx ends; the channel is closed then.
	Watch(ctx context.Context) (<-chan DeviceEvent, error)
	// Info reads the full properties of one device.
	Info(ctx context.Context, serial string) (Device, error)
	Health(ctx context.Context, serial string) (Health, error)
	Install(ctx context.Context, serial, path string) (App, error)
	Uninstall(ctx context.Context, serial, appID string) error
	// RunTests runs tests and calls onResult as each finishes (for live progress); it returns
	// once all have run or the run itself failed.
	RunTests(ctx context.Context, serial string, req RunRequest, onResult func(TestResult)) error
	// Logs returns device log lines since a time (logcat / syslog).
	Logs(ctx context.Context, serial string, since time.Time) (string, error)
	// Crashes returns crashes/ANRs of appID (all apps if empty) since a time.
	Crashes(ctx context.Context, serial, appID string, since time.Time) ([]Crash, error)
	Screenshot(ctx context.Context, serial string) ([]byte, error)
	// ApplyNetworkProfile routes the device's app traffic through a host proxy (a toxiproxy
	// listener on the agent host) and returns a function that restores the previous setting.
	ApplyNetworkProfile(ctx context.Context, serial, hostProxyAddr string) (restore func(context.Context) error, err error)
}
