package testenv

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/internal/app"
)

// TestSecretKey is the ENLACE_SECRET_KEY of servers started by tests.
var TestSecretKey = []byte("0123456789abcdef0123456789abcdef")

// Server is Enlace running on a loopback port for one test.
type Server struct {
	App  *app.App
	URL  string // http://127.0.0.1:port
	Port int
}

// Env returns a configuration lookup over vars, for config.Load.
func Env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// StartServer builds Enlace over b with the environment vars and serves it
// on a loopback port until t ends.
func StartServer(t testing.TB, b Backend, vars map[string]string, opts app.Options) *Server {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port

	env := map[string]string{"BASE_URL": "http://localhost:" + strconv.Itoa(port)}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(Env(env))
	if err != nil {
		t.Fatalf("config: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Build(ctx, cfg, Logger(), b.DB, b.KV, TestSecretKey, opts)
	if err != nil {
		t.Fatalf("build app: %v", err)
	}
	var wg sync.WaitGroup
	a.Start(ctx, &wg)

	served := make(chan error, 1)
	go func() { served <- a.API.App().Listener(ln) }()
	t.Cleanup(func() {
		_ = a.API.App().ShutdownWithTimeout(5 * time.Second)
		cancel()
		wg.Wait()
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return &Server{App: a, URL: "http://127.0.0.1:" + strconv.Itoa(port), Port: port}
}

// Client returns an HTTP client with its own cookie jar that does not
// follow redirects, so tests see each response.
func Client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
