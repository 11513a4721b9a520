package adbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// adb transport commands (system/core/adb/adb.h: A_SYNC.. A_WRTE), little-endian ASCII.
const (
	cmdCNXN uint32 = 0x4e584e43
	cmdAUTH uint32 = 0x48545541
	cmdOPEN uint32 = 0x4e45504f
	cmdOKAY uint32 = 0x59414b4f
	cmdCLSE uint32 = 0x45534c43
	cmdWRTE uint32 = 0x45545257
	cmdSYNC uint32 = 0x434e5953
	cmdSTLS uint32 = 0x534c5453
)

const (
	// protocolVersion is A_VERSION with checksum skipping (A_VERSION_SKIP_CHECKSUM).
	protocolVersion = 0x01000001
	// defaultMaxData is MAX_PAYLOAD of adb >= 24 (1 MiB).
	defaultMaxData = 1 << 20
	headerSize     = 24

	authToken        = 1
	authSignature    = 2
	authRSAPublicKey = 3
)

// header is the 24-byte amessage of the adb transport.
type header struct {
	cmd, arg0, arg1, length, check, magic uint32
}

var errBadMagic = errors.New("bad magic")

func cmdName(c uint32) string {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], c)
	for _, x := range b {
		if x < 'A' || x > 'Z' {
			return fmt.Sprintf("0x%08x", c)
		}
	}
	return string(b[:])
}

func checksum(p []byte) uint32 {
	var s uint32
	for _, b := range p {
		s += uint32(b)
	}
	return s
}

// encodePacket renders a header+payload into one buffer so it is written with one syscall.
func encodePacket(cmd, arg0, arg1 uint32, payload []byte) []byte {
	buf := make([]byte, headerSize+len(payload))
	binary.LittleEndian.PutUint32(buf[0:], cmd)
	binary.LittleEndian.PutUint32(buf[4:], arg0)
	binary.LittleEndian.PutUint32(buf[8:], arg1)
	binary.LittleEndian.PutUint32(buf[12:], uint32(len(payload)))
	// Peers at A_VERSION_SKIP_CHECKSUM ignore it, older ones (and the CNXN exchange before
	// versions are agreed) check it: always send it.
	binary.LittleEndian.PutUint32(buf[16:], checksum(payload))
	binary.LittleEndian.PutUint32(buf[20:], cmd^0xffffffff)
	copy(buf[headerSize:], payload)
	return buf
}

// readPacket reads one packet; payloads above maxData are a protocol error, as in adbd.
func readPacket(r io.Reader, hdrBuf []byte, maxData uint32) (header, []byte, error) {
	var h header
	if _, err := io.ReadFull(r, hdrBuf[:headerSize]); err != nil {
		return h, nil, err
	}
	h.cmd = binary.LittleEndian.Uint32(hdrBuf[0:])
	h.arg0 = binary.LittleEndian.Uint32(hdrBuf[4:])
	h.arg1 = binary.LittleEndian.Uint32(hdrBuf[8:])
	h.length = binary.LittleEndian.Uint32(hdrBuf[12:])
	h.check = binary.LittleEndian.Uint32(hdrBuf[16:])
	h.magic = binary.LittleEndian.Uint32(hdrBuf[20:])
	if h.magic != h.cmd^0xffffffff {
		return h, nil, fmt.Errorf("%w: cmd 0x%08x magic 0x%08x", errBadMagic, h.cmd, h.magic)
	}
	if h.length > maxData {
		return h, nil, fmt.Errorf("payload of %s is %d bytes, above maxdata %d", cmdName(h.cmd), h.length, maxData)
	}
	if h.length == 0 {
		return h, nil, nil
	}
	p := make([]byte, h.length)
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, fmt.Errorf("truncated %s payload: %w", cmdName(h.cmd), err)
	}
	return h, p, nil
}
