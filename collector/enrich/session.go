package enrich

import (
	"sync"

	"github.com/fleetlens/fleetlens/sdk-hooks/nqe"
)

// sessions keeps one network-quality estimator per device session, so throughput classes
// change only with the hysteresis of SPEC §4 even for SDKs that do not classify on the
// device. It is bounded: two generations of at most half the capacity each; a session not
// seen for a whole generation is forgotten (its estimator restarts from "unknown").
type sessions struct {
	mu        sync.Mutex
	max       int
	cur, prev map[string]*nqe.Estimator
}

func newSessions(max int) *sessions {
	if max < 2 {
		max = 2
	}
	return &sessions{max: max, cur: map[string]*nqe.Estimator{}, prev: map[string]*nqe.Estimator{}}
}

// get returns the estimator of key, creating it when missing; nil for an empty key.
func (s *sessions) get(key string) *nqe.Estimator {
	if key == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cur[key]; ok {
		return e
	}
	e, ok := s.prev[key]
	if !ok {
		e = nqe.NewEstimator()
	}
	if len(s.cur) >= s.max/2 {
		s.prev, s.cur = s.cur, make(map[string]*nqe.Estimator, s.max/2)
	}
	s.cur[key] = e
	return e
}
