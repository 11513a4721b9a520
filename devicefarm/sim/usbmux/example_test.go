package usbmux_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/danielpaulus/go-ios/ios"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
)

// A fleet of three simulated devices that go-ios lists like real ones.
func ExampleNewServer() {
	dir, _ := os.MkdirTemp("", "usbmux-example")
	defer os.RemoveAll(dir)
	srv, err := usbmux.NewServer(usbmux.Config{SocketPath: filepath.Join(dir, "usbmuxd.sock"), Count: 3, Seed: "example"})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())
	os.Setenv("USBMUXD_SOCKET_ADDRESS", srv.SocketAddress())
	defer os.Unsetenv("USBMUXD_SOCKET_ADDRESS")

	list, err := ios.ListDevices()
	if err != nil {
		panic(err)
	}
	for i, e := range list.DeviceList {
		d := srv.Devices()[i]
		fmt.Println(e.Properties.SerialNumber == d.UDID(), d.ProductType(), d.Instance().OSVersion)
	}
	// Output:
	// true iPhone8,1 15.8
	// true iPhone9,1 15.8
	// true iPhone10,1 15.8
}
