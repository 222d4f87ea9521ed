package main

import (
	"net"
	"net/http"
	"sync/atomic"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// fakeProvider serves providertest's fake provider on loopback like providertest.Start, and
// counts the TCP connections clients open to it: a client that reconnects for every call
// pays for it in CPU on both sides.
type fakeProvider struct {
	*providertest.Fake
	URL   string
	conns atomic.Int64
	srv   *http.Server
}

func startFake(opts ...providertest.Option) (*fakeProvider, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeProvider{Fake: providertest.NewFake(opts...), URL: "http://" + l.Addr().String() + "/products/"}
	f.srv = &http.Server{
		Handler: f.Fake,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				f.conns.Add(1)
			}
		},
	}
	go func() { _ = f.srv.Serve(l) }()
	return f, nil
}

func (f *fakeProvider) Close() { _ = f.srv.Close() }
