package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/oidc/oidctest"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

// ssoFixture is Enlace with the default tenant's provider set to a
// purpose-built test provider. Requests go to localhost, the host of
// BASE_URL and so of the registered callback.
type ssoFixture struct {
	t        *testing.T
	idp      *oidctest.Provider
	server   *testenv.Server
	clock    *apitest.Clock
	base     string
	backend  testenv.Backend
	tenantID string
}

func newSSOFixture(t *testing.T, b testenv.Backend) *ssoFixture {
	idp := oidctest.New(t)
	clock := apitest.NewClock(time.Now())
	srv := testenv.StartServer(t, b, map[string]string{
		"OIDC_ENABLED":       "true",
		"OIDC_ISSUER_URL":    idp.Issuer,
		"OIDC_CLIENT_ID":     idp.ClientID,
		"OIDC_CLIENT_SECRET": idp.ClientSecret,
	}, app.Options{Now: clock.Now, HashParams: &fastHash, RateLimits: generousLimits()})

	tn, err := b.DB.TenantBySlug(context.Background(), tenant.DefaultSlug)
	if err != nil {
		t.Fatal(err)
	}
	return &ssoFixture{t: t, idp: idp, server: srv, clock: clock, backend: b, tenantID: tn.ID,
		base: "http://localhost:" + strconv.Itoa(srv.Port)}
}

func (f *ssoFixture) get(client *http.Client, rawURL string) *apitest.Response {
	f.t.Helper()
	return apitest.Do(f.t, client, apitest.Request{Method: "GET", URL: rawURL})
}

// start begins a sign-in and returns the provider's authorization URL.
func (f *ssoFixture) start(client *http.Client, path string) string {
	f.t.Helper()
	r := f.get(client, f.base+path)
	if r.Status != http.StatusFound {
		f.t.Fatalf("GET %s: status %d, want 302; body %s", path, r.Status, r.Body)
	}
	return r.Header.Get("Location")
}

// signIn runs a whole SSO sign-in in client and returns the callback's response.
func (f *ssoFixture) signIn(client *http.Client) *apitest.Response {
	f.t.Helper()
	callback := f.idp.Authorize(f.t, nil, f.start(client, "/api/v1/auth/oidc/login?return_to=/welcome"))
	return f.get(client, callback)
}

// failure returns the message of a callback that redirected to /login.
func failure(t *testing.T, r *apitest.Response) string {
	t.Helper()
	if r.Status != http.StatusFound {
		t.Fatalf("callback status %d, want 302; body %s", r.Status, r.Body)
	}
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || loc.Path != "/login" || loc.Query().Get("error") == "" {
		t.Fatalf("callback redirected to %q, want /login?error=…", r.Header.Get("Location"))
	}
	return loc.Query().Get("error")
}

func (f *ssoFixture) hasSession(client *http.Client) bool {
	return f.get(client, f.base+"/api/v1/me").Status == http.StatusOK
}

func (f *ssoFixture) userExists(email string) bool {
	f.t.Helper()
	_, err := f.backend.DB.UserByEmail(context.Background(), f.tenantID, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

func verifiedUser(sub, email string) oidctest.User {
	return oidctest.User{Subject: sub, Claims: map[string]any{"email": email, "email_verified": true, "name": "Test User"}}
}

func TestSSOProviderFaults(t *testing.T) {
	cases := []struct {
		name    string
		faults  oidctest.Faults
		user    *oidctest.User
		message string
	}{
		{"bad signature", oidctest.Faults{SignWithOtherKey: true}, nil, "ID token rejected: invalid signature"},
		{"alg none", oidctest.Faults{AlgNone: true}, nil, "ID token rejected: invalid signature"},
		{"hs256 with public key", oidctest.Faults{HS256WithPublicKey: true}, nil, "ID token rejected: invalid signature"},
		{"wrong issuer", oidctest.Faults{Issuer: "https://evil.example"}, nil, "ID token rejected: issuer (iss)"},
		{"wrong audience", oidctest.Faults{Audience: []string{"someone-else"}}, nil, "ID token rejected: audience (aud)"},
		{"missing audience", oidctest.Faults{NoAudience: true}, nil, "ID token rejected: audience (aud) is missing"},
		{"extra audience without azp", oidctest.Faults{ExtraAudience: true}, nil, "ID token rejected: authorized party (azp) is missing"},
		{"wrong azp", oidctest.Faults{AuthorizedParty: "someone-else"}, nil, "ID token rejected: authorized party (azp)"},
		{"expired", oidctest.Faults{ExpiresIn: -time.Hour}, nil, "ID token rejected: token expired"},
		{"iat in future", oidctest.Faults{IssuedIn: time.Hour}, nil, "ID token rejected: issued-at (iat)"},
		{"nonce missing", oidctest.Faults{NoNonce: true}, nil, "ID token rejected: nonce is missing"},
		{"nonce wrong", oidctest.Faults{Nonce: "forged"}, nil, "ID token rejected: nonce does not match"},
		{"access denied", oidctest.Faults{AuthorizeError: "access_denied"}, nil, "identity provider returned an error: access_denied"},
		{"token endpoint error", oidctest.Faults{TokenError: "invalid_grant"}, nil, "token exchange with the identity provider failed: the provider returned error invalid_grant"},
		{"userinfo subject mismatch", oidctest.Faults{UserinfoSubject: "someone-else"},
			&oidctest.User{Subject: "sub-u", Claims: map[string]any{}, UserinfoClaims: map[string]any{"email": "fault@example.com", "email_verified": true}},
			"userinfo rejected: userinfo subject"},
		{"invalid email claim", oidctest.Faults{}, &oidctest.User{Subject: "sub-x", Claims: map[string]any{"email": "Fault <fault@example.com>"}},
			"identity provider returned invalid claims"},
	}

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newSSOFixture(t, b)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				user := verifiedUser("sub-"+strings.ReplaceAll(tc.name, " ", "-"), "fault@example.com")
				if tc.user != nil {
					user = *tc.user
				}
				f.idp.SetUser(user)
				f.idp.SetFaults(tc.faults)
				t.Cleanup(func() { f.idp.SetFaults(oidctest.Faults{}) })

				client := testenv.Client()
				message := failure(t, f.signIn(client))
				if !strings.HasPrefix(message, tc.message) {
					t.Errorf("message = %q, want prefix %q", message, tc.message)
				}
				if f.hasSession(client) {
					t.Errorf("a session exists after a failed sign-in")
				}
				if f.userExists("fault@example.com") {
					t.Errorf("a user was created by a failed sign-in")
				}
			})
		}
	})
}

func TestSSOStateChecks(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newSSOFixture(t, b)
		f.idp.SetUser(verifiedUser("sub-state", "state@example.com"))

		t.Run("no state", func(t *testing.T) {
			msg := failure(t, f.get(testenv.Client(), f.base+"/api/v1/auth/oidc/callback?code=abc"))
			if msg != "missing state parameter; start the sign-in again" {
				t.Errorf("message = %q", msg)
			}
		})

		t.Run("unknown state", func(t *testing.T) {
			msg := failure(t, f.get(testenv.Client(), f.base+"/api/v1/auth/oidc/callback?code=abc&state=made-up"))
			if msg != "sign-in attempt expired or was already used; start the sign-in again" {
				t.Errorf("message = %q", msg)
			}
		})

		t.Run("other browser", func(t *testing.T) {
			callback := f.idp.Authorize(t, nil, f.start(testenv.Client(), "/api/v1/auth/oidc/login"))
			attacker := testenv.Client()
			if msg := failure(t, f.get(attacker, callback)); msg != "state mismatch" {
				t.Errorf("message = %q, want %q", msg, "state mismatch")
			}
			if f.hasSession(attacker) {
				t.Errorf("the other browser got a session")
			}
		})

		t.Run("state reused", func(t *testing.T) {
			client := testenv.Client()
			callback := f.idp.Authorize(t, nil, f.start(client, "/api/v1/auth/oidc/login"))
			if r := f.get(client, callback); r.Status != http.StatusFound || r.Header.Get("Location") != "/" {
				t.Fatalf("first use: status %d, location %q", r.Status, r.Header.Get("Location"))
			}
			if msg := failure(t, f.get(client, callback)); !strings.HasPrefix(msg, "sign-in attempt expired or was already used") {
				t.Errorf("message = %q", msg)
			}
		})

		t.Run("missing code", func(t *testing.T) {
			client := testenv.Client()
			callback := f.idp.Authorize(t, nil, f.start(client, "/api/v1/auth/oidc/login"))
			u, _ := url.Parse(callback)
			q := u.Query()
			q.Del("code")
			u.RawQuery = q.Encode()
			if msg := failure(t, f.get(client, u.String())); msg != "missing authorization code" {
				t.Errorf("message = %q", msg)
			}
		})

		t.Run("two tabs", func(t *testing.T) {
			client := testenv.Client()
			first := f.start(client, "/api/v1/auth/oidc/login?return_to=/first")
			second := f.start(client, "/api/v1/auth/oidc/login?return_to=/second")
			r := f.get(client, f.idp.Authorize(t, nil, first))
			if r.Status != http.StatusFound || r.Header.Get("Location") != "/first" {
				t.Fatalf("first tab: status %d, location %q", r.Status, r.Header.Get("Location"))
			}
			r = f.get(client, f.idp.Authorize(t, nil, second))
			if r.Status != http.StatusFound || r.Header.Get("Location") != "/second" {
				t.Errorf("second tab: status %d, location %q", r.Status, r.Header.Get("Location"))
			}
		})
	})
}

func TestSSOStateExpires(t *testing.T) {
	clock := apitest.NewClock(time.Now())
	b := testenv.SQLite(t)
	b.KV = kv.NewMemory(clock.Now)
	idp := oidctest.New(t)
	srv := testenv.StartServer(t, b, map[string]string{
		"OIDC_ENABLED": "true", "OIDC_ISSUER_URL": idp.Issuer, "OIDC_CLIENT_ID": idp.ClientID, "OIDC_CLIENT_SECRET": idp.ClientSecret,
	}, app.Options{Now: clock.Now, HashParams: &fastHash})
	f := &ssoFixture{t: t, idp: idp, server: srv, clock: clock, base: "http://localhost:" + strconv.Itoa(srv.Port)}
	idp.SetUser(verifiedUser("sub-late", "late@example.com"))

	client := testenv.Client()
	callback := idp.Authorize(t, nil, f.start(client, "/api/v1/auth/oidc/login"))
	clock.Advance(11 * time.Minute)
	if msg := failure(t, f.get(client, callback)); !strings.HasPrefix(msg, "sign-in attempt expired") {
		t.Errorf("message = %q", msg)
	}
}

func TestSSOReturnTo(t *testing.T) {
	f := newSSOFixture(t, testenv.SQLite(t))
	f.idp.SetUser(verifiedUser("sub-return", "return@example.com"))

	cases := []struct{ returnTo, want string }{
		{"/welcome?tab=2", "/welcome?tab=2"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"/%0d%0aSet-Cookie:x", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.returnTo, func(t *testing.T) {
			client := testenv.Client()
			auth := f.start(client, "/api/v1/auth/oidc/login?return_to="+url.QueryEscape(tc.returnTo))
			r := f.get(client, f.idp.Authorize(t, nil, auth))
			if got := r.Header.Get("Location"); got != tc.want {
				t.Errorf("landed on %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSSOLinkingRules(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newSSOFixture(t, b)
		password := newFixtureOn(f)
		password.signUp("verified@example.com", "long enough password")
		password.signUp("unverified@example.com", "long enough password")
		password.signUp("MixedCase@Example.com", "long enough password")

		cases := []struct {
			name     string
			user     oidctest.User
			status   int
			message  string
			email    string
			linkedTo string // email of the user the identity must belong to
		}{
			{"new user", verifiedUser("sub-new", "new@example.com"), 302, "", "new@example.com", "new@example.com"},
			{"verified email links", verifiedUser("sub-verified", "verified@example.com"), 302, "", "verified@example.com", "verified@example.com"},
			{"unverified email rejected", oidctest.User{Subject: "sub-unverified", Claims: map[string]any{"email": "unverified@example.com", "email_verified": false}},
				302, "sign-in rejected: your identity provider has not verified your email address", "unverified@example.com", ""},
			{"string true counts", oidctest.User{Subject: "sub-string", Claims: map[string]any{"email": "mixedcase@example.com", "email_verified": "true"}},
				302, "", "MixedCase@Example.com", "MixedCase@Example.com"},
			{"unverified new user created", oidctest.User{Subject: "sub-fresh", Claims: map[string]any{"email": "fresh@example.com"}}, 302, "", "fresh@example.com", "fresh@example.com"},
			{"no email", oidctest.User{Subject: "sub-none", Claims: map[string]any{}, UserinfoClaims: map[string]any{}}, 302, "OIDC provider did not return email", "", ""},
			{"email from userinfo", oidctest.User{Subject: "sub-info", Claims: map[string]any{}, UserinfoClaims: map[string]any{"email": "info@example.com", "email_verified": true}},
				302, "", "info@example.com", "info@example.com"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f.idp.SetUser(tc.user)
				client := testenv.Client()
				r := f.signIn(client)

				if tc.message != "" {
					if msg := failure(t, r); msg != tc.message {
						t.Errorf("message = %q, want %q", msg, tc.message)
					}
					if f.hasSession(client) {
						t.Errorf("session after a rejected sign-in")
					}
				} else {
					if r.Status != tc.status || r.Header.Get("Location") != "/welcome" {
						t.Fatalf("status %d, location %q", r.Status, r.Header.Get("Location"))
					}
					me := f.get(client, f.base+"/api/v1/me")
					if me.Str("email") != tc.email || me.JSON["oidc_linked"] != true {
						t.Errorf("me = %s, want email %q linked", me.Body, tc.email)
					}
				}

				id, err := b.DB.IdentityBySubject(context.Background(), f.tenantID, f.idp.Issuer, tc.user.Subject)
				if tc.linkedTo == "" {
					if err == nil {
						t.Errorf("identity %s was stored for a rejected sign-in", id.ID)
					}
					return
				}
				if err != nil {
					t.Fatalf("identity not stored: %v", err)
				}
				owner, err := b.DB.UserByEmail(context.Background(), f.tenantID, tc.linkedTo)
				if err != nil || owner.ID != id.UserID {
					t.Errorf("identity belongs to %s, want the user %s", id.UserID, tc.linkedTo)
				}
			})
		}

		t.Run("unverified leaves account usable", func(t *testing.T) {
			if r := password.do(testenv.Client(), "POST", "/api/v1/auth/login", map[string]string{"email": "unverified@example.com", "password": "long enough password"}); r.Status != 200 {
				t.Errorf("password login after a rejected SSO: status %d", r.Status)
			}
		})

		t.Run("second sign-in uses identity", func(t *testing.T) {
			f.idp.SetUser(verifiedUser("sub-new", "renamed@example.com"))
			client := testenv.Client()
			if r := f.signIn(client); r.Status != 302 || r.Header.Get("Location") != "/welcome" {
				t.Fatalf("status %d, location %q", r.Status, r.Header.Get("Location"))
			}
			if got := f.get(client, f.base+"/api/v1/me").Str("email"); got != "renamed@example.com" {
				t.Errorf("email = %q, want the verified new address", got)
			}
		})
	})
}

// newFixtureOn wraps an SSO fixture's server for password requests.
func newFixtureOn(f *ssoFixture) *fixture {
	return &fixture{t: f.t, server: &testenv.Server{App: f.server.App, URL: f.base, Port: f.server.Port}, clock: f.clock}
}

func TestSSOLinkFromSettings(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newSSOFixture(t, b)
		pw := newFixtureOn(f)
		owner := pw.signUp("owner@example.com", "long enough password")
		other := pw.signUp("other@example.com", "long enough password")

		f.idp.SetUser(verifiedUser("sub-owner", "someone@corp.example"))
		r := f.get(owner, f.idp.Authorize(t, nil, f.start(owner, "/api/v1/me/oidc/link")))
		if r.Status != 302 || r.Header.Get("Location") != "/settings/security?notice=linked" {
			t.Fatalf("link: status %d, location %q", r.Status, r.Header.Get("Location"))
		}
		if me := f.get(owner, f.base+"/api/v1/me"); me.JSON["oidc_linked"] != true || me.Str("email") != "owner@example.com" {
			t.Errorf("after link: %s", me.Body)
		}

		t.Run("identity of another user", func(t *testing.T) {
			r := f.get(other, f.idp.Authorize(t, nil, f.start(other, "/api/v1/me/oidc/link")))
			if r.Status != http.StatusConflict || r.Str("code") != "identity_taken" {
				t.Errorf("status %d, body %s; want 409 identity_taken", r.Status, r.Body)
			}
		})

		t.Run("link needs session", func(t *testing.T) {
			if r := f.get(testenv.Client(), f.base+"/api/v1/me/oidc/link"); r.Status != 401 {
				t.Errorf("status %d, want 401", r.Status)
			}
		})

		t.Run("sso sign-in reaches linked user", func(t *testing.T) {
			client := testenv.Client()
			f.signIn(client)
			if got := f.get(client, f.base+"/api/v1/me").Str("email"); got != "someone@corp.example" {
				// The verified provider email replaces the stored one.
				t.Errorf("email = %q", got)
			}
		})

		t.Run("unlink with password", func(t *testing.T) {
			if r := pw.do(owner, "DELETE", "/api/v1/me/oidc", nil); r.Status != 204 {
				t.Fatalf("unlink: status %d, body %s", r.Status, r.Body)
			}
			if r := pw.do(owner, "DELETE", "/api/v1/me/oidc", nil); r.Status != 400 || r.Str("code") != "not_linked" {
				t.Errorf("unlink again: status %d, body %s", r.Status, r.Body)
			}
		})

		t.Run("unlink without password", func(t *testing.T) {
			f.idp.SetUser(verifiedUser("sub-ssoonly", "ssoonly@example.com"))
			client := testenv.Client()
			f.signIn(client)
			r := pw.do(client, "DELETE", "/api/v1/me/oidc", nil)
			if r.Status != 400 || r.Str("error") != "cannot unlink OIDC from account without password" {
				t.Fatalf("status %d, body %s", r.Status, r.Body)
			}
			if r := pw.do(client, "PUT", "/api/v1/me/password", map[string]string{"new_password": "a fresh password"}); r.Status != 204 {
				t.Fatalf("set password: status %d, body %s", r.Status, r.Body)
			}
			if r := pw.do(client, "DELETE", "/api/v1/me/oidc", nil); r.Status != 204 {
				t.Errorf("unlink after setting a password: status %d, body %s", r.Status, r.Body)
			}
		})
	})
}

func TestSSONoDiscoveryOnSignInPath(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newSSOFixture(t, b)
		f.idp.SetUser(verifiedUser("sub-count", "count@example.com"))
		f.signIn(testenv.Client()) // warm-up: discovery and keys
		f.idp.ResetCounts()

		const signIns = 5
		for i := 0; i < signIns; i++ {
			if r := f.signIn(testenv.Client()); r.Status != 302 || r.Header.Get("Location") != "/welcome" {
				t.Fatalf("sign-in %d: status %d, location %q", i, r.Status, r.Header.Get("Location"))
			}
		}

		for endpoint, want := range map[string]int{"discovery": 0, "jwks": 0, "token": signIns, "userinfo": 0} {
			if got := f.idp.Requests(endpoint); got != want {
				t.Errorf("%s requests = %d over %d sign-ins, want %d", endpoint, got, signIns, want)
			}
		}
	})
}

func TestSSOKeyRotation(t *testing.T) {
	f := newSSOFixture(t, testenv.SQLite(t))
	f.idp.SetUser(verifiedUser("sub-rotate", "rotate@example.com"))
	f.signIn(testenv.Client())

	f.idp.RotateKey()
	client := testenv.Client()
	if r := f.signIn(client); r.Status != 302 || r.Header.Get("Location") != "/welcome" {
		t.Fatalf("after rotation: status %d, location %q", r.Status, r.Header.Get("Location"))
	}
	if f.idp.Requests("jwks") != 2 {
		t.Errorf("jwks requests = %d, want 2 (first use and one refetch)", f.idp.Requests("jwks"))
	}
}

func TestSSOProviderDown(t *testing.T) {
	idp := oidctest.New(t)
	idp.SetDown(true)
	clock := apitest.NewClock(time.Now())
	srv := testenv.StartServer(t, testenv.SQLite(t), map[string]string{
		"OIDC_ENABLED": "true", "OIDC_ISSUER_URL": idp.Issuer, "OIDC_CLIENT_ID": idp.ClientID, "OIDC_CLIENT_SECRET": idp.ClientSecret,
	}, app.Options{Now: clock.Now, HashParams: &fastHash})
	f := &ssoFixture{t: t, idp: idp, server: srv, clock: clock, base: "http://localhost:" + strconv.Itoa(srv.Port)}

	r := f.get(testenv.Client(), f.base+"/api/v1/auth/oidc/login")
	if r.Status != http.StatusServiceUnavailable || r.Str("code") != "idp_unavailable" {
		t.Fatalf("while down: status %d, body %s", r.Status, r.Body)
	}
	if got := f.get(testenv.Client(), f.base+"/api/v1/auth/config"); got.JSON["oidc_enabled"] != true {
		t.Errorf("auth config while down: %s", got.Body)
	}

	idp.SetDown(false)
	clock.Advance(6 * time.Second)
	idp.SetUser(verifiedUser("sub-back", "back@example.com"))
	client := testenv.Client()
	callback := idp.Authorize(t, nil, f.start(client, "/api/v1/auth/oidc/login"))
	if r := f.get(client, callback); r.Status != 302 || r.Header.Get("Location") != "/" {
		t.Errorf("after recovery: status %d, location %q", r.Status, r.Header.Get("Location"))
	}
}

func TestSSONotEnabled(t *testing.T) {
	srv := testenv.StartServer(t, testenv.SQLite(t), nil, app.Options{HashParams: &fastHash})
	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: srv.URL + "/api/v1/auth/oidc/login"})
	if r.Status != 404 || r.Str("error") != "OIDC is not enabled" {
		t.Errorf("status %d, body %s", r.Status, r.Body)
	}
	if cfg := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: srv.URL + "/api/v1/auth/config"}); cfg.JSON["oidc_enabled"] != false {
		t.Errorf("auth config: %s", cfg.Body)
	}
	_ = api.BrowserCookie
}

func TestSSOPageMessages(t *testing.T) {
	f := newSSOFixture(t, testenv.SQLite(t))

	cases := []struct{ query, shown string }{
		{"state mismatch", "state mismatch"},
		{"OIDC provider did not return email", "OIDC provider did not return email"},
		{"Call +1 555 0100 to restore your account", "Sign-in failed; try again."},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := f.get(testenv.Client(), f.base+"/login?error="+url.QueryEscape(tc.query))
			if !strings.Contains(string(r.Body), tc.shown) {
				t.Errorf("login page does not show %q", tc.shown)
			}
			if tc.query != tc.shown && strings.Contains(string(r.Body), tc.query) {
				t.Errorf("login page shows the crafted text %q", tc.query)
			}
		})
	}
}

func TestSSOStartFromBrowser(t *testing.T) {
	srv := testenv.StartServer(t, testenv.SQLite(t), nil, app.Options{HashParams: &fastHash})
	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: srv.URL + "/api/v1/auth/oidc/login",
		Headers: map[string]string{"Accept": "text/html,application/xhtml+xml"}})
	if r.Status != http.StatusFound || r.Header.Get("Location") != "/login?error="+url.QueryEscape("OIDC is not enabled") {
		t.Errorf("status %d, location %q; want a redirect to the sign-in page", r.Status, r.Header.Get("Location"))
	}
}

func TestSSOAllowedEmailDomains(t *testing.T) {
	b := testenv.SQLite(t)
	f := newSSOFixture(t, b)
	tn, _ := b.DB.TenantBySlug(context.Background(), tenant.DefaultSlug)
	if _, err := b.DB.Exec(context.Background(), `UPDATE tenants SET allowed_email_domains = 'corp.example' WHERE id = ?`, tn.ID); err != nil {
		t.Fatal(err)
	}
	f.server.App.Resolver.Invalidate()

	f.idp.SetUser(verifiedUser("sub-outsider", "outsider@gmail.example"))
	if msg := failure(t, f.signIn(testenv.Client())); !strings.HasPrefix(msg, "sign-in rejected: new accounts must use an email address") {
		t.Errorf("message = %q", msg)
	}
	f.idp.SetUser(verifiedUser("sub-insider", "insider@corp.example"))
	if r := f.signIn(testenv.Client()); r.Header.Get("Location") != "/welcome" {
		t.Errorf("allowed domain: location %q", r.Header.Get("Location"))
	}
}
