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
		v2 := false
		for _, o := range strings.Split(strings.TrimPrefix(opts, ","), ",") {
			if o == "v2" {
				v2 = true
			}
		}
		if strings.TrimSpace(cmd) == "" {
			return nil, false, false // interactive shells are not simulated
		}
		d.mu.Lock()
		old := d.noShellV2
		d.mu.Unlock()
		if v2 && old {
			return nil, false, false
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
