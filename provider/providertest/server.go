package providertest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
)

// Server is a Fake listening on a loopback port, for tests, "worker -dev"
// and benchmarks. Its Fake's methods (Script, Calls, ...) are promoted.
type Server struct {
	*Fake
	// URL is the base URL to give a client, ending in "/products/" like the
	// real one: URL + "!UpdateUserOvCallback" is an endpoint.
	URL string

	ts *httptest.Server
}

// Start serves a new Fake over plain HTTP on 127.0.0.1 at a random port.
// Close it when done.
func Start(opts ...Option) (*Server, error) {
	return start(false, opts)
}

// StartTLS serves a new Fake over HTTPS on 127.0.0.1 at a random port, with a
// self-signed certificate that only Server.Client trusts. Close it when done.
func StartTLS(opts ...Option) (*Server, error) {
	return start(true, opts)
}

func start(tls bool, opts []Option) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("providertest: listen: %w", err)
	}
	f := NewFake(opts...)
	ts := &httptest.Server{
		Listener: l,
		Config: &http.Server{
			Handler:  f,
			ErrorLog: log.New(io.Discard, "", 0), // TLS handshakes of untrusting clients
		},
	}
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	return &Server{Fake: f, URL: ts.URL + "/products/", ts: ts}, nil
}

// Client returns an HTTP client for the server; for StartTLS it is the only
// client that trusts the server's certificate.
func (s *Server) Client() *http.Client {
	return s.ts.Client()
}

// Close ends waits on delays and latency (those calls get no answer), then
// shuts the server down and waits for its handlers to return.
func (s *Server) Close() {
	s.Fake.stop()
	s.ts.Close()
}
