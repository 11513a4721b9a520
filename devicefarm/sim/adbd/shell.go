package adbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
)

// Shell protocol v2 packet ids (adb/shell_protocol.h).
const (
	v2Stdin       = 0
	v2Stdout      = 1
	v2Stderr      = 2
	v2Exit        = 3
	v2CloseStdin  = 4
	v2WindowSize  = 5
	maxShellChunk = 64 << 10
)

type handlerFunc func(ctx context.Context, s *stream)

// lookupService maps an OPEN payload to its handler; wantsInput says whether the handler
// reads the host's writes (others are acknowledged and dropped).
func (d *Device) lookupService(svc string) (handlerFunc, bool, bool) {
	switch {
	case strings.HasPrefix(svc, "shell,") || strings.HasPrefix(svc, "shell:"):
		opts, cmd, _ := strings.Cut(svc[len("shell"):], ":")
		v2, pty := false, opts == "" // plain `shell:` gets a pty on the device
		for _, o := range strings.Split(strings.TrimPrefix(opts, ","), ",") {
			switch o {
			case "v2":
				v2 = true
			case "pty":
				pty = true
			}
		}
		d.mu.Lock()
		old := d.noShellV2
		d.mu.Unlock()
		if v2 && old {
			return nil, false, false
		}
		if strings.TrimSpace(cmd) == "" {
			return func(ctx context.Context, s *stream) { d.interactive(ctx, s, v2, pty) }, true, true
		}
		return func(ctx context.Context, s *stream) { d.serveShell(ctx, s, cmd, v2) }, false, true
	case strings.HasPrefix(svc, "exec:"):
		cmd := svc[len("exec:"):]
		return func(ctx context.Context, s *stream) { d.serveExec(ctx, s, cmd) }, true, true
	case svc == "sync:":
		return d.serveSync, true, true
	case strings.HasPrefix(svc, "reverse:"):
		return func(ctx context.Context, s *stream) { d.serveReverse(s, svc[len("reverse:"):]) }, false, true
	case strings.HasPrefix(svc, "reboot:"):
		return func(ctx context.Context, s *stream) { go d.reboot() }, false, true
	case strings.HasPrefix(svc, "root:"):
		return func(ctx context.Context, s *stream) {
			_, _ = io.WriteString(s, "adbd cannot run as root in production builds\n")
		}, false, true
	}
	return nil, false, false
}

// v2Writer frames output as shell-protocol packets of one id.
type v2Writer struct {
	s  *stream
	id byte
}

func (w v2Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), maxShellChunk)
		pkt := make([]byte, 5+n)
		pkt[0] = w.id
		binary.LittleEndian.PutUint32(pkt[1:], uint32(n))
		copy(pkt[5:], p[:n])
		if _, err := w.s.Write(pkt); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

func (d *Device) serveShell(ctx context.Context, s *stream, cmd string, v2 bool) {
	if !v2 {
		// Without shell v2, stdout and stderr share the stream and the exit code is lost,
		// exactly like a pre-N device.
		d.runShell(ctx, cmd, nil, s, s)
		return
	}
	code := d.runShell(ctx, cmd, nil, v2Writer{s, v2Stdout}, v2Writer{s, v2Stderr})
	_, _ = s.Write([]byte{v2Exit, 1, 0, 0, 0, byte(code)})
}

func (d *Device) serveExec(ctx context.Context, s *stream, cmd string) {
	d.runShell(ctx, cmd, s, s, s)
}

// runShell interprets a command line the way /system/bin/sh would for the commands the
// simulator knows: `a; b && c || d`, quotes, `export`, `exec`, `$?`, and discarded redirects.
func (d *Device) runShell(ctx context.Context, line string, stdin io.Reader, out, errw io.Writer) int {
	code := 0
	for _, seg := range splitCommands(line) {
		if ctx.Err() != nil {
			return 130
		}
		if (seg.op == "&&" && code != 0) || (seg.op == "||" && code == 0) {
			continue
		}
		args := tokenize(seg.text, code)
		for len(args) > 0 && (args[0] == "exec" || args[0] == "nohup") {
			args = args[1:]
		}
		if len(args) == 0 {
			continue
		}
		code = d.command(ctx, args, stdin, out, errw)
	}
	return code
}

type segment struct{ op, text string }

func splitCommands(line string) []segment {
	var segs []segment
	var cur strings.Builder
	op := ""
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			cur.WriteByte(c)
		case c == ';' || c == '\n':
			segs = append(segs, segment{op, cur.String()})
			cur.Reset()
			op = ";"
		case (c == '&' || c == '|') && i+1 < len(line) && line[i+1] == c:
			segs = append(segs, segment{op, cur.String()})
			cur.Reset()
			op = string([]byte{c, c})
			i++
		default:
			cur.WriteByte(c)
		}
	}
	return append(segs, segment{op, cur.String()})
}

// tokenize splits words honouring quotes and backslashes, expands $? and drops redirects.
func tokenize(s string, lastCode int) []string {
	var out []string
	var cur bytes.Buffer
	inWord := false
	quote := byte(0)
	flush := func() {
		if inWord {
			out = append(out, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '$' && i+1 < len(s) && s[i+1] == '?' && quote != '\'':
			cur.WriteString(strconv.Itoa(lastCode))
			inWord = true
			i++
		case quote == '"':
			if c == '"' {
				quote = 0
			} else if c == '\\' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	// Drop redirections such as 2>&1, >/dev/null, 2>/dev/null.
	kept := out[:0]
	for i := 0; i < len(out); i++ {
		w := out[i]
		if w == ">" || w == "2>" || w == ">>" {
			i++
			continue
		}
		if strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>") || strings.HasPrefix(w, "1>") {
			continue
		}
		kept = append(kept, w)
	}
	return kept
}

// interactive is `adb shell` with no command. With a pty it is a line shell with echo and a
// prompt (the adb client puts the terminal in raw mode, so the device echoes and edits
// lines); without one (stdin not a terminal) commands are read and run silently, as sh
// does when not interactive.
func (d *Device) interactive(ctx context.Context, s *stream, v2, pty bool) {
	var out io.Writer = s
	if v2 {
		out = v2Writer{s, v2Stdout}
	}
	var cmdOut io.Writer = out
	if pty {
		cmdOut = crlf{out}
	}
	echo := func(b []byte) {
		if pty {
			_, _ = out.Write(b)
		}
	}
	prompt := func() {
		if pty {
			_, _ = io.WriteString(out, d.props["ro.product.device"]+":/ $ ")
		}
	}
	prompt()
	var line []byte
	code := 0
	// Shell v2 wraps stdin in packets; plain shell sends raw bytes.
	in := func() ([]byte, bool) {
		if !v2 {
			buf := make([]byte, 512)
			n, err := s.Read(buf)
			return buf[:n], err == nil
		}
		var hdr [5]byte
		if _, err := io.ReadFull(s, hdr[:]); err != nil {
			return nil, false
		}
		n := binary.LittleEndian.Uint32(hdr[1:])
		if n > 1<<20 {
			d.log.Warn("adbd: shell: oversized stdin packet", "len", n)
			return nil, false
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(s, body); err != nil {
			return nil, false
		}
		switch hdr[0] {
		case v2Stdin:
			return body, true
		case v2CloseStdin:
			return nil, false
		}
		return nil, true // window size changes and the like
	}
	for ctx.Err() == nil {
		chunk, ok := in()
		if !ok {
			if cmd := strings.TrimSpace(string(line)); cmd != "" && cmd != "exit" {
				code = d.runShell(ctx, cmd, nil, cmdOut, cmdOut)
			}
			if v2 {
				_, _ = s.Write([]byte{v2Exit, 1, 0, 0, 0, byte(code)})
			}
			return
		}
		for _, c := range chunk {
			switch c {
			case '\r', '\n':
				echo([]byte("\r\n"))
				cmd := strings.TrimSpace(string(line))
				line = line[:0]
				if cmd == "exit" || strings.HasPrefix(cmd, "exit ") {
					if f := strings.Fields(cmd); len(f) > 1 {
						n, _ := strconv.Atoi(f[1])
						code = n & 0xff
					}
					if v2 {
						_, _ = s.Write([]byte{v2Exit, 1, 0, 0, 0, byte(code)})
					}
					return
				}
				if cmd != "" {
					code = d.runShell(ctx, cmd, nil, cmdOut, cmdOut)
				}
				prompt()
			case 0x7f, 0x08: // backspace
				if len(line) > 0 {
					line = line[:len(line)-1]
					echo([]byte("\b \b"))
				}
			case 0x04: // ^D on an empty line ends the shell
				if len(line) == 0 {
					if v2 {
						_, _ = s.Write([]byte{v2Exit, 1, 0, 0, 0, byte(code)})
					}
					return
				}
			default:
				if c >= 0x20 {
					line = append(line, c)
					echo([]byte{c})
				}
			}
		}
	}
}

// crlf translates \n to \r\n, as a pty's output processing does.
type crlf struct{ w io.Writer }

func (c crlf) Write(p []byte) (int, error) {
	_, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n")))
	return len(p), err
}
