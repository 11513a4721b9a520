package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

type resKey struct {
	app  string
	hash [16]byte
}

// resourceCache remembers resources known to be committed, so a transaction inserts only
// resources it has not seen (a device sends the same resource with every batch). Keys are
// added only after the inserting transaction committed. Bounded by two generations.
type resourceCache struct {
	mu        sync.Mutex
	max       int
	cur, prev map[resKey]struct{}
}

func newResourceCache(max int) *resourceCache {
	return &resourceCache{max: max, cur: map[resKey]struct{}{}, prev: map[resKey]struct{}{}}
}

func (c *resourceCache) has(k resKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[k]; ok {
		return true
	}
	_, ok := c.prev[k]
	return ok
}

func (c *resourceCache) add(keys []resKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if len(c.cur) >= c.max/2 {
			c.prev, c.cur = c.cur, make(map[resKey]struct{}, c.max/2)
		}
		c.cur[k] = struct{}{}
	}
}

// upsertResources inserts the resources of rows not yet known and returns their keys (to
// add to the cache once the transaction commits).
func upsertResources(ctx context.Context, tx pgx.Tx, cache *resourceCache, spans []SpanRow, events []EventRow) ([]resKey, error) {
	fresh := map[resKey][]byte{}
	note := func(app string, h [16]byte, js []byte) {
		k := resKey{app, h}
		if _, ok := fresh[k]; ok || cache.has(k) {
			return
		}
		if js == nil {
			js = []byte("{}")
		}
		fresh[k] = js
	}
	for i := range spans {
		note(spans[i].AppID, spans[i].ResourceHash, spans[i].Resource)
	}
	for i := range events {
		note(events[i].AppID, events[i].ResourceHash, events[i].Resource)
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	keys := make([]resKey, 0, len(fresh))
	for k := range fresh {
		keys = append(keys, k)
	}
	// Sorted so concurrent transactions take row locks in the same order.
	slices.SortFunc(keys, func(a, b resKey) int {
		if c := strings.Compare(a.app, b.app); c != 0 {
			return c
		}
		return slices.Compare(a.hash[:], b.hash[:])
	})
	apps := make([]string, len(keys))
	hashes := make([][]byte, len(keys))
	attrs := make([]string, len(keys))
	for i, k := range keys {
		apps[i], hashes[i], attrs[i] = k.app, k.hash[:], string(fresh[k])
	}
	_, err := tx.Exec(ctx, `INSERT INTO resources (app_id, hash, attributes)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::jsonb[]) ON CONFLICT DO NOTHING`, apps, hashes, attrs)
	if err != nil {
		return nil, fmt.Errorf("insert resources: %w", err)
	}
	return keys, nil
}
