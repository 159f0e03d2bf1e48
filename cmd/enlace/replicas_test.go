package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/oidc/oidctest"
)

const platformToken = "test-platform-token-0123456789abcdef"

// replicas are two enlace processes sharing PostgreSQL and Redis.
type replicas struct {
	t    *testing.T
	a, b *process
}

func startReplicas(t *testing.T) *replicas {
	backend := testenv.Postgres(t)
	vars := map[string]string{
		"DATABASE_URL":          freshSchema(t),
		"REDIS_URL":             backend.RedisURL,
		"ENLACE_SECRET_KEY":     "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"ENLACE_PLATFORM_TOKEN": platformToken,
		"MULTI_TENANT":          "true",
		"TENANT_BASE_DOMAIN":    "localhost",
	}
	dir := t.TempDir()
	if code, _, stderr := runCommand(t, dir, vars, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	return &replicas{t: t, a: startServer(t, dir, vars), b: startServer(t, dir, vars)}
}

// call sends a request to replica p for tenant slug.
func (r *replicas) call(p *process, slug, method, path string, body any, headers map[string]string) *apitest.Response {
	r.t.Helper()
	if headers == nil {
		headers = map[string]string{}
	}
	return apitest.Do(r.t, testenv.Client(), apitest.Request{Method: method, URL: p.url() + path, Body: body,
		Host: slug + ".localhost:" + strconv.Itoa(p.port), Headers: headers})
}

func (r *replicas) platform(p *process, method, path string, body any) *apitest.Response {
	r.t.Helper()
	return apitest.Do(r.t, testenv.Client(), apitest.Request{Method: method, URL: p.url() + "/api/v1/platform" + path, Body: body,
		Headers: map[string]string{"Authorization": "Bearer " + platformToken}})
}

// within polls check every 20 ms until it returns true or d passes.
func within(d time.Duration, check func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if check() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicas(t *testing.T) {
	r := startReplicas(t)
	created := r.platform(r.a, "POST", "/tenants", map[string]any{"slug": "acme", "name": "Acme"})
	if created.Status != 201 {
		t.Fatalf("create tenant: %d %s", created.Status, created.Body)
	}
	tenantID := created.Str("id")

	t.Run("policy change reaches other replica", func(t *testing.T) {
		// Warm replica b's tenant cache first.
		if cfg := r.call(r.b, "acme", "GET", "/api/v1/auth/config", nil, nil); cfg.JSON["require_2fa"] != false {
			t.Fatalf("before: %s", cfg.Body)
		}
		if p := r.platform(r.a, "PATCH", "/tenants/"+tenantID, map[string]any{"require_2fa": true}); p.Status != 200 {
			t.Fatalf("patch: %d %s", p.Status, p.Body)
		}
		start := time.Now()
		if !within(time.Second, func() bool {
			return r.call(r.b, "acme", "GET", "/api/v1/auth/config", nil, nil).JSON["require_2fa"] == true
		}) {
			t.Fatalf("replica b still has require_2fa false 1s after the change")
		}
		t.Logf("replica b saw the policy change after %s", time.Since(start).Round(time.Millisecond))
		r.platform(r.a, "PATCH", "/tenants/"+tenantID, map[string]any{"require_2fa": false})
	})

	first, second := oidctest.New(t), oidctest.New(t)
	setIdP := func(idp *oidctest.Provider, redirect string) {
		t.Helper()
		body := map[string]any{"issuer_url": idp.Issuer, "client_id": idp.ClientID, "client_secret": idp.ClientSecret, "redirect_url": redirect}
		if p := r.platform(r.a, "PUT", "/tenants/"+tenantID+"/oidc", body); p.Status != 200 {
			t.Fatalf("put oidc: %d %s", p.Status, p.Body)
		}
	}
	ssoStart := func(p *process) *apitest.Response {
		return r.call(p, "acme", "GET", "/api/v1/auth/oidc/login", nil, nil)
	}

	t.Run("idp change reaches other replica", func(t *testing.T) {
		setIdP(first, "")
		if s := ssoStart(r.b); !strings.HasPrefix(s.Header.Get("Location"), first.Issuer+"/authorize") {
			t.Fatalf("replica b before the change: %d %q", s.Status, s.Header.Get("Location"))
		}
		setIdP(second, "")
		if !within(time.Second, func() bool {
			return strings.HasPrefix(ssoStart(r.b).Header.Get("Location"), second.Issuer+"/authorize")
		}) {
			t.Errorf("replica b still sends browsers to the old provider 1s after the change")
		}
	})

	t.Run("flow started on one completes on other", func(t *testing.T) {
		// The provider returns the browser to replica b's port; the
		// attempt starts on replica a. Both serve the host acme.localhost.
		callback := "http://acme.localhost:" + strconv.Itoa(r.b.port) + "/api/v1/auth/oidc/callback"
		first.AllowRedirect(callback)
		setIdP(first, callback)
		first.SetUser(oidctest.User{Subject: "sub-replica", Claims: map[string]any{"email": "replica@example.com", "email_verified": true}})

		start := ssoStart(r.a)
		if start.Status != http.StatusFound {
			t.Fatalf("start on a: %d %s", start.Status, start.Body)
		}
		browser := cookieValue(start, "enlace_oidc_browser")
		back, err := url.Parse(first.Authorize(t, nil, start.Header.Get("Location")))
		if err != nil || back.Port() != strconv.Itoa(r.b.port) {
			t.Fatalf("provider sent the browser to %v, want replica b", back)
		}

		done := r.call(r.b, "acme", "GET", back.RequestURI(), nil, map[string]string{"Cookie": "enlace_oidc_browser=" + browser})
		if done.Status != http.StatusFound || done.Header.Get("Location") != "/" || cookieValue(done, "enlace_session") == "" {
			t.Fatalf("callback on b: status %d, location %q, body %s", done.Status, done.Header.Get("Location"), done.Body)
		}
	})

	t.Run("rate limit counts across replicas", func(t *testing.T) {
		// The per-IP sign-in limit is 30 a minute; spread 31 attempts.
		var last *apitest.Response
		for i := 0; i < 31; i++ {
			p := r.a
			if i%2 == 1 {
				p = r.b
			}
			last = r.call(p, "acme", "POST", "/api/v1/auth/login",
				map[string]string{"email": "nobody" + strconv.Itoa(i) + "@example.com", "password": "wrong password"}, nil)
			if i < 30 && last.Status != 401 {
				t.Fatalf("attempt %d: status %d, want 401", i+1, last.Status)
			}
		}
		if last.Status != 429 {
			t.Errorf("attempt 31 over both replicas: status %d, want 429", last.Status)
		}
	})
}

func cookieValue(r *apitest.Response, name string) string {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}
