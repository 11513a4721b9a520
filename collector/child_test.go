package collector_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/collector"
	"github.com/fleetlens/fleetlens/collector/internal/loadgen"
	"github.com/jackc/pgx/v5/pgxpool"
)

// childCollector runs a collector on $FLT_DSN with the endpoints in $FLT_HTTP, $FLT_GRPC,
// $FLT_ADMIN until SIGTERM (graceful) or SIGKILL.
func childCollector() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := testConfig()
	cfg.HTTP.Endpoint, cfg.GRPC.Endpoint, cfg.Admin.Endpoint = os.Getenv("FLT_HTTP"), os.Getenv("FLT_GRPC"), os.Getenv("FLT_ADMIN")
	if v, err := strconv.ParseInt(os.Getenv("FLT_MAX_QUEUE_BYTES"), 10, 64); err == nil {
		cfg.Limits.MaxQueueBytes = v
	}
	if v, err := strconv.ParseInt(os.Getenv("FLT_MAX_INFLIGHT_BYTES"), 10, 64); err == nil {
		cfg.Limits.MaxInflightBytes = v
	}
	cfg.ApplyRuntime()
	if f := os.Getenv("FLT_CPUPROFILE"); f != "" { // for looking into the benchmark
		out, err := os.Create(f)
		if err == nil && pprof.StartCPUProfile(out) == nil {
			defer func() { pprof.StopCPUProfile(); out.Close() }()
		}
	}
	pool, err := pgxpool.New(ctx, os.Getenv("FLT_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := collector.NewCollector(cfg, pool)
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	fmt.Printf("READY %s %s %s\n", dash(c.HTTPAddr()), dash(c.GRPCAddr()), dash(c.AdminAddr()))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.Shutdown(sctx)
	return 0
}

type loaderJob struct {
	Opts    loadgen.Options `json:"opts"`
	Seed    uint64          `json:"seed"`
	First   int             `json:"first"` // batch index range [First, First+N)
	N       int             `json:"n"`
	Spans   int             `json:"spans"`
	Release string          `json:"release"`
	Now     time.Time       `json:"now"`
}

// childLoader builds the job's bodies, then sends them and prints the Result as JSON.
func childLoader() int {
	var job loaderJob
	if err := json.Unmarshal([]byte(os.Getenv("FLT_JOB")), &job); err != nil {
		fmt.Fprintln(os.Stderr, "FLT_JOB:", err)
		return 1
	}
	all, err := loadgen.Bodies(job.Seed, job.First+job.N, job.Spans, job.Now, job.Release)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res := loadgen.Run(context.Background(), job.Opts, all[job.First:])
	for i := range res.AckedIdxs {
		res.AckedIdxs[i] += job.First
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// child is a running collector process.
type child struct {
	cmd               *exec.Cmd
	http, grpc, admin string
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startChild starts a collector process; extra are added to its environment.
func startChild(t testing.TB, dsn, httpAddr, grpcAddr string, extra ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLT_ROLE=collector", "FLT_DSN="+dsn, "FLT_HTTP="+httpAddr,
		"FLT_GRPC="+grpcAddr, "FLT_ADMIN=127.0.0.1:0")
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "READY" {
				ready <- f[1:]
			}
		}
	}()
	select {
	case f := <-ready:
		return &child{cmd: cmd, http: f[0], grpc: f[1], admin: f[2]}
	case <-time.After(30 * time.Second):
		t.Fatal("collector process did not become ready")
	}
	return nil
}

func (c *child) kill9(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

// peakRSS is the child's high-water resident set size in bytes (VmHWM).
func (c *child) peakRSS(t testing.TB) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// runLoader runs a load process to completion and returns its result.
func runLoader(t testing.TB, job loaderJob) loadgen.Result {
	t.Helper()
	raw, _ := json.Marshal(job)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLT_ROLE=loader", "FLT_JOB="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("loader: %v", err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("loader output %q: %v", out, err)
	}
	return res
}

// cpuTime is the child's user+system CPU time so far (from /proc/PID/stat, in clock ticks
// of 10 ms on Linux).
func (c *child) cpuTime(t testing.TB) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
