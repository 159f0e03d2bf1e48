package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
)

const scaleTenants = 10_000

// TestTenThousandTenants creates 10,000 tenants through the platform
// API and shows that host resolution is served from the in-process
// cache once every host has been seen: a second pass over all hosts makes
// no store look-up.
func TestTenThousandTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 tenants; skipped with -short")
	}
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		const token = "scale-platform-token-0123456789abcdef"
		srv := testenv.StartServer(t, b, map[string]string{
			"MULTI_TENANT": "true", "TENANT_BASE_DOMAIN": "localhost", "ENLACE_PLATFORM_TOKEN": token,
		}, app.Options{HashParams: &fastHash, RateLimits: generousLimits()})
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		port := strconv.Itoa(srv.Port)

		start := time.Now()
		parallel(t, scaleTenants, func(i int) error {
			body, _ := json.Marshal(map[string]string{"slug": fmt.Sprintf("t%05d", i)})
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/platform/tenants", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			return expectStatus(client, req, http.StatusCreated)
		})
		t.Logf("created %d tenants in %s", scaleTenants, time.Since(start).Round(time.Millisecond))

		resolve := func(i int) error {
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/auth/verify", nil)
			req.Host = fmt.Sprintf("t%05d.localhost:%s", i, port)
			return expectStatus(client, req, http.StatusUnauthorized)
		}

		start = time.Now()
		parallel(t, scaleTenants, resolve)
		warm := srv.App.Resolver.Loads()
		t.Logf("first pass over %d hosts: %s, %d store look-ups", scaleTenants, time.Since(start).Round(time.Millisecond), warm)

		start = time.Now()
		parallel(t, scaleTenants, resolve)
		if extra := srv.App.Resolver.Loads() - warm; extra != 0 {
			t.Errorf("second pass made %d store look-ups, want 0", extra)
		}
		t.Logf("second pass: %s", time.Since(start).Round(time.Millisecond))

		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/auth/verify", nil)
		req.Host = "t99999.localhost:" + port
		if err := expectStatus(client, req, http.StatusNotFound); err != nil {
			t.Errorf("unknown host: %v", err)
		}
	})
}

// parallel runs fn for 0..n-1 on 8 workers and stops at the first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		t.Fatal(err)
	}
}

func expectStatus(client *http.Client, req *http.Request, want int) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return fmt.Errorf("%s %s (host %s): status %d, want %d: %s", req.Method, req.URL, req.Host, resp.StatusCode, want, body.String())
	}
	return nil
}
