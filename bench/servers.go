// Package bench measures the throughput of Enlace's session check against
// a bare Fiber hello-world handler served from the same process, so that
// results are ratios to a baseline measured on the same machine in the
// same run. The sessionbench command and the Go benchmarks in this
// folder share the servers and the load generator defined here.
//
// BenchmarkSSOSignIn measures the wall time that Enlace adds to one SSO
// sign-in through a test identity provider.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/logctx"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/store/sqlstore"
)

// ProfileLabel is the pprof label key that marks which part of the process
// a goroutine belongs to: HelloRole, EnlaceRole or ClientRole. Goroutines
// started by a labelled goroutine inherit its labels, so every fasthttp
// worker of a server carries that server's label.
const ProfileLabel = "role"

// Values of ProfileLabel.
const (
	HelloRole  = "hello-server"
	EnlaceRole = "enlace-server"
	ClientRole = "load-client"
)

// shutdownTimeout bounds how long Stop waits for open connections.
const shutdownTimeout = 5 * time.Second

// Server is one HTTP server listening on a loopback port of this process.
type Server struct {
	// Addr is host:port, for fasthttp.HostClient.
	Addr string
	// URL is http://Addr.
	URL string

	app    *fiber.App
	served chan error
	// stopApp ends the background work of Enlace. It is nil for hello-world.
	stopApp func() error
}

// StartHello serves a bare fiber.New() app with one handler on
// GET / that returns "hello", the baseline of every ratio.
func StartHello() (*Server, error) {
	a := fiber.New(fiber.Config{DisableStartupMessage: true})
	a.Get("/", func(c *fiber.Ctx) error { return c.SendString("hello") })
	return serve(a, HelloRole)
}

// StartEnlace builds Enlace over db and store with app.Build, as the
// enlace command does, and serves it on a loopback port. The
// configuration is the default one with LOG_LEVEL=info, so failed
// requests are logged to logOutput and successful ones are not, because
// Enlace logs those at debug level.
func StartEnlace(db *sqlstore.DB, store kv.Store, logOutput io.Writer) (*Server, error) {
	return StartEnlaceWith(db, store, logOutput, nil, app.Options{})
}

// StartEnlaceWith is StartEnlace with more configuration variables in env
// and with opts passed to app.Build. StartEnlaceWith always sets BASE_URL
// to the server's address and LOG_LEVEL to info, whatever env contains.
func StartEnlaceWith(db *sqlstore.DB, store kv.Store, logOutput io.Writer, env map[string]string, opts app.Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on a loopback port: %w", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	vars := maps.Clone(env)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["BASE_URL"] = "http://127.0.0.1:" + port
	vars["LOG_LEVEL"] = "info"
	cfg, err := config.Load(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("load Enlace configuration: %w", err)
	}
	log := logctx.NewLogger(logOutput, cfg.LogFormat, cfg.LogLevel)

	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Build(ctx, cfg, log, db, store, make([]byte, 32), opts)
	if err != nil {
		cancel()
		ln.Close()
		return nil, fmt.Errorf("build Enlace: %w", err)
	}
	var background sync.WaitGroup
	a.Start(ctx, &background)

	s := serveListener(a.API.App(), ln, EnlaceRole)
	s.stopApp = func() error {
		cancel()
		return waitTimeout(&background, shutdownTimeout)
	}
	return s, nil
}

// waitTimeout waits for wg for at most timeout. Giving up lets a run
// report the failure and still remove its schema and keys.
func waitTimeout(wg *sync.WaitGroup, timeout time.Duration) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("background work of Enlace did not stop within %s of cancelling its context", timeout)
	}
}

func serve(a *fiber.App, role string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on a loopback port: %w", err)
	}
	return serveListener(a, ln, role), nil
}

func serveListener(a *fiber.App, ln net.Listener, role string) *Server {
	addr := ln.Addr().String()
	s := &Server{Addr: addr, URL: "http://" + addr, app: a, served: make(chan error, 1)}

	go pprof.Do(context.Background(), pprof.Labels(ProfileLabel, role), func(context.Context) {
		s.served <- a.Listener(ln)
	})
	return s
}

// Stop shuts the server down and waits for it and its background work.
func (s *Server) Stop() error {
	err := s.app.ShutdownWithTimeout(shutdownTimeout)
	if s.stopApp != nil {
		err = errors.Join(err, s.stopApp())
	}
	if served := <-s.served; served != nil && !errors.Is(served, net.ErrClosed) {
		err = errors.Join(err, served)
	}
	if err != nil {
		return fmt.Errorf("stop server at %s: %w", s.Addr, err)
	}
	return nil
}

// Test account that SignIn registers. The address is on a reserved
// domain (RFC 2606), and the request goes only to the loopback server.
const (
	benchEmail    = "bench@example.com"
	benchPassword = "bench-password-1234"
)

// SignIn registers a user on the Enlace server at baseURL, signs in with
// a password and returns the value of the enlace_session cookie.
func SignIn(baseURL string) (string, error) {
	client := &http.Client{Timeout: 30 * time.Second}

	register := map[string]string{"email": benchEmail, "password": benchPassword, "display_name": "Bench"}
	resp, err := postJSON(client, baseURL+"/api/v1/auth/register", register)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("register %s: status %d, expected %d", benchEmail, resp.StatusCode, http.StatusCreated)
	}

	login := map[string]string{"email": benchEmail, "password": benchPassword}
	resp, err = postJSON(client, baseURL+"/api/v1/auth/login", login)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("sign in as %s: status %d, expected %d", benchEmail, resp.StatusCode, http.StatusOK)
	}
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie && c.Value != "" {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("sign in as %s: response has no %s cookie", benchEmail, api.SessionCookie)
}

func postJSON(client *http.Client, url string, body any) (*http.Response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := client.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", url, err)
	}
	return resp, nil
}
