package adbd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// TestRealADB drives the real adb CLI (Debian adb 29.0.6) against simulated devices.
func TestRealADB(t *testing.T) {
	r := newRig(t, Config{Count: 5, Seed: "adbtest"})
	r.connectAll()
	devs := r.fleet.Devices()
	for _, d := range devs {
		r.waitState(d.Addr(), "device")
	}
	d0 := devs[0]
	s0 := d0.Addr()
	tmp := t.TempDir()

	t.Run("devices -l", func(t *testing.T) {
		out := r.adbOK("devices", "-l")
		for _, d := range devs {
			want := fmt.Sprintf("device product:%s model:%s device:%s", d.Prop("ro.product.name"),
				sanitize(d.Prop("ro.product.model")), d.Prop("ro.product.device"))
			if !strings.Contains(out, d.Addr()) || !strings.Contains(out, want) {
				t.Errorf("devices -l lacks %s %q:\n%s", d.Addr(), want, out)
			}
		}
	})
	t.Run("getprop", func(t *testing.T) {
		for _, d := range devs {
			got := strings.TrimSpace(r.adbOK("-s", d.Addr(), "shell", "getprop", "ro.product.model"))
			if got != d.Instance().Model.ModelCode {
				t.Errorf("%s: ro.product.model = %q, want %q", d.Addr(), got, d.Instance().Model.ModelCode)
			}
		}
		all := r.adbOK("-s", s0, "shell", "getprop")
		if !strings.Contains(all, "[ro.build.version.sdk]: [34]") || !strings.Contains(all, "[ro.product.manufacturer]: [Google]") {
			t.Errorf("getprop listing of a Pixel 8 Pro on 14 lacks sdk/manufacturer:\n%.400s", all)
		}
	})
	t.Run("exit codes and stderr", func(t *testing.T) {
		cases := []struct {
			cmd      string
			code     int
			stdout   string
			inStderr string
		}{
			{"exit 3", 3, "", ""},
			{"true", 0, "", ""},
			{"false; echo $?", 0, "1\n", ""},
			{"nosuchcmd", 127, "", "nosuchcmd: inaccessible or not found"},
			{"echo a && false || echo b", 0, "a\nb\n", ""},
			{"cat /nope", 1, "", "No such file"},
		}
		for _, c := range cases {
			res := r.adb("-s", s0, "shell", c.cmd)
			if res.code != c.code || res.stdout != c.stdout || !strings.Contains(res.stderr, c.inStderr) {
				t.Errorf("shell %q = %d %q %q; want %d %q stderr~%q", c.cmd, res.code, res.stdout, res.stderr, c.code, c.stdout, c.inStderr)
			}
		}
	})
	t.Run("push pull", func(t *testing.T) {
		small := filepath.Join(tmp, "config.json")
		os.WriteFile(small, []byte(`{"hello":"device"}`), 0o644)
		r.adbOK("-s", s0, "push", small, "/sdcard/config.json")
		back := filepath.Join(tmp, "back.json")
		r.adbOK("-s", s0, "pull", "/sdcard/config.json", back)
		if b, _ := os.ReadFile(back); string(b) != `{"hello":"device"}` {
			t.Errorf("pulled %q", b)
		}
		big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16+7) // 3 MiB+, spans many WRTEs
		bigPath := filepath.Join(tmp, "big.bin")
		os.WriteFile(bigPath, big, 0o644)
		out := r.adbOK("-s", s0, "push", bigPath, "/data/local/tmp/")
		if !strings.Contains(out, "1 file pushed") {
			t.Errorf("push output %q", out)
		}
		size, hash, ok := d0.FileInfo("/data/local/tmp/big.bin")
		if !ok || size != int64(len(big)) || hash != xxhash.Sum64(big) {
			t.Errorf("device kept size %d hash %x ok %v; want %d %x", size, hash, ok, len(big), xxhash.Sum64(big))
		}
		res := r.adb("-s", s0, "pull", "/data/local/tmp/big.bin", filepath.Join(tmp, "x"))
		if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "size and hash") {
			t.Errorf("pull of a hash-only file: %d %q", res.code, res.stderr)
		}
		if res := r.adb("-s", s0, "pull", "/no/such", filepath.Join(tmp, "y")); res.code == 0 {
			t.Error("pull of a missing file succeeded")
		}
		if got := r.adbOK("-s", s0, "shell", "ls", "/data/local/tmp"); !strings.Contains(got, "big.bin") {
			t.Errorf("ls = %q", got)
		}
		meminfo := filepath.Join(tmp, "meminfo")
		r.adbOK("-s", s0, "pull", "/proc/meminfo", meminfo)
		if b, _ := os.ReadFile(meminfo); !strings.HasPrefix(string(b), "MemTotal:") {
			t.Errorf("meminfo %q", b)
		}
	})
	t.Run("install uninstall", func(t *testing.T) {
		apk := writeAPK(t, tmp, Manifest{Package: "com.example.shop", VersionName: "2.3.1", VersionCode: 231}, 300<<10)
		if out := r.adbOK("-s", s0, "install", "-r", apk); !strings.Contains(out, "Success") {
			t.Fatalf("install: %q", out)
		}
		if out := r.adbOK("-s", s0, "shell", "pm", "list", "packages", "-3"); out != "package:com.example.shop\n" {
			t.Errorf("pm list packages -3 = %q", out)
		}
		if out := r.adbOK("-s", s0, "shell", "dumpsys", "package", "com.example.shop"); !strings.Contains(out, "versionName=2.3.1") {
			t.Errorf("dumpsys package = %q", out)
		}
		old := writeAPK(t, filepath.Join(tmp), Manifest{Package: "com.example.shop", VersionCode: 100}, 10<<10)
		if res := r.adb("-s", s0, "install", old); res.code == 0 || !strings.Contains(res.stdout+res.stderr, "INSTALL_FAILED_VERSION_DOWNGRADE") {
			t.Errorf("downgrade: %d %q %q", res.code, res.stdout, res.stderr)
		}
		if out := r.adbOK("-s", s0, "uninstall", "com.example.shop"); !strings.Contains(out, "Success") {
			t.Errorf("uninstall: %q", out)
		}
		if res := r.adb("-s", s0, "uninstall", "com.example.shop"); !strings.Contains(res.stdout+res.stderr, "DELETE_FAILED_INTERNAL_ERROR") {
			t.Errorf("second uninstall: %+v", res)
		}
		bad := filepath.Join(tmp, "garbage.apk")
		os.WriteFile(bad, []byte("this is not a zip"), 0o644)
		if res := r.adb("-s", s0, "install", bad); res.code == 0 || !strings.Contains(res.stdout+res.stderr, "INSTALL_PARSE_FAILED_NOT_APK") {
			t.Errorf("garbage install: %+v", res)
		}
		newer := writeAPK(t, tmp, Manifest{Package: "com.example.newsdk", MinSDK: 35}, 10<<10)
		if res := r.adb("-s", s0, "install", newer); !strings.Contains(res.stdout+res.stderr, "INSTALL_FAILED_OLDER_SDK") {
			t.Errorf("minSdk 35 on a 34 device: %+v", res)
		}
		// Legacy path: push then pm install.
		r.adbOK("-s", s0, "push", apk, "/data/local/tmp/app.apk")
		if out := r.adbOK("-s", s0, "shell", "pm", "install", "-r", "/data/local/tmp/app.apk"); out != "Success\n" {
			t.Errorf("pm install = %q", out)
		}
	})
	t.Run("instrument", func(t *testing.T) {
		app := writeAPK(t, tmp, Manifest{Package: "com.example.shop", VersionCode: 300}, 50<<10)
		tests := writeAPK(t, tmp, demoTests(), 20<<10)
		comp := "com.example.shop.test/androidx.test.runner.AndroidJUnitRunner"
		for _, d := range devs {
			r.adbOK("-s", d.Addr(), "install", "-r", app)
			r.adbOK("-s", d.Addr(), "install", "-r", tests)
			out := r.adbOK("-s", d.Addr(), "shell", "am", "instrument", "-w", "-r", comp)
			wantFail := d.Instance().OSVersion == "10"
			if got := strings.Contains(out, "INSTRUMENTATION_STATUS_CODE: -2"); got != wantFail {
				t.Errorf("%s (Android %s): failure reported = %v:\n%s", d.Addr(), d.Instance().OSVersion, got, out)
			}
			for _, want := range []string{"INSTRUMENTATION_STATUS: numtests=6", "INSTRUMENTATION_STATUS_CODE: -3", "INSTRUMENTATION_STATUS_CODE: -4",
				"INSTRUMENTATION_STATUS: test=paysWithCard", "\nTime: ", "INSTRUMENTATION_CODE: -1"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: output lacks %q", d.Addr(), want)
				}
			}
			if wantFail && !strings.Contains(out, "FAILURES!!!\nTests run: 6,  Failures: 1") {
				t.Errorf("%s: summary missing:\n%s", d.Addr(), out)
			}
		}
		human := r.adbOK("-s", devs[4].Addr(), "shell", "am", "instrument", "-w", comp)
		if strings.Contains(human, "INSTRUMENTATION_STATUS") || !strings.Contains(human, "\ncom.example.shop.CartTest:.") ||
			!strings.Contains(human, "Error in rejectsBadPassword(com.example.shop.LoginTest):") || !strings.Contains(human, "FAILURES!!!\nTests run: 6,  Failures: 1") {
			t.Errorf("am instrument without -r:\n%s", human)
		}
		one := r.adbOK("-s", s0, "shell", "am", "instrument", "-w", "-r", "-e", "class", "com.example.shop.CartTest#addsItem", comp)
		if !strings.Contains(one, "numtests=1") || !strings.Contains(one, "OK (1 test)") {
			t.Errorf("class filter:\n%s", one)
		}
		res := r.adb("-s", s0, "shell", "am", "instrument", "-w", "-r", "com.nope/androidx.test.runner.AndroidJUnitRunner")
		if res.code != 1 || !strings.Contains(res.stdout, "Unable to find instrumentation info") {
			t.Errorf("unknown instrumentation: %+v", res)
		}
		// A sidecar scripting a crash overrides the embedded manifest.
		m := demoTests()
		m.Instrumentation.Tests[2].Behaviours = []Behaviour{{Outcome: OutcomeCrash}}
		side := filepath.Join(tmp, "com.example.shop.test"+SidecarSuffix)
		js, _ := jsonMarshal(m)
		os.WriteFile(side, js, 0o644)
		r.adbOK("-s", s0, "push", side, "/data/local/tmp/")
		out := r.adbOK("-s", s0, "shell", "am", "instrument", "-w", "-r", comp)
		if !strings.Contains(out, "INSTRUMENTATION_RESULT: shortMsg=Process crashed.") {
			t.Errorf("crash run:\n%s", out)
		}
		crash := r.adbOK("-s", s0, "logcat", "-d", "-b", "crash")
		if !strings.Contains(crash, "FATAL EXCEPTION: main") || !strings.Contains(crash, "Process: com.example.shop, PID:") {
			t.Errorf("crash buffer:\n%s", crash)
		}
		if main := r.adbOK("-s", s0, "logcat", "-d"); !strings.Contains(main, "TestRunner: started: logsIn(com.example.shop.LoginTest)") {
			t.Errorf("logcat lacks TestRunner lines:\n%.2000s", main)
		}
	})
	t.Run("shell reading commands from stdin", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := r.srv.Command(ctx, "-s", s0, "shell")
		cmd.Stdin = strings.NewReader("getprop ro.product.device\necho two\nexit 4\n")
		out, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 4 || string(out) != "husky\ntwo\n" {
			t.Errorf("adb shell < script = %q, %v", out, err)
		}
	})
	t.Run("logcat follows", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := r.srv.Command(ctx, "-s", s0, "logcat", "-s", "FollowMe")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); cmd.Wait() }()
		go func() {
			for i := 0; i < 50 && ctx.Err() == nil; i++ {
				time.Sleep(100 * time.Millisecond)
				d0.Log('W', "FollowMe", fmt.Sprintf("live line %d", i))
			}
		}()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "W FollowMe: live line") {
				return
			}
		}
		t.Fatalf("adb logcat never showed a live line: %v", sc.Err())
	})
	t.Run("battery thermal screencap", func(t *testing.T) {
		d0.SetBattery(5, 47.5)
		out := r.adbOK("-s", s0, "shell", "dumpsys", "battery")
		if !strings.Contains(out, "  level: 5\n") || !strings.Contains(out, "  temperature: 475\n") || !strings.Contains(out, "  health: 3\n") {
			t.Errorf("dumpsys battery:\n%s", out)
		}
		if out := r.adbOK("-s", s0, "shell", "dumpsys", "thermalservice"); !strings.Contains(out, "Thermal Status: 3") {
			t.Errorf("thermal:\n%s", out)
		}
		for _, args := range [][]string{{"shell", "screencap", "-p"}, {"exec-out", "screencap", "-p"}} {
			img, err := png.Decode(strings.NewReader(r.adbOK(append([]string{"-s", s0}, args...)...)))
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			w, h := d0.Instance().Model.ScreenSize()
			if b := img.Bounds(); b.Dx() != w/8 || b.Dy() != h/8 {
				t.Errorf("screencap %v = %v", args, b)
			}
		}
	})
	t.Run("reverse and settings", func(t *testing.T) {
		r.adbOK("-s", s0, "reverse", "tcp:8080", "tcp:18080")
		if out := r.adbOK("-s", s0, "reverse", "--list"); !strings.Contains(out, "tcp:8080 tcp:18080") {
			t.Errorf("reverse --list = %q", out)
		}
		r.adbOK("-s", s0, "reverse", "--remove", "tcp:8080")
		if out := r.adbOK("-s", s0, "reverse", "--list"); strings.Contains(out, "tcp:8080") {
			t.Errorf("after remove: %q", out)
		}
		if res := r.adb("-s", s0, "reverse", "--remove", "tcp:9"); res.code == 0 {
			t.Error("removing a missing reverse succeeded")
		}
		r.adbOK("-s", s0, "shell", "settings", "put", "global", "http_proxy", "10.0.2.2:8888")
		if out := r.adbOK("-s", s0, "shell", "settings", "get", "global", "http_proxy"); out != "10.0.2.2:8888\n" {
			t.Errorf("settings get = %q", out)
		}
	})
	t.Run("auth accepted", func(t *testing.T) {
		devs[2].SetAuthRequired(true)
		// The transport drops and the adb server reconnects through AUTH; retry until then.
		deadline := time.Now().Add(15 * time.Second)
		for {
			res := r.adb("-s", devs[2].Addr(), "shell", "echo", "authed")
			if res.code == 0 && res.stdout == "authed\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after AUTH: %+v", res)
			}
			time.Sleep(100 * time.Millisecond)
		}
		devs[2].SetAuthRequired(false)
	})
	t.Run("forward is host-side", func(t *testing.T) {
		r.adbOK("-s", s0, "forward", "tcp:0", "tcp:8080")
		if out := r.adbOK("forward", "--list"); !strings.Contains(out, s0+" tcp:") {
			t.Errorf("forward --list = %q", out)
		}
		r.adbOK("-s", s0, "forward", "--remove-all")
	})
	t.Run("unauthorized and offline", func(t *testing.T) {
		devs[3].SetUnauthorized(true)
		devs[4].SetOffline(true)
		r.waitState(devs[3].Addr(), "unauthorized")
		r.waitState(devs[4].Addr(), "offline")
		devs[3].SetUnauthorized(false)
		devs[4].SetOffline(false)
		r.waitState(devs[3].Addr(), "device")
		r.waitState(devs[4].Addr(), "device")
	})
	_ = context.Background
}

// sanitize is what the adb server does to banner values in `devices -l`.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, s)
}
