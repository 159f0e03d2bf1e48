package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/tenant"
)

// fastHash keeps the suite quick; password hashing itself is tested with
// the production parameters in the accounts package.
var fastHash = accounts.HashParams{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// generousLimits keeps rate limits out of tests that do not test them.
func generousLimits() *api.RateLimits {
	return &api.RateLimits{
		LoginPerIP:      api.Rule{Name: "login_ip", Limit: 1000, Window: time.Minute},
		LoginPerAccount: api.Rule{Name: "login_account", Limit: 1000, Window: time.Minute},
		RegisterPerIP:   api.Rule{Name: "register_ip", Limit: 1000, Window: time.Minute},
		OIDCStartPerIP:  api.Rule{Name: "oidc_start_ip", Limit: 1000, Window: time.Minute},
		// The production per-account 2FA rule, which TestTwoFactorRateLimit checks.
		TwoFactorPerAccount: api.DefaultRateLimits().TwoFactorPerAccount,
		TwoFactorPerIP:      api.Rule{Name: "2fa_ip", Limit: 1000, Window: time.Minute},
	}
}

type fixture struct {
	t      *testing.T
	server *testenv.Server
	clock  *apitest.Clock
}

func newFixture(t *testing.T, b testenv.Backend, vars map[string]string) *fixture {
	clock := apitest.NewClock(time.Now())
	srv := testenv.StartServer(t, b, vars, app.Options{Now: clock.Now, HashParams: &fastHash, RateLimits: generousLimits()})
	return &fixture{t: t, server: srv, clock: clock}
}

func (f *fixture) do(client *http.Client, method, path string, body any) *apitest.Response {
	f.t.Helper()
	return apitest.Do(f.t, client, apitest.Request{Method: method, URL: f.server.URL + path, Body: body})
}

// signUp registers email with password and returns a signed-in client.
func (f *fixture) signUp(email, password string) *http.Client {
	f.t.Helper()
	client := testenv.Client()
	if r := f.do(client, "POST", "/api/v1/auth/register", map[string]string{"email": email, "password": password}); r.Status != 201 {
		f.t.Fatalf("register %s: status %d, body %s", email, r.Status, r.Body)
	}
	if r := f.do(client, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}); r.Status != 200 {
		f.t.Fatalf("login %s: status %d, body %s", email, r.Status, r.Body)
	}
	return client
}

// sessionCookie returns the session cookie that client holds for rawURL,
// whose host must be the Host header the cookie was set for.
func sessionCookie(t *testing.T, client *http.Client, rawURL string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	for _, c := range client.Jar.Cookies(req.URL) {
		if c.Name == api.SessionCookie {
			return c.Value
		}
	}
	t.Fatalf("no %s cookie for %s", api.SessionCookie, rawURL)
	return ""
}

func TestBadInput(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newFixture(t, b, nil)
		f.signUp("taken@example.com", "long enough password")

		revoked := f.signUp("revoked@example.com", "long enough password")
		revokedCookie := sessionCookie(t, revoked, f.server.URL)
		if r := f.do(revoked, "POST", "/api/v1/auth/logout", nil); r.Status != 204 {
			t.Fatalf("logout: status %d", r.Status)
		}

		cases := []struct {
			name     string
			method   string
			path     string
			body     any
			headers  map[string]string
			status   int
			code     string
			contains string
		}{
			{"malformed json", "POST", "/api/v1/auth/register", `{"email": "a@b.co",`, nil, 400, "malformed_json", "malformed JSON"},
			{"empty body", "POST", "/api/v1/auth/register", "", nil, 400, "malformed_json", "empty"},
			{"two objects", "POST", "/api/v1/auth/login", `{} {}`, nil, 400, "malformed_json", "single JSON object"},
			{"unknown field", "POST", "/api/v1/auth/register", `{"email":"a@b.co","password":"long enough","admin":true}`, nil, 400, "unknown_field", `"admin"`},
			{"wrong type", "POST", "/api/v1/auth/register", `{"email":42,"password":"long enough"}`, nil, 400, "invalid_type", `"email"`},
			{"array body", "POST", "/api/v1/auth/login", `[]`, nil, 400, "invalid_type", "JSON object"},
			{"body over cap", "POST", "/api/v1/auth/register", `{"email":"` + strings.Repeat("a", 70*1024) + `"}`, nil, 413, "body_too_large", "64 KiB"},
			{"wrong content type", "POST", "/api/v1/auth/login", `{}`, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", "application/json"},
			{"missing fields", "POST", "/api/v1/auth/register", `{}`, nil, 400, "validation_failed", "email: is required"},
			{"missing password", "POST", "/api/v1/auth/register", `{"email":"new@example.com"}`, nil, 400, "validation_failed", "password: is required"},
			{"invalid email", "POST", "/api/v1/auth/register", `{"email":"not-an-email","password":"long enough"}`, nil, 400, "validation_failed", "email: must be a valid email address"},
			{"short password", "POST", "/api/v1/auth/register", `{"email":"short@example.com","password":"short"}`, nil, 400, "validation_failed", "at least 8 characters"},
			{"duplicate email in other case", "POST", "/api/v1/auth/register", `{"email":"TAKEN@Example.com","password":"long enough"}`, nil, 409, "email_exists", "email already exists"},
			{"login missing fields", "POST", "/api/v1/auth/login", `{}`, nil, 400, "validation_failed", "email: is required"},
			{"wrong password", "POST", "/api/v1/auth/login", `{"email":"taken@example.com","password":"wrong password"}`, nil, 401, "invalid_credentials", "invalid credentials"},
			{"unknown user", "POST", "/api/v1/auth/login", `{"email":"nobody@example.com","password":"wrong password"}`, nil, 401, "invalid_credentials", "invalid credentials"},
			{"no session", "GET", "/api/v1/me", nil, nil, 401, "unauthenticated", "not signed in"},
			{"junk session", "GET", "/api/v1/me", nil, map[string]string{"Cookie": api.SessionCookie + "=junk"}, 401, "session_invalid", "sign in again"},
			{"revoked session", "GET", "/api/v1/me", nil, map[string]string{"Cookie": api.SessionCookie + "=" + revokedCookie}, 401, "session_invalid", "revoked"},
			{"cross-origin post", "POST", "/api/v1/auth/login", `{"email":"taken@example.com","password":"long enough password"}`, map[string]string{"Origin": "http://evil.example"}, 403, "cross_origin_rejected", "evil.example"},
			{"cross-site fetch", "POST", "/api/v1/auth/register", `{}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "cross_origin_rejected", "cross-site"},
			{"same-site fetch", "POST", "/api/v1/auth/logout", nil, map[string]string{"Sec-Fetch-Site": "same-site"}, 403, "cross_origin_rejected", "same-site"},
			{"bad page size", "GET", "/api/v1/me/sessions?limit=0", nil, nil, 401, "unauthenticated", "not signed in"},
			{"unknown route", "GET", "/api/v1/nope", nil, nil, 404, "not_found", "/api/v1/openapi.json"},
			{"unknown field names accepted", "POST", "/api/v1/auth/register", `{"username":"a"}`, nil, 400, "unknown_field", "this endpoint accepts email, password, display_name"},
			{"wrong method", "PUT", "/api/v1/auth/login", `{}`, nil, 405, "method_not_allowed", "use POST"},
		}

		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := apitest.Do(t, testenv.Client(), apitest.Request{Method: tc.method, URL: f.server.URL + tc.path, Body: tc.body, Headers: tc.headers})
				if r.Status != tc.status {
					t.Errorf("status = %d, want %d (body %s)", r.Status, tc.status, r.Body)
				}
				if got := r.Str("code"); got != tc.code {
					t.Errorf("code = %q, want %q", got, tc.code)
				}
				if got := r.Str("error"); !strings.Contains(got, tc.contains) {
					t.Errorf("error = %q, want it to contain %q", got, tc.contains)
				}
			})
		}
	})
}

func TestUnknownUserMatchesWrongPassword(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newFixture(t, b, nil)
		f.signUp("known@example.com", "long enough password")

		wrong := f.do(testenv.Client(), "POST", "/api/v1/auth/login", map[string]string{"email": "known@example.com", "password": "not the password"})
		unknown := f.do(testenv.Client(), "POST", "/api/v1/auth/login", map[string]string{"email": "unknown@example.com", "password": "not the password"})
		if wrong.Status != unknown.Status || string(wrong.Body) != string(unknown.Body) {
			t.Errorf("wrong password gives %d %s, unknown user gives %d %s; want the same", wrong.Status, wrong.Body, unknown.Status, unknown.Body)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	cases := []struct {
		name    string
		advance []time.Duration
		status  int
		code    string
	}{
		{"fresh", nil, 200, ""},
		{"active past idle timeout", []time.Duration{48 * time.Hour, 48 * time.Hour}, 200, ""},
		{"idle", []time.Duration{73 * time.Hour}, 401, "session_expired"},
		{"past max age", []time.Duration{70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour, 70 * time.Hour}, 401, "session_expired"},
	}

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, b, nil)
				client := f.signUp(strings.ReplaceAll(tc.name, " ", "-")+"@example.com", "long enough password")

				var r *apitest.Response
				for _, step := range tc.advance {
					f.clock.Advance(step)
					r = f.do(client, "GET", "/api/v1/me", nil)
				}
				if r == nil {
					r = f.do(client, "GET", "/api/v1/me", nil)
				}
				if r.Status != tc.status {
					t.Fatalf("status = %d, want %d (body %s)", r.Status, tc.status, r.Body)
				}
				if got := r.Str("code"); got != tc.code {
					t.Errorf("code = %q, want %q", got, tc.code)
				}
			})
		}
	})
}

func TestAccountFlow(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newFixture(t, b, nil)
		admin := f.signUp("first@example.com", "long enough password")
		member := f.signUp("second@example.com", "long enough password")

		t.Run("first user is admin", func(t *testing.T) {
			r := f.do(admin, "GET", "/api/v1/me", nil)
			if r.JSON["is_admin"] != true {
				t.Errorf("first user is_admin = %v, want true", r.JSON["is_admin"])
			}
			if r.Str("tenant") != tenant.DefaultSlug {
				t.Errorf("tenant = %q, want %q", r.Str("tenant"), tenant.DefaultSlug)
			}
			if r.JSON["has_password"] != true {
				t.Errorf("has_password = %v, want true", r.JSON["has_password"])
			}
		})

		t.Run("second user is not admin", func(t *testing.T) {
			r := f.do(member, "GET", "/api/v1/me", nil)
			if r.JSON["is_admin"] != false {
				t.Errorf("second user is_admin = %v, want false", r.JSON["is_admin"])
			}
		})

		t.Run("patch display name", func(t *testing.T) {
			r := f.do(member, "PATCH", "/api/v1/me", map[string]string{"display_name": "Grace"})
			if r.Status != 200 || r.Str("display_name") != "Grace" {
				t.Fatalf("patch: status %d, body %s", r.Status, r.Body)
			}
			if got := f.do(member, "GET", "/api/v1/me", nil).Str("display_name"); got != "Grace" {
				t.Errorf("display_name after patch = %q, want Grace", got)
			}
			if r := f.do(member, "PATCH", "/api/v1/me", map[string]string{"display_name": "bad\u0007name"}); r.Status != 400 {
				t.Errorf("control character: status %d, want 400", r.Status)
			}
		})

		t.Run("verify", func(t *testing.T) {
			r := f.do(member, "GET", "/api/v1/auth/verify", nil)
			if r.Status != 200 {
				t.Fatalf("verify: status %d", r.Status)
			}
			if got := r.Header.Get("X-Enlace-Email"); got != "second@example.com" {
				t.Errorf("X-Enlace-Email = %q", got)
			}
			if got := r.Header.Get("X-Enlace-Tenant"); got != tenant.DefaultSlug {
				t.Errorf("X-Enlace-Tenant = %q", got)
			}
			if r := f.do(testenv.Client(), "GET", "/api/v1/auth/verify", nil); r.Status != 401 {
				t.Errorf("verify without session: status %d, want 401", r.Status)
			}
		})

		t.Run("change password", func(t *testing.T) {
			other := testenv.Client()
			if r := f.do(other, "POST", "/api/v1/auth/login", map[string]string{"email": "second@example.com", "password": "long enough password"}); r.Status != 200 {
				t.Fatalf("second login: %d", r.Status)
			}

			r := f.do(member, "PUT", "/api/v1/me/password", map[string]string{"current_password": "wrong one!", "new_password": "a new long password"})
			if r.Status != 400 || !strings.Contains(r.Str("error"), "current_password: is incorrect") {
				t.Errorf("wrong current password: status %d, body %s", r.Status, r.Body)
			}
			r = f.do(member, "PUT", "/api/v1/me/password", map[string]string{"new_password": "a new long password"})
			if r.Status != 400 || !strings.Contains(r.Str("error"), "current_password: is required") {
				t.Errorf("missing current password: status %d, body %s", r.Status, r.Body)
			}
			r = f.do(member, "PUT", "/api/v1/me/password", map[string]string{"current_password": "long enough password", "new_password": "a new long password"})
			if r.Status != 204 {
				t.Fatalf("change password: status %d, body %s", r.Status, r.Body)
			}

			if r := f.do(member, "GET", "/api/v1/me", nil); r.Status != 200 {
				t.Errorf("session that changed the password: status %d, want 200", r.Status)
			}
			if r := f.do(other, "GET", "/api/v1/me", nil); r.Status != 401 {
				t.Errorf("other session after password change: status %d, want 401", r.Status)
			}
			if r := f.do(testenv.Client(), "POST", "/api/v1/auth/login", map[string]string{"email": "second@example.com", "password": "long enough password"}); r.Status != 401 {
				t.Errorf("old password: status %d, want 401", r.Status)
			}
			if r := f.do(testenv.Client(), "POST", "/api/v1/auth/login", map[string]string{"email": "SECOND@example.com", "password": "a new long password"}); r.Status != 200 {
				t.Errorf("new password with other case email: status %d, want 200", r.Status)
			}
		})

		t.Run("sessions list and revoke", func(t *testing.T) {
			client := f.signUp("lister@example.com", "long enough password")
			for i := 0; i < 2; i++ {
				f.clock.Advance(time.Second)
				if r := f.do(testenv.Client(), "POST", "/api/v1/auth/login", map[string]string{"email": "lister@example.com", "password": "long enough password"}); r.Status != 200 {
					t.Fatalf("login: %d", r.Status)
				}
			}

			first := f.do(client, "GET", "/api/v1/me/sessions?limit=2", nil)
			items, _ := first.JSON["items"].([]any)
			if first.Status != 200 || len(items) != 2 || first.Str("next_cursor") == "" {
				t.Fatalf("first page: status %d, body %s", first.Status, first.Body)
			}
			second := f.do(client, "GET", "/api/v1/me/sessions?limit=2&cursor="+first.Str("next_cursor"), nil)
			rest, _ := second.JSON["items"].([]any)
			if len(rest) != 1 || second.Str("next_cursor") != "" {
				t.Fatalf("second page: body %s", second.Body)
			}
			current := rest[0].(map[string]any)
			if current["current"] != true {
				t.Errorf("oldest session current = %v, want true", current["current"])
			}

			if r := f.do(client, "GET", "/api/v1/me/sessions?cursor=bogus", nil); r.Status != 400 || r.Str("code") != "invalid_cursor" {
				t.Errorf("bad cursor: status %d, body %s", r.Status, r.Body)
			}
			if r := f.do(client, "GET", "/api/v1/me/sessions?limit=500", nil); r.Status != 400 || r.Str("code") != "invalid_limit" {
				t.Errorf("bad limit: status %d, body %s", r.Status, r.Body)
			}

			victim := items[0].(map[string]any)["id"].(string)
			if r := f.do(client, "DELETE", "/api/v1/me/sessions/"+victim, nil); r.Status != 204 {
				t.Fatalf("revoke: status %d, body %s", r.Status, r.Body)
			}
			if r := f.do(client, "DELETE", "/api/v1/me/sessions/"+victim, nil); r.Status != 404 {
				t.Errorf("revoke again: status %d, want 404", r.Status)
			}
			if r := f.do(member, "DELETE", "/api/v1/me/sessions/"+current["id"].(string), nil); r.Status != 404 {
				t.Errorf("revoke another user's session: status %d, want 404", r.Status)
			}
			if r := f.do(client, "DELETE", "/api/v1/me/sessions/not-a-uuid", nil); r.Status != 404 {
				t.Errorf("revoke malformed id: status %d, want 404", r.Status)
			}
		})

		t.Run("logout revokes server side", func(t *testing.T) {
			client := f.signUp("leaver@example.com", "long enough password")
			cookie := sessionCookie(t, client, f.server.URL)
			if r := f.do(client, "POST", "/api/v1/auth/logout", nil); r.Status != 204 {
				t.Fatalf("logout: status %d", r.Status)
			}
			replay := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: f.server.URL + "/api/v1/me",
				Headers: map[string]string{"Cookie": api.SessionCookie + "=" + cookie}})
			if replay.Status != 401 || replay.Str("code") != "session_invalid" {
				t.Errorf("replayed cookie: status %d, body %s", replay.Status, replay.Body)
			}
		})
	})
}

func TestFirstUserAdminUnderRace(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newFixture(t, b, nil)

		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := map[string]string{"email": "racer" + string(rune('a'+i)) + "@example.com", "password": "long enough password"}
				if r := f.do(testenv.Client(), "POST", "/api/v1/auth/register", body); r.Status != 201 {
					t.Errorf("register: status %d, body %s", r.Status, r.Body)
				}
			}()
		}
		wg.Wait()

		admins := 0
		tn, err := b.DB.TenantBySlug(context.Background(), tenant.DefaultSlug)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 6; i++ {
			u, err := b.DB.UserByEmail(context.Background(), tn.ID, "racer"+string(rune('a'+i))+"@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if u.IsAdmin {
				admins++
			}
		}
		if admins != 1 {
			t.Errorf("admins = %d, want exactly 1", admins)
		}
	})
}

func TestRateLimits(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		limits := &api.RateLimits{
			LoginPerIP:      api.Rule{Name: "login_ip", Limit: 8, Window: time.Minute},
			LoginPerAccount: api.Rule{Name: "login_account", Limit: 3, Window: time.Minute},
			RegisterPerIP:   api.Rule{Name: "register_ip", Limit: 2, Window: time.Minute},
		}
		srv := testenv.StartServer(t, b, nil, app.Options{HashParams: &fastHash, RateLimits: limits})
		do := func(path string, body any) *apitest.Response {
			return apitest.Do(t, testenv.Client(), apitest.Request{Method: "POST", URL: srv.URL + path, Body: body})
		}

		t.Run("register per ip", func(t *testing.T) {
			for i, want := range []int{201, 201, 429} {
				r := do("/api/v1/auth/register", map[string]string{"email": "r" + string(rune('a'+i)) + "@example.com", "password": "long enough password"})
				if r.Status != want {
					t.Fatalf("attempt %d: status %d, want %d", i+1, r.Status, want)
				}
				if want == 429 && r.Header.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
			}
		})

		t.Run("login per account", func(t *testing.T) {
			for i, want := range []int{401, 401, 401, 429} {
				r := do("/api/v1/auth/login", map[string]string{"email": "ra@example.com", "password": "wrong password"})
				if r.Status != want {
					t.Fatalf("attempt %d: status %d, want %d", i+1, r.Status, want)
				}
			}
			r := do("/api/v1/auth/login", map[string]string{"email": "rb@example.com", "password": "long enough password"})
			if r.Status != 200 {
				t.Errorf("other account: status %d, want 200", r.Status)
			}
		})

		t.Run("login per ip", func(t *testing.T) {
			// Five attempts so far; the sixth to eighth pass, the ninth is limited.
			for i, want := range []int{200, 200, 200, 429} {
				r := do("/api/v1/auth/login", map[string]string{"email": "rb@example.com", "password": "long enough password"})
				if r.Status != want {
					t.Fatalf("attempt %d: status %d, want %d", i+1, r.Status, want)
				}
			}
		})
	})
}

func TestMultiTenant(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newFixture(t, b, map[string]string{"MULTI_TENANT": "true", "TENANT_BASE_DOMAIN": "localhost"})
		ctx := context.Background()
		if _, err := f.server.App.Tenants.Create(ctx, tenant.CreateInput{Slug: "acme", Domains: []string{"login.acme.test"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.server.App.Tenants.Create(ctx, tenant.CreateInput{Slug: "globex"}); err != nil {
			t.Fatal(err)
		}

		host := func(name string) string { return name + ":" + itoa(f.server.Port) }
		req := func(client *http.Client, h, method, path string, body any, headers map[string]string) *apitest.Response {
			return apitest.Do(t, client, apitest.Request{Method: method, URL: f.server.URL + path, Host: host(h), Body: body, Headers: headers})
		}
		creds := map[string]string{"email": "same@example.com", "password": "long enough password"}

		acme, globex := testenv.Client(), testenv.Client()
		for _, tc := range []struct {
			host   string
			client *http.Client
		}{{"LOGIN.ACME.TEST.", acme}, {"globex.localhost", globex}} {
			if r := req(tc.client, tc.host, "POST", "/api/v1/auth/register", creds, nil); r.Status != 201 {
				t.Fatalf("register on %s: status %d, body %s", tc.host, r.Status, r.Body)
			}
			r := req(tc.client, tc.host, "POST", "/api/v1/auth/login", creds, nil)
			if r.Status != 200 {
				t.Fatalf("login on %s: status %d", tc.host, r.Status)
			}
		}

		acmeMe := req(acme, "login.acme.test", "GET", "/api/v1/me", nil, nil)
		globexMe := req(globex, "globex.localhost", "GET", "/api/v1/me", nil, nil)
		if acmeMe.Str("tenant") != "acme" || globexMe.Str("tenant") != "globex" {
			t.Errorf("tenants = %q and %q, want acme and globex", acmeMe.Str("tenant"), globexMe.Str("tenant"))
		}
		if acmeMe.Str("id") == globexMe.Str("id") {
			t.Errorf("same email on two tenants has one user id %s", acmeMe.Str("id"))
		}
		if acmeMe.JSON["is_admin"] != true || globexMe.JSON["is_admin"] != true {
			t.Errorf("first user of each tenant should be admin")
		}

		t.Run("cookie on another tenant", func(t *testing.T) {
			cookie := sessionCookie(t, acme, "http://"+host("login.acme.test"))
			r := req(testenv.Client(), "globex.localhost", "GET", "/api/v1/me", nil, map[string]string{"Cookie": api.SessionCookie + "=" + cookie})
			if r.Status != 401 || r.Str("code") != "session_wrong_tenant" {
				t.Errorf("acme cookie on globex: status %d, body %s", r.Status, r.Body)
			}
		})

		t.Run("unknown host", func(t *testing.T) {
			r := req(testenv.Client(), "nope.localhost", "GET", "/api/v1/auth/config", nil, nil)
			if r.Status != 404 || r.Str("error") != "unknown tenant" {
				t.Errorf("api: status %d, body %s", r.Status, r.Body)
			}
			page := req(testenv.Client(), "elsewhere.test", "GET", "/login", nil, nil)
			if page.Status != 404 || !strings.Contains(string(page.Body), "unknown tenant") || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
				t.Errorf("page: status %d, content type %q", page.Status, page.Header.Get("Content-Type"))
			}
		})

		t.Run("health needs no tenant", func(t *testing.T) {
			if r := req(testenv.Client(), "unknown.example", "GET", "/readyz", nil, nil); r.Status != 200 {
				t.Errorf("readyz: status %d, body %s", r.Status, r.Body)
			}
		})
	})
}

func TestRevokeReachesOtherReplica(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		opts := app.Options{HashParams: &fastHash, RateLimits: generousLimits()}
		one := testenv.StartServer(t, b, nil, opts)
		two := testenv.StartServer(t, b, nil, opts)

		client := testenv.Client()
		creds := map[string]string{"email": "replica@example.com", "password": "long enough password"}
		apitest.Do(t, client, apitest.Request{Method: "POST", URL: one.URL + "/api/v1/auth/register", Body: creds})
		if r := apitest.Do(t, client, apitest.Request{Method: "POST", URL: one.URL + "/api/v1/auth/login", Body: creds}); r.Status != 200 {
			t.Fatalf("login: %d", r.Status)
		}
		cookie := map[string]string{"Cookie": api.SessionCookie + "=" + sessionCookie(t, client, one.URL)}

		// Warm the cache of replica two.
		if r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: two.URL + "/api/v1/me", Headers: cookie}); r.Status != 200 {
			t.Fatalf("replica two before logout: status %d", r.Status)
		}
		if r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "POST", URL: one.URL + "/api/v1/auth/logout", Headers: cookie}); r.Status != 204 {
			t.Fatalf("logout on replica one: status %d", r.Status)
		}

		// The notice travels through Redis pub/sub; allow it a moment.
		deadline := time.Now().Add(time.Second)
		for {
			r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: two.URL + "/api/v1/me", Headers: cookie})
			if r.Status == 401 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica two still accepts the session 1s after logout: status %d", r.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, testenv.SQLite(t), nil)
	for _, path := range []string{"/api/v1/auth/config", "/login", "/healthz", "/api/v1/me"} {
		r := f.do(testenv.Client(), "GET", path, nil)
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy", "X-Request-Id"} {
			if r.Header.Get(h) == "" {
				t.Errorf("%s: header %s missing", path, h)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMetrics(t *testing.T) {
	f := newFixture(t, testenv.SQLite(t), nil)
	client := f.signUp("metrics@example.com", "long enough password")
	f.do(client, "GET", "/api/v1/me", nil)
	f.do(testenv.Client(), "GET", "/api/v1/me", nil)

	r := f.do(testenv.Client(), "GET", "/metrics", nil)
	body := string(r.Body)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, content type %q", r.Status, r.Header.Get("Content-Type"))
	}
	for _, want := range []string{`enlace_http_requests_total{class="2xx"} `, `enlace_http_requests_total{class="4xx"} 1`,
		"enlace_tenant_cache_hosts 1", "enlace_session_cache_entries 1", "# TYPE enlace_tenant_lookups_total counter"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "metrics@example.com") {
		t.Errorf("metrics contain an email")
	}
}
