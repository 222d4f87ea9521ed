// Package embedredis runs an in-process Redis (miniredis) for `worker -dev` and the tests, with
// one fix that the product needs: miniredis only expires keys when told to, so a clock here
// moves its TTLs along in real time. Without it, a fleet-wide cooldown would never end.
package embedredis

import (
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running embedded Redis. It keeps nothing after Close.
type Server struct {
	*miniredis.Miniredis
	stop chan struct{}
	done sync.WaitGroup
}

// Start runs an embedded Redis on addr ("127.0.0.1:0" for any free port).
func Start(addr string) (*Server, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, err
	}
	s := &Server{Miniredis: m, stop: make(chan struct{})}
	s.done.Add(1)
	go s.clock()
	return s, nil
}

// clock fast-forwards miniredis by the real time that passed, every 10ms.
func (s *Server) clock() {
	defer s.done.Done()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Close stops the clock and the server.
func (s *Server) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.done.Wait()
	s.Miniredis.Close()
}
