package adbserver

import (
	"net"
	"syscall"
)

// quickAck turns off delayed ACKs until the next read. The adb server leaves Nagle on for
// its client sockets, so with our kernel delaying ACKs by ~40 ms, a stream of small writes
// (am instrument status lines) would reach us in bursts and skew per-test timings.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
