package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// runInfo is what a worker needs to know about a run (read once per run per host).
type runInfo struct {
	ID                   int64
	AppID, TestAppID     string
	Runner               string
	AppPath, TestAppPath string // local cached copies
	TestTimeout          time.Duration
	Upstream             string
	Screenshots          string // never | failure | always
	Logs, Crashes        bool
}

type runCache struct {
	pool *pgxpool.Pool
	dir  string
	mu   sync.Mutex
	runs map[int64]*runInfo
}

func (c *runCache) get(ctx context.Context, id int64) (*runInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.runs[id]; ok {
		return r, nil
	}
	r := &runInfo{ID: id}
	var appSHA, testSHA *string
	var cfg []byte
	var ms int
	err := c.pool.QueryRow(ctx, `SELECT app_id, test_app_id, runner, app_sha256, test_app_sha256, test_timeout_ms, config
		FROM farm_runs WHERE id = $1`, id).Scan(&r.AppID, &r.TestAppID, &r.Runner, &appSHA, &testSHA, &ms, &cfg)
	if err != nil {
		return nil, fmt.Errorf("read run %d: %w", id, err)
	}
	r.TestTimeout = time.Duration(ms) * time.Millisecond
	var conf struct {
		Upstream    string `json:"upstream"`
		Screenshots string `json:"screenshots"`
		Logs        *bool  `json:"logs"`
		Crashes     *bool  `json:"crashes"`
	}
	_ = json.Unmarshal(cfg, &conf)
	r.Upstream, r.Screenshots = conf.Upstream, conf.Screenshots
	r.Logs = conf.Logs == nil || *conf.Logs
	r.Crashes = conf.Crashes == nil || *conf.Crashes
	for _, b := range []struct {
		sha *string
		dst *string
	}{{appSHA, &r.AppPath}, {testSHA, &r.TestAppPath}} {
		if b.sha == nil {
			continue
		}
		p, err := c.blob(ctx, *b.sha)
		if err != nil {
			return nil, err
		}
		*b.dst = p
	}
	c.runs[id] = r
	return r, nil
}

// blob caches a binary from farm_blobs on local disk by content address.
func (c *runCache) blob(ctx context.Context, sha string) (string, error) {
	dir := filepath.Join(c.dir, "blobs")
	path := filepath.Join(dir, sha+".apk")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var data []byte
	if err := c.pool.QueryRow(ctx, `SELECT data FROM farm_blobs WHERE sha256 = $1`, sha).Scan(&data); err != nil {
		return "", fmt.Errorf("fetch app %s: %w", sha, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("cache app %s: %w", sha, err)
	}
	return path, os.Rename(tmp, path)
}
