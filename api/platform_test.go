package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/oidc/oidctest"
	"github.com/enlace-auth/enlace/platform"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

// platformToken is ENLACE_PLATFORM_TOKEN of the servers these tests start.
const platformToken = "test-platform-token-0123456789abcdef"

// Error codes that the API sends for tenant.ErrInvalid and store.ErrConflict.
const (
	codeInvalidTenant = "invalid_tenant"
	codeConflict      = "conflict"
)

// platformFixture is a multi-tenant Enlace with a platform token. Tenants
// are reached as <slug>.localhost on the server's port.
type platformFixture struct {
	server  *testenv.Server
	backend testenv.Backend
}

func newPlatformFixture(t *testing.T, b testenv.Backend) *platformFixture {
	f := newFixture(t, b, map[string]string{
		"MULTI_TENANT":          "true",
		"TENANT_BASE_DOMAIN":    "localhost",
		"ENLACE_PLATFORM_TOKEN": platformToken,
	})
	return &platformFixture{server: f.server, backend: b}
}

// platform sends a platform API request with the environment's token.
func (f *platformFixture) platform(t *testing.T, method, path string, body any) *apitest.Response {
	t.Helper()
	return apitest.Do(t, testenv.Client(), apitest.Request{
		Method:  method,
		URL:     f.server.URL + "/api/v1/platform" + path,
		Body:    body,
		Headers: map[string]string{"Authorization": "Bearer " + platformToken},
	})
}

// host returns the Host header for name on the server's port.
func (f *platformFixture) host(name string) string { return name + ":" + itoa(f.server.Port) }

// onHost sends a request with the Host header of the host name.
func (f *platformFixture) onHost(t *testing.T, client *http.Client, name, method, path string, body any, headers map[string]string) *apitest.Response {
	t.Helper()
	return apitest.Do(t, client, apitest.Request{Method: method, URL: f.server.URL + path, Host: f.host(name), Body: body, Headers: headers})
}

// createTenant creates a tenant through the platform API and returns its id.
func (f *platformFixture) createTenant(t *testing.T, slug string, domains ...string) string {
	t.Helper()
	r := f.platform(t, "POST", "/tenants", map[string]any{"slug": slug, "domains": domains})
	if r.Status != http.StatusCreated {
		t.Fatalf("create tenant %s: status %d, body %s", slug, r.Status, r.Body)
	}
	return r.Str("id")
}

// signUpOn registers email on the host name and returns a client signed in there.
func (f *platformFixture) signUpOn(t *testing.T, name, email string) *http.Client {
	t.Helper()
	client := testenv.Client()
	creds := map[string]string{"email": email, "password": "long enough password"}
	if r := f.onHost(t, client, name, "POST", "/api/v1/auth/register", creds, nil); r.Status != http.StatusCreated {
		t.Fatalf("register %s on %s: status %d, body %s", email, name, r.Status, r.Body)
	}
	if r := f.onHost(t, client, name, "POST", "/api/v1/auth/login", creds, nil); r.Status != http.StatusOK {
		t.Fatalf("login %s on %s: status %d, body %s", email, name, r.Status, r.Body)
	}
	return client
}

// checkResponse reports a status, error code or error message that differs
// from the expected ones. Successful responses expect code "" and fragment "".
func checkResponse(t *testing.T, r *apitest.Response, status int, code, fragment string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d (body %s)", r.Status, status, r.Body)
	}
	if got := r.Str("code"); got != code {
		t.Errorf("code = %q, want %q", got, code)
	}
	if got := r.Str("error"); !strings.Contains(got, fragment) {
		t.Errorf("error = %q, want it to contain %q", got, fragment)
	}
}

// listItems returns the "items" array of a list response.
func listItems(t *testing.T, r *apitest.Response) []map[string]any {
	t.Helper()
	raw, ok := r.JSON["items"].([]any)
	if !ok {
		t.Fatalf("no items array in body %s", r.Body)
	}
	out := make([]map[string]any, 0, len(raw))
	for _, item := range raw {
		out = append(out, item.(map[string]any))
	}
	return out
}

// collectPages requests pages of limit items, following next_cursor from
// the first page, and returns every item. It fails when a page contains
// more than limit items or when there are more than 50 pages.
func collectPages(t *testing.T, limit int, fetch func(query string) *apitest.Response) []map[string]any {
	t.Helper()
	var all []map[string]any
	query := "?limit=" + itoa(limit)
	for page := 1; ; page++ {
		if page > 50 {
			t.Fatalf("more than 50 pages of %d items", limit)
		}
		r := fetch(query)
		if r.Status != http.StatusOK {
			t.Fatalf("page %d: status %d, body %s", page, r.Status, r.Body)
		}
		items := listItems(t, r)
		if len(items) > limit {
			t.Errorf("page %d has %d items, want at most %d", page, len(items), limit)
		}
		all = append(all, items...)
		cursor := r.Str("next_cursor")
		if cursor == "" {
			return all
		}
		query = "?limit=" + itoa(limit) + "&cursor=" + url.QueryEscape(cursor)
	}
}

// waitFor polls cond for up to a second, because a tenant change reaches
// the server's host resolver through kv pub/sub, which is asynchronous on
// Redis. cond returns whether it holds and the state it saw.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: still false after 1s; last state: %s", what, state)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tenantBody is the JSON shape of a tenant in the platform API.
type tenantBody struct {
	ID      string `json:"id"`
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	Domains []struct {
		Domain  string `json:"domain"`
		Primary bool   `json:"primary"`
	} `json:"domains"`
	Settings struct {
		RegistrationEnabled bool     `json:"registration_enabled"`
		Require2FA          bool     `json:"require_2fa"`
		AllowedEmailDomains []string `json:"allowed_email_domains"`
	} `json:"settings"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func decodeTenant(t *testing.T, r *apitest.Response) tenantBody {
	t.Helper()
	var out tenantBody
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("decode tenant %s: %v", r.Body, err)
	}
	return out
}

func TestPlatformAuth(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newPlatformFixture(t, b)
		ctx := context.Background()

		f.createTenant(t, "acme")
		admin := f.signUpOn(t, "acme.localhost", "admin@acme.test")
		adminCookie := api.SessionCookie + "=" + sessionCookie(t, admin, "http://"+f.host("acme.localhost"))

		tokens := platform.NewTokens(f.server.App.DB, "", time.Now)
		storedToken, _, err := tokens.Create(ctx, "stored")
		if err != nil {
			t.Fatal(err)
		}
		revokedToken, revoked, err := tokens.Create(ctx, "revoked")
		if err != nil {
			t.Fatal(err)
		}
		listURL := f.server.URL + "/api/v1/platform/tenants"
		before := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: listURL,
			Headers: map[string]string{"Authorization": "Bearer " + revokedToken}})
		if before.Status != http.StatusOK {
			t.Fatalf("token before revoking: status %d, body %s", before.Status, before.Body)
		}
		if err := tokens.Revoke(ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name     string
			method   string
			body     any
			headers  map[string]string
			status   int
			code     string
			contains string
		}{
			{"no token", "GET", nil, nil, 401, "platform_unauthorized", "missing or invalid platform token"},
			{"empty bearer", "GET", nil, map[string]string{"Authorization": "Bearer "}, 401, "platform_unauthorized", "Authorization: Bearer"},
			{"wrong token", "GET", nil, map[string]string{"Authorization": "Bearer " + strings.Repeat("x", 40)}, 401, "platform_unauthorized", "missing or invalid platform token"},
			{"token without scheme", "GET", nil, map[string]string{"Authorization": platformToken}, 401, "platform_unauthorized", "missing or invalid platform token"},
			{"token as basic credentials", "GET", nil, map[string]string{"Authorization": "Basic " + platformToken}, 401, "platform_unauthorized", "missing or invalid platform token"},
			{"tenant admin session cookie", "GET", nil, map[string]string{"Cookie": adminCookie}, 401, "platform_unauthorized", "missing or invalid platform token"},
			{"tenant admin cookie creates tenant", "POST", map[string]string{"slug": "sneaky"}, map[string]string{"Cookie": adminCookie}, 401, "platform_unauthorized", "missing or invalid platform token"},
			{"revoked stored token", "GET", nil, map[string]string{"Authorization": "Bearer " + revokedToken}, 401, "platform_unauthorized", "missing or invalid platform token"},
			{"environment token", "GET", nil, map[string]string{"Authorization": "Bearer " + platformToken}, 200, "", ""},
			{"stored token", "GET", nil, map[string]string{"Authorization": "Bearer " + storedToken}, 200, "", ""},
			// RFC 9110 section 11.1: the authentication scheme is case-insensitive.
			{"lower-case scheme", "GET", nil, map[string]string{"Authorization": "bearer " + platformToken}, 200, "", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := apitest.Do(t, testenv.Client(), apitest.Request{Method: tc.method, URL: listURL, Body: tc.body, Headers: tc.headers})
				checkResponse(t, r, tc.status, tc.code, tc.contains)
				if tc.status == http.StatusUnauthorized {
					if got, want := r.Header.Get("WWW-Authenticate"), `Bearer realm="enlace-platform"`; got != want {
						t.Errorf("WWW-Authenticate = %q, want %q", got, want)
					}
				}
				if tc.status == http.StatusOK && len(listItems(t, r)) != 2 {
					t.Errorf("tenants = %d, want 2 (default and acme); body %s", len(listItems(t, r)), r.Body)
				}
			})
		}

		if _, err := b.DB.TenantBySlug(ctx, "sneaky"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("tenant created with a session cookie: TenantBySlug error = %v, want store.ErrNotFound", err)
		}
	})
}

func TestPlatformTenants(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newPlatformFixture(t, b)
		ctx := context.Background()

		created := f.platform(t, "POST", "/tenants", map[string]any{
			"slug": "acme", "name": "Acme Inc", "domains": []string{"Login.Acme.Test", "sso.acme.test"},
		})
		acmeID := created.Str("id")

		t.Run("create", func(t *testing.T) {
			checkResponse(t, created, 201, "", "")
			got := decodeTenant(t, created)
			if !validUUID(got.ID) {
				t.Errorf("id = %q, want a UUID", got.ID)
			}
			if got.Slug != "acme" || got.Name != "Acme Inc" {
				t.Errorf("slug, name = %q, %q; want acme, Acme Inc", got.Slug, got.Name)
			}
			if len(got.Domains) != 2 {
				t.Fatalf("domains = %+v, want two", got.Domains)
			}
			if d := got.Domains[0]; d.Domain != "login.acme.test" || !d.Primary {
				t.Errorf("first domain = %+v, want login.acme.test as primary", d)
			}
			if d := got.Domains[1]; d.Domain != "sso.acme.test" || d.Primary {
				t.Errorf("second domain = %+v, want sso.acme.test, not primary", d)
			}
			if !got.Settings.RegistrationEnabled || got.Settings.Require2FA {
				t.Errorf("settings = %+v, want registration on and 2FA off", got.Settings)
			}
			if !strings.Contains(string(created.Body), `"allowed_email_domains":[]`) {
				t.Errorf("allowed_email_domains is not an empty array in %s", created.Body)
			}
			if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
				t.Errorf("created_at or updated_at missing in %s", created.Body)
			}
		})

		t.Run("create name defaults to slug", func(t *testing.T) {
			r := f.platform(t, "POST", "/tenants", map[string]any{"slug": "initech"})
			checkResponse(t, r, 201, "", "")
			if got := decodeTenant(t, r); got.Name != "initech" || len(got.Domains) != 0 {
				t.Errorf("name, domains = %q, %+v; want initech and none", got.Name, got.Domains)
			}
		})

		t.Run("create rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				body     any
				status   int
				code     string
				contains string
			}{
				{"bad slug", map[string]any{"slug": "Bad_Slug"}, 400, codeInvalidTenant, `slug "Bad_Slug" must be 1 to 63 lower-case`},
				{"reserved slug", map[string]any{"slug": "www"}, 400, codeInvalidTenant, `slug "www" is reserved`},
				{"slug too long", map[string]any{"slug": strings.Repeat("a", 64)}, 400, codeInvalidTenant, "must be 1 to 63"},
				{"empty slug", map[string]any{"slug": ""}, 400, codeInvalidTenant, "must be 1 to 63"},
				{"name too long", map[string]any{"slug": "longname", "name": strings.Repeat("n", 101)}, 400, codeInvalidTenant, "at most 100"},
				{"duplicate slug", map[string]any{"slug": "acme"}, 409, codeConflict, `slug "acme" is taken`},
				{"duplicate domain in other case", map[string]any{"slug": "copycat", "domains": []string{"Login.Acme.TEST."}}, 409, codeConflict, `"login.acme.test"`},
				{"domain with scheme", map[string]any{"slug": "schemed", "domains": []string{"http://x.example"}}, 400, codeInvalidTenant, `domain "http://x.example" is not a valid host name`},
				{"domain listed twice", map[string]any{"slug": "twice", "domains": []string{"a.example", "A.example"}}, 400, codeInvalidTenant, "listed twice"},
				{"domain under base domain", map[string]any{"slug": "squatter", "domains": []string{"acme.localhost"}}, 400, codeInvalidTenant, "under TENANT_BASE_DOMAIN"},
				{"unknown field", map[string]any{"slug": "extra", "owner": "me"}, 400, "unknown_field", `"owner"`},
				{"wrong type", map[string]any{"slug": "typed", "domains": "a.example"}, 400, "invalid_type", `"domains"`},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					checkResponse(t, f.platform(t, "POST", "/tenants", tc.body), tc.status, tc.code, tc.contains)
				})
			}
			for _, slug := range []string{"copycat", "schemed", "twice", "longname", "squatter"} {
				if _, err := b.DB.TenantBySlug(ctx, slug); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("rejected tenant %s: TenantBySlug error = %v, want store.ErrNotFound", slug, err)
				}
			}
		})

		for _, slug := range []string{"globex", "umbrella"} {
			f.createTenant(t, slug)
		}

		t.Run("list pages", func(t *testing.T) {
			items := collectPages(t, 2, func(query string) *apitest.Response {
				return f.platform(t, "GET", "/tenants"+query, nil)
			})
			var slugs []string
			for _, item := range items {
				slugs = append(slugs, item["slug"].(string))
			}
			want := []string{"acme", "default", "globex", "initech", "umbrella"}
			if !slices.Equal(slugs, want) {
				t.Errorf("slugs over all pages = %v, want %v", slugs, want)
			}

			whole := f.platform(t, "GET", "/tenants?limit=5", nil)
			if n := len(listItems(t, whole)); n != 5 || whole.Str("next_cursor") != "" {
				t.Errorf("limit 5: %d items, next_cursor %q; want 5 and none", n, whole.Str("next_cursor"))
			}
		})

		t.Run("list rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				query    string
				status   int
				code     string
				contains string
			}{
				{"cursor not base64", "?cursor=%21%21%21", 400, "invalid_cursor", "invalid cursor"},
				{"cursor of invalid slug", "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("Bad_Slug")), 400, "invalid_cursor", "invalid cursor"},
				{"limit zero", "?limit=0", 400, "invalid_limit", "from 1 to 100"},
				{"limit over max", "?limit=101", 400, "invalid_limit", "from 1 to 100"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					checkResponse(t, f.platform(t, "GET", "/tenants"+tc.query, nil), tc.status, tc.code, tc.contains)
				})
			}
		})

		t.Run("get", func(t *testing.T) {
			r := f.platform(t, "GET", "/tenants/"+acmeID, nil)
			checkResponse(t, r, 200, "", "")
			if got := decodeTenant(t, r); got.ID != acmeID || got.Slug != "acme" || len(got.Domains) != 2 {
				t.Errorf("tenant = %+v, want acme with two domains", got)
			}
			checkResponse(t, f.platform(t, "GET", "/tenants/"+uuid.NewString(), nil), 404, "tenant_not_found", "tenant not found")
			checkResponse(t, f.platform(t, "GET", "/tenants/not-a-uuid", nil), 404, "tenant_not_found", "tenant not found")
		})

		t.Run("get by other id forms", func(t *testing.T) {
			for _, tc := range otherIDForms {
				t.Run(tc.name, func(t *testing.T) {
					r := f.platform(t, "GET", "/tenants/"+tc.form(acmeID), nil)
					found := r.Status == 200 && r.Str("id") == acmeID
					notFound := r.Status == 404 && r.Str("code") == "tenant_not_found"
					if !found && !notFound {
						t.Errorf("status %d, body %s; want acme or 404 tenant_not_found", r.Status, r.Body)
					}
				})
			}
		})

		t.Run("patch", func(t *testing.T) {
			config := func() *apitest.Response {
				return f.onHost(t, testenv.Client(), "acme.localhost", "GET", "/api/v1/auth/config", nil, nil)
			}
			// Load acme into the resolver's cache, so the patch must invalidate it.
			if r := config(); r.Status != 200 || r.JSON["require_2fa"] != false {
				t.Fatalf("auth config before patch: status %d, body %s", r.Status, r.Body)
			}

			r := f.platform(t, "PATCH", "/tenants/"+acmeID, map[string]any{
				"name": "Acme Corp", "require_2fa": true, "allowed_email_domains": []string{"Acme.TEST"},
			})
			checkResponse(t, r, 200, "", "")
			got := decodeTenant(t, r)
			if got.Name != "Acme Corp" || !got.Settings.Require2FA || !got.Settings.RegistrationEnabled {
				t.Errorf("patched tenant = %+v, want name Acme Corp, 2FA on, registration still on", got)
			}
			if !slices.Equal(got.Settings.AllowedEmailDomains, []string{"acme.test"}) {
				t.Errorf("allowed_email_domains = %v, want [acme.test]", got.Settings.AllowedEmailDomains)
			}
			if again := decodeTenant(t, f.platform(t, "GET", "/tenants/"+acmeID, nil)); again.Name != "Acme Corp" || !again.Settings.Require2FA {
				t.Errorf("GET after patch = %+v", again)
			}

			waitFor(t, "auth config on acme.localhost shows the patch", func() (bool, string) {
				r := config()
				return r.JSON["require_2fa"] == true && r.Str("tenant_name") == "Acme Corp", string(r.Body)
			})
			outsider := f.onHost(t, testenv.Client(), "acme.localhost", "POST", "/api/v1/auth/register",
				map[string]string{"email": "someone@other.test", "password": "long enough password"}, nil)
			checkResponse(t, outsider, 400, "validation_failed", "acme.test")
			checkPlatformEvents(t, b, acmeID, "tenant.created", "tenant.updated")
		})

		t.Run("patch rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				id       string
				body     any
				status   int
				code     string
				contains string
			}{
				{"empty name", acmeID, map[string]any{"name": " "}, 400, codeInvalidTenant, "name must be 1 to 100 characters"},
				{"name too long", acmeID, map[string]any{"name": strings.Repeat("n", 101)}, 400, codeInvalidTenant, "name must be 1 to 100 characters"},
				{"bad email domain", acmeID, map[string]any{"allowed_email_domains": []string{"not a domain"}}, 400, codeInvalidTenant, `"not a domain"`},
				{"slug is fixed", acmeID, map[string]any{"slug": "acme2"}, 400, "unknown_field", `"slug"`},
				{"wrong type", acmeID, map[string]any{"require_2fa": "yes"}, 400, "invalid_type", `"require_2fa"`},
				{"unknown tenant", uuid.NewString(), map[string]any{"name": "Ghost"}, 404, "tenant_not_found", "tenant not found"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					checkResponse(t, f.platform(t, "PATCH", "/tenants/"+tc.id, tc.body), tc.status, tc.code, tc.contains)
				})
			}
			if got := decodeTenant(t, f.platform(t, "GET", "/tenants/"+acmeID, nil)); got.Name != "Acme Corp" || len(got.Settings.AllowedEmailDomains) != 1 {
				t.Errorf("tenant after rejected patches = %+v, want it unchanged", got)
			}
		})

		t.Run("delete", func(t *testing.T) {
			doomedID := f.createTenant(t, "doomed", "login.doomed.test")
			f.signUpOn(t, "doomed.localhost", "user@doomed.test")
			for _, host := range []string{"doomed.localhost", "login.doomed.test"} {
				if r := f.onHost(t, testenv.Client(), host, "GET", "/api/v1/auth/config", nil, nil); r.Status != 200 {
					t.Fatalf("%s before delete: status %d", host, r.Status)
				}
			}

			r := f.platform(t, "DELETE", "/tenants/"+doomedID, nil)
			if r.Status != http.StatusNoContent || len(r.Body) != 0 {
				t.Fatalf("delete: status %d, body %s; want 204 and no body", r.Status, r.Body)
			}
			for _, host := range []string{"doomed.localhost", "login.doomed.test"} {
				waitFor(t, host+" answers unknown tenant", func() (bool, string) {
					r := f.onHost(t, testenv.Client(), host, "GET", "/api/v1/auth/config", nil, nil)
					return r.Status == 404 && r.Str("code") == "unknown_tenant", itoa(r.Status) + " " + string(r.Body)
				})
			}
			if _, err := b.DB.UserByEmail(ctx, doomedID, "user@doomed.test"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("user of the deleted tenant: error %v, want store.ErrNotFound", err)
			}
			checkResponse(t, f.platform(t, "GET", "/tenants/"+doomedID, nil), 404, "tenant_not_found", "tenant not found")
			checkResponse(t, f.platform(t, "DELETE", "/tenants/"+doomedID, nil), 404, "tenant_not_found", "tenant not found")

			// The deleted tenant's domain is free again.
			f.createTenant(t, "reborn", "login.doomed.test")
		})

		t.Run("delete default", func(t *testing.T) {
			def, err := b.DB.TenantBySlug(ctx, tenant.DefaultSlug)
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, f.platform(t, "DELETE", "/tenants/"+def.ID, nil), 400, "default_tenant", "cannot be deleted")
			checkResponse(t, f.platform(t, "GET", "/tenants/"+def.ID, nil), 200, "", "")
		})
	})
}

func TestPlatformDomains(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newPlatformFixture(t, b)
		acmeID := f.createTenant(t, "acme", "login.acme.test")
		globexID := f.createTenant(t, "globex")

		domainsOf := func(t *testing.T, id string) []map[string]any {
			t.Helper()
			r := f.platform(t, "GET", "/tenants/"+id+"/domains", nil)
			checkResponse(t, r, 200, "", "")
			return listItems(t, r)
		}
		hostTenant := func(t *testing.T, host string) *apitest.Response {
			t.Helper()
			return f.onHost(t, testenv.Client(), host, "GET", "/api/v1/auth/config", nil, nil)
		}

		t.Run("add", func(t *testing.T) {
			r := f.platform(t, "POST", "/tenants/"+acmeID+"/domains", map[string]any{"domain": "SSO.Acme.Test."})
			checkResponse(t, r, 201, "", "")
			if r.Str("domain") != "sso.acme.test" || r.JSON["primary"] != false {
				t.Errorf("added domain = %s, want sso.acme.test, not primary", r.Body)
			}
			waitFor(t, "sso.acme.test serves acme", func() (bool, string) {
				r := hostTenant(t, "sso.acme.test")
				return r.Str("tenant") == "acme", string(r.Body)
			})
		})

		t.Run("add primary", func(t *testing.T) {
			r := f.platform(t, "POST", "/tenants/"+acmeID+"/domains", map[string]any{"domain": "id.acme.test", "primary": true})
			checkResponse(t, r, 201, "", "")
			if r.JSON["primary"] != true {
				t.Errorf("added domain = %s, want primary", r.Body)
			}
			primaries := 0
			for _, d := range domainsOf(t, acmeID) {
				if d["primary"] == true {
					primaries++
					if d["domain"] != "id.acme.test" {
						t.Errorf("primary domain = %v, want id.acme.test", d["domain"])
					}
				}
			}
			if primaries != 1 {
				t.Errorf("acme has %d primary domains, want 1", primaries)
			}
		})

		t.Run("first domain becomes primary", func(t *testing.T) {
			r := f.platform(t, "POST", "/tenants/"+globexID+"/domains", map[string]any{"domain": "login.globex.test"})
			checkResponse(t, r, 201, "", "")
			if r.JSON["primary"] != true {
				t.Errorf("first domain of globex = %s, want primary", r.Body)
			}
		})

		t.Run("add rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				id       string
				body     any
				status   int
				code     string
				contains string
			}{
				{"domain of another tenant", globexID, map[string]any{"domain": "Login.Acme.TEST."}, 409, codeConflict, `"login.acme.test"`},
				{"domain already on this tenant", acmeID, map[string]any{"domain": "login.acme.test"}, 409, codeConflict, `"login.acme.test"`},
				{"domain with scheme", acmeID, map[string]any{"domain": "http://x.example"}, 400, codeInvalidTenant, "not a valid host name"},
				{"empty domain", acmeID, map[string]any{"domain": ""}, 400, codeInvalidTenant, "not a valid host name"},
				{"host of another tenant", acmeID, map[string]any{"domain": "Globex.Localhost"}, 400, codeInvalidTenant, "under TENANT_BASE_DOMAIN"},
				{"base domain itself", acmeID, map[string]any{"domain": "localhost"}, 400, codeInvalidTenant, "under TENANT_BASE_DOMAIN"},
				{"unknown tenant", uuid.NewString(), map[string]any{"domain": "ghost.example"}, 404, "tenant_not_found", "tenant not found"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					checkResponse(t, f.platform(t, "POST", "/tenants/"+tc.id+"/domains", tc.body), tc.status, tc.code, tc.contains)
				})
			}
		})

		t.Run("list", func(t *testing.T) {
			var names []string
			for _, d := range domainsOf(t, acmeID) {
				names = append(names, d["domain"].(string))
			}
			slices.Sort(names)
			if want := []string{"id.acme.test", "login.acme.test", "sso.acme.test"}; !slices.Equal(names, want) {
				t.Errorf("acme domains = %v, want %v", names, want)
			}
			checkResponse(t, f.platform(t, "GET", "/tenants/"+uuid.NewString()+"/domains", nil), 404, "tenant_not_found", "tenant not found")
		})

		t.Run("remove", func(t *testing.T) {
			r := f.platform(t, "DELETE", "/tenants/"+acmeID+"/domains/sso.acme.test", nil)
			if r.Status != http.StatusNoContent {
				t.Fatalf("remove: status %d, body %s", r.Status, r.Body)
			}
			waitFor(t, "sso.acme.test answers unknown tenant", func() (bool, string) {
				r := hostTenant(t, "sso.acme.test")
				return r.Status == 404 && r.Str("code") == "unknown_tenant", string(r.Body)
			})
		})

		t.Run("remove primary promotes another", func(t *testing.T) {
			if r := f.platform(t, "DELETE", "/tenants/"+acmeID+"/domains/id.acme.test", nil); r.Status != http.StatusNoContent {
				t.Fatalf("remove primary: status %d, body %s", r.Status, r.Body)
			}
			domains := domainsOf(t, acmeID)
			if len(domains) != 1 || domains[0]["domain"] != "login.acme.test" || domains[0]["primary"] != true {
				t.Errorf("acme domains = %v, want login.acme.test as primary", domains)
			}
		})

		t.Run("remove rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				id       string
				domain   string
				status   int
				code     string
				contains string
			}{
				{"already removed", acmeID, "sso.acme.test", 404, "domain_not_found", `"sso.acme.test"`},
				{"unknown domain", acmeID, "nope.example", 404, "domain_not_found", `"nope.example"`},
				{"domain of another tenant", globexID, "login.acme.test", 404, "domain_not_found", `"login.acme.test"`},
				{"unknown tenant", uuid.NewString(), "login.acme.test", 404, "tenant_not_found", "tenant not found"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					checkResponse(t, f.platform(t, "DELETE", "/tenants/"+tc.id+"/domains/"+tc.domain, nil), tc.status, tc.code, tc.contains)
				})
			}
			if r := hostTenant(t, "login.acme.test"); r.Str("tenant") != "acme" {
				t.Errorf("login.acme.test after rejected removals: body %s, want tenant acme", r.Body)
			}
			if r := hostTenant(t, "globex.localhost"); r.Str("tenant") != "globex" {
				t.Errorf("globex.localhost: body %s, want tenant globex", r.Body)
			}
		})

		t.Run("audit names the token", func(t *testing.T) {
			checkPlatformEvents(t, b, acmeID, "tenant.created", "domain.added", "domain.removed")
		})
	})
}

func TestPlatformIdP(t *testing.T) {
	idp := oidctest.New(t)

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newPlatformFixture(t, b)
		acmeID := f.createTenant(t, "acme")
		path := "/tenants/" + acmeID + "/oidc"
		valid := map[string]any{"issuer_url": idp.Issuer, "client_id": idp.ClientID, "client_secret": idp.ClientSecret}

		t.Run("get before set", func(t *testing.T) {
			r := f.platform(t, "GET", path, nil)
			checkResponse(t, r, 200, "", "")
			if r.JSON["configured"] != false {
				t.Errorf("configured = %v, want false", r.JSON["configured"])
			}
			want := "http://acme.localhost:" + itoa(f.server.Port) + "/api/v1/auth/oidc/callback"
			if got := r.Str("default_redirect_url"); got != want {
				t.Errorf("default_redirect_url = %q, want %q", got, want)
			}
		})

		t.Run("put rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				body     map[string]any
				status   int
				code     string
				contains []string
			}{
				{"issuer not a url", map[string]any{"issuer_url": "not a url", "client_id": "x"}, 400, "invalid_idp_settings",
					[]string{`issuer_url "not a url" must be an absolute http or https URL`}},
				{"missing client id", map[string]any{"issuer_url": idp.Issuer}, 400, "invalid_idp_settings", []string{"client_id is required"}},
				{"scopes without openid", map[string]any{"issuer_url": idp.Issuer, "client_id": "x", "scopes": []string{"email"}}, 400, "invalid_idp_settings",
					[]string{"scopes must include openid"}},
				{"unreachable issuer", map[string]any{"issuer_url": "http://127.0.0.1:1", "client_id": "x"}, 400, "issuer_unreachable",
					[]string{"identity provider discovery failed", "127.0.0.1:1"}},
				{"issuer mismatch", map[string]any{"issuer_url": idp.Issuer + "/", "client_id": "x"}, 400, "issuer_mismatch",
					[]string{`"` + idp.Issuer + `/"`, `discovery says "` + idp.Issuer + `"`}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := f.platform(t, "PUT", path, tc.body)
					checkResponse(t, r, tc.status, tc.code, tc.contains[0])
					for _, fragment := range tc.contains[1:] {
						if got := r.Str("error"); !strings.Contains(got, fragment) {
							t.Errorf("error = %q, want it to contain %q", got, fragment)
						}
					}
				})
			}
			if r := f.platform(t, "GET", path, nil); r.JSON["configured"] != false {
				t.Errorf("configured after rejected puts = %v, want false", r.JSON["configured"])
			}
		})

		t.Run("put", func(t *testing.T) {
			r := f.platform(t, "PUT", path, valid)
			checkResponse(t, r, 200, "", "")
			if strings.Contains(string(r.Body), idp.ClientSecret) {
				t.Errorf("response contains the client secret: %s", r.Body)
			}
			if r.JSON["configured"] != true || r.JSON["enabled"] != true || r.JSON["client_secret_set"] != true {
				t.Errorf("configured, enabled, client_secret_set = %v, %v, %v; want all true",
					r.JSON["configured"], r.JSON["enabled"], r.JSON["client_secret_set"])
			}
			if r.Str("issuer_url") != idp.Issuer || r.Str("client_id") != idp.ClientID {
				t.Errorf("issuer_url, client_id = %q, %q", r.Str("issuer_url"), r.Str("client_id"))
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}

			start := f.onHost(t, testenv.Client(), "acme.localhost", "GET", "/api/v1/auth/oidc/login", nil, nil)
			if start.Status != http.StatusFound || !strings.HasPrefix(start.Header.Get("Location"), idp.Issuer+"/authorize?") {
				t.Errorf("SSO start on acme: status %d, location %q; want a redirect to the provider", start.Status, start.Header.Get("Location"))
			}
		})

		t.Run("put without secret keeps it", func(t *testing.T) {
			r := f.platform(t, "PUT", path, map[string]any{"issuer_url": idp.Issuer, "client_id": idp.ClientID, "enabled": false})
			checkResponse(t, r, 200, "", "")
			if r.JSON["client_secret_set"] != true || r.JSON["enabled"] != false {
				t.Errorf("client_secret_set, enabled = %v, %v; want true, false", r.JSON["client_secret_set"], r.JSON["enabled"])
			}
			settings, err := f.server.App.IdP.Settings(context.Background(), &tenant.Tenant{ID: acmeID, Slug: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			if settings.ClientSecret != idp.ClientSecret {
				t.Errorf("stored client secret changed by a put without one")
			}
		})

		t.Run("get", func(t *testing.T) {
			r := f.platform(t, "GET", path, nil)
			checkResponse(t, r, 200, "", "")
			if strings.Contains(string(r.Body), idp.ClientSecret) {
				t.Errorf("response contains the client secret: %s", r.Body)
			}
			if r.JSON["configured"] != true || r.JSON["client_secret_set"] != true || r.Str("issuer_url") != idp.Issuer {
				t.Errorf("body %s, want the stored provider with client_secret_set", r.Body)
			}
		})

		t.Run("delete", func(t *testing.T) {
			if r := f.platform(t, "DELETE", path, nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete: status %d, body %s", r.Status, r.Body)
			}
			checkResponse(t, f.platform(t, "DELETE", path, nil), 404, "idp_not_found", "no stored identity provider settings")
			if r := f.platform(t, "GET", path, nil); r.JSON["configured"] != false {
				t.Errorf("configured after delete = %v, want false", r.JSON["configured"])
			}
		})

		t.Run("unknown tenant", func(t *testing.T) {
			other := "/tenants/" + uuid.NewString() + "/oidc"
			checkResponse(t, f.platform(t, "GET", other, nil), 404, "tenant_not_found", "tenant not found")
			checkResponse(t, f.platform(t, "PUT", other, valid), 404, "tenant_not_found", "tenant not found")
			checkResponse(t, f.platform(t, "DELETE", other, nil), 404, "tenant_not_found", "tenant not found")
		})

		t.Run("audit names the token", func(t *testing.T) {
			checkPlatformEvents(t, b, acmeID, "idp.updated", "idp.deleted")
		})
	})
}

// checkPlatformEvents reports each event type that the tenant's audit log
// lacks with platform_token=env, the name of ENLACE_PLATFORM_TOKEN.
func checkPlatformEvents(t *testing.T, b testenv.Backend, tenantID string, types ...string) {
	t.Helper()
	page, err := b.DB.AuditPage(context.Background(), tenantID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range page.Items {
		if e.Details["platform_token"] == "env" {
			seen[e.Type] = true
		}
	}
	for _, typ := range types {
		if !seen[typ] {
			t.Errorf("no %s event with platform_token=env among %d events", typ, len(page.Items))
		}
	}
}

// adminFixture is a platform fixture with two tenants, acme and globex.
// Acme has an admin and two members, and globex has an admin.
type adminFixture struct {
	*platformFixture
	acmeID, globexID                  string
	admin, member, victim, globexUser *http.Client
}

const (
	acmeHost   = "acme.localhost"
	globexHost = "globex.localhost"
)

func newAdminFixture(t *testing.T, b testenv.Backend) *adminFixture {
	f := &adminFixture{platformFixture: newPlatformFixture(t, b)}
	f.acmeID = f.createTenant(t, "acme")
	f.globexID = f.createTenant(t, "globex")
	f.admin = f.signUpOn(t, acmeHost, "admin@acme.test")
	f.member = f.signUpOn(t, acmeHost, "member@acme.test")
	f.victim = f.signUpOn(t, acmeHost, "victim@acme.test")
	f.globexUser = f.signUpOn(t, globexHost, "admin@globex.test")
	return f
}

// acme sends a request on acme's host.
func (f *adminFixture) acme(t *testing.T, client *http.Client, method, path string, body any) *apitest.Response {
	t.Helper()
	return f.onHost(t, client, acmeHost, method, path, body, nil)
}

// userID returns the id of the acme user with email.
func (f *adminFixture) userID(t *testing.T, tenantID, email string) string {
	t.Helper()
	u, err := f.backend.DB.UserByEmail(context.Background(), tenantID, email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u.ID
}

func TestAdminAccess(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newAdminFixture(t, b)
		acmeCookie := api.SessionCookie + "=" + sessionCookie(t, f.admin, "http://"+f.host(acmeHost))

		t.Run("first user is admin", func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				client *http.Client
				host   string
				admin  bool
			}{
				{"acme first", f.admin, acmeHost, true},
				{"acme second", f.member, acmeHost, false},
				{"globex first", f.globexUser, globexHost, true},
			} {
				r := f.onHost(t, tc.client, tc.host, "GET", "/api/v1/me", nil, nil)
				if r.JSON["is_admin"] != tc.admin {
					t.Errorf("%s: is_admin = %v, want %v", tc.name, r.JSON["is_admin"], tc.admin)
				}
			}
		})

		cases := []struct {
			name     string
			client   *http.Client
			host     string
			method   string
			path     string
			body     any
			headers  map[string]string
			status   int
			code     string
			contains string
		}{
			{"no session", testenv.Client(), acmeHost, "GET", "/api/v1/admin/settings", nil, nil, 401, "unauthenticated", "not signed in"},
			{"member reads settings", f.member, acmeHost, "GET", "/api/v1/admin/settings", nil, nil, 403, "admin_required", "admin of this organisation"},
			{"member changes settings", f.member, acmeHost, "PATCH", "/api/v1/admin/settings", map[string]any{"registration_enabled": false}, nil, 403, "admin_required", "admin of this organisation"},
			{"member lists users", f.member, acmeHost, "GET", "/api/v1/admin/users", nil, nil, 403, "admin_required", "admin of this organisation"},
			{"member reads audit", f.member, acmeHost, "GET", "/api/v1/admin/audit", nil, nil, 403, "admin_required", "admin of this organisation"},
			{"member reads provider", f.member, acmeHost, "GET", "/api/v1/admin/oidc", nil, nil, 403, "admin_required", "admin of this organisation"},
			{"member tests provider", f.member, acmeHost, "POST", "/api/v1/admin/oidc/test", map[string]any{"issuer_url": "http://127.0.0.1:1"}, nil, 403, "admin_required", "admin of this organisation"},
			{"acme admin on globex", testenv.Client(), globexHost, "GET", "/api/v1/admin/settings", nil, map[string]string{"Cookie": acmeCookie}, 401, "session_wrong_tenant", "issued for another organisation"},
			{"acme admin changes globex", testenv.Client(), globexHost, "PATCH", "/api/v1/admin/settings", map[string]any{"registration_enabled": false}, map[string]string{"Cookie": acmeCookie}, 401, "session_wrong_tenant", "issued for another organisation"},
			{"admin", f.admin, acmeHost, "GET", "/api/v1/admin/settings", nil, nil, 200, "", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := f.onHost(t, tc.client, tc.host, tc.method, tc.path, tc.body, tc.headers)
				checkResponse(t, r, tc.status, tc.code, tc.contains)
			})
		}

		r := f.onHost(t, f.globexUser, globexHost, "GET", "/api/v1/admin/settings", nil, nil)
		if r.Status != 200 || r.JSON["registration_enabled"] != true {
			t.Errorf("globex settings after rejected changes: status %d, body %s", r.Status, r.Body)
		}
	})
}

func TestAdminSettings(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newAdminFixture(t, b)

		t.Run("get", func(t *testing.T) {
			r := f.acme(t, f.admin, "GET", "/api/v1/admin/settings", nil)
			checkResponse(t, r, 200, "", "")
			if r.JSON["registration_enabled"] != true || r.JSON["require_2fa"] != false {
				t.Errorf("settings = %s, want registration on and 2FA off", r.Body)
			}
			if !strings.Contains(string(r.Body), `"allowed_email_domains":[]`) {
				t.Errorf("allowed_email_domains is not an empty array in %s", r.Body)
			}
		})

		t.Run("patch rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				body     any
				status   int
				code     string
				contains string
			}{
				{"rename", map[string]any{"name": "Evil"}, 400, "unknown_field", `"name"`},
				{"bad email domain", map[string]any{"allowed_email_domains": []string{"not a domain"}}, 400, codeInvalidTenant, `"not a domain"`},
				{"wrong type", map[string]any{"registration_enabled": "no"}, 400, "invalid_type", `"registration_enabled"`},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					checkResponse(t, f.acme(t, f.admin, "PATCH", "/api/v1/admin/settings", tc.body), tc.status, tc.code, tc.contains)
				})
			}
		})

		t.Run("disable registration", func(t *testing.T) {
			r := f.acme(t, f.admin, "PATCH", "/api/v1/admin/settings", map[string]any{"registration_enabled": false})
			checkResponse(t, r, 200, "", "")
			if r.JSON["registration_enabled"] != false {
				t.Errorf("registration_enabled = %v, want false", r.JSON["registration_enabled"])
			}
			waitFor(t, "auth config on acme shows registration off", func() (bool, string) {
				r := f.acme(t, testenv.Client(), "GET", "/api/v1/auth/config", nil)
				return r.JSON["registration_enabled"] == false, string(r.Body)
			})

			creds := map[string]string{"email": "late@acme.test", "password": "long enough password"}
			checkResponse(t, f.acme(t, testenv.Client(), "POST", "/api/v1/auth/register", creds), 403, "registration_disabled", "registration is disabled")
			other := f.onHost(t, testenv.Client(), globexHost, "POST", "/api/v1/auth/register", creds, nil)
			checkResponse(t, other, 201, "", "")
		})
	})
}

func TestAdminOrigin(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newAdminFixture(t, b)
		victimID := f.userID(t, f.acmeID, "victim@acme.test")
		evil := map[string]string{"Origin": "http://evil.example"}

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
			{"settings from evil origin", "PATCH", "/api/v1/admin/settings", map[string]any{"registration_enabled": false}, evil, 403, "cross_origin_rejected", "evil.example"},
			{"user from evil origin", "PATCH", "/api/v1/admin/users/" + victimID, map[string]any{"is_admin": true}, evil, 403, "cross_origin_rejected", "evil.example"},
			{"provider from evil origin", "PUT", "/api/v1/admin/oidc", map[string]any{"issuer_url": "http://127.0.0.1:1", "client_id": "x"}, evil, 403, "cross_origin_rejected", "evil.example"},
			{"provider delete from evil origin", "DELETE", "/api/v1/admin/oidc", nil, evil, 403, "cross_origin_rejected", "evil.example"},
			{"settings cross-site fetch", "PATCH", "/api/v1/admin/settings", map[string]any{"registration_enabled": false}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "cross_origin_rejected", "cross-site"},
			{"settings from another tenant", "PATCH", "/api/v1/admin/settings", map[string]any{"registration_enabled": false}, map[string]string{"Origin": "http://" + f.host(globexHost)}, 403, "cross_origin_rejected", "globex.localhost"},
			{"settings from own origin", "PATCH", "/api/v1/admin/settings", map[string]any{"require_2fa": true}, map[string]string{"Origin": "http://" + f.host(acmeHost)}, 200, "", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				checkResponse(t, f.onHost(t, f.admin, acmeHost, tc.method, tc.path, tc.body, tc.headers), tc.status, tc.code, tc.contains)
			})
		}

		r := f.acme(t, f.admin, "GET", "/api/v1/admin/settings", nil)
		if r.JSON["registration_enabled"] != true || r.JSON["require_2fa"] != true {
			t.Errorf("settings = %s, want registration still on and 2FA on from the same-origin patch", r.Body)
		}
		victim, err := b.DB.UserByEmail(context.Background(), f.acmeID, "victim@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		if victim.IsAdmin {
			t.Errorf("a cross-origin request made the victim an admin")
		}
	})
}

func TestAdminOIDC(t *testing.T) {
	idp := oidctest.New(t)

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newAdminFixture(t, b)

		t.Run("get before set", func(t *testing.T) {
			r := f.acme(t, f.admin, "GET", "/api/v1/admin/oidc", nil)
			checkResponse(t, r, 200, "", "")
			if r.JSON["configured"] != false {
				t.Errorf("configured = %v, want false", r.JSON["configured"])
			}
		})

		t.Run("test without issuer", func(t *testing.T) {
			r := f.acme(t, f.admin, "POST", "/api/v1/admin/oidc/test", nil)
			checkResponse(t, r, 400, "issuer_required", "send issuer_url")
		})

		t.Run("put rejects", func(t *testing.T) {
			r := f.acme(t, f.admin, "PUT", "/api/v1/admin/oidc", map[string]any{"issuer_url": "not a url", "client_id": "x"})
			checkResponse(t, r, 400, "invalid_idp_settings", `issuer_url "not a url"`)
			r = f.acme(t, f.admin, "PUT", "/api/v1/admin/oidc", map[string]any{"issuer_url": "http://127.0.0.1:1", "client_id": "x"})
			checkResponse(t, r, 400, "issuer_unreachable", "identity provider discovery failed")
		})

		t.Run("put", func(t *testing.T) {
			r := f.acme(t, f.admin, "PUT", "/api/v1/admin/oidc",
				map[string]any{"issuer_url": idp.Issuer, "client_id": idp.ClientID, "client_secret": idp.ClientSecret})
			checkResponse(t, r, 200, "", "")
			if strings.Contains(string(r.Body), idp.ClientSecret) {
				t.Errorf("response contains the client secret: %s", r.Body)
			}
			if r.JSON["configured"] != true || r.JSON["client_secret_set"] != true {
				t.Errorf("configured, client_secret_set = %v, %v; want true, true", r.JSON["configured"], r.JSON["client_secret_set"])
			}
			config := f.acme(t, testenv.Client(), "GET", "/api/v1/auth/config", nil)
			if config.JSON["oidc_enabled"] != true {
				t.Errorf("auth config on acme: oidc_enabled = %v, want true", config.JSON["oidc_enabled"])
			}
			globex := f.onHost(t, testenv.Client(), globexHost, "GET", "/api/v1/auth/config", nil, nil)
			if globex.JSON["oidc_enabled"] != false {
				t.Errorf("auth config on globex: oidc_enabled = %v, want false", globex.JSON["oidc_enabled"])
			}
		})

		t.Run("get", func(t *testing.T) {
			r := f.acme(t, f.admin, "GET", "/api/v1/admin/oidc", nil)
			checkResponse(t, r, 200, "", "")
			if strings.Contains(string(r.Body), idp.ClientSecret) {
				t.Errorf("response contains the client secret: %s", r.Body)
			}
			if r.Str("issuer_url") != idp.Issuer || r.Str("client_id") != idp.ClientID || r.JSON["client_secret_set"] != true {
				t.Errorf("body %s, want the stored provider", r.Body)
			}
		})

		t.Run("test connection", func(t *testing.T) {
			cases := []struct {
				name   string
				body   any
				ok     bool
				issuer string
				error  string
			}{
				{"given issuer", map[string]any{"issuer_url": idp.Issuer}, true, idp.Issuer, ""},
				{"stored issuer", nil, true, idp.Issuer, ""},
				{"unreachable issuer", map[string]any{"issuer_url": "http://127.0.0.1:1"}, false, "http://127.0.0.1:1", "identity provider discovery failed"},
				{"issuer mismatch", map[string]any{"issuer_url": idp.Issuer + "/"}, false, idp.Issuer + "/", `discovery says "` + idp.Issuer + `"`},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := f.acme(t, f.admin, "POST", "/api/v1/admin/oidc/test", tc.body)
					checkResponse(t, r, 200, "", "")
					if r.JSON["ok"] != tc.ok {
						t.Errorf("ok = %v, want %v (body %s)", r.JSON["ok"], tc.ok, r.Body)
					}
					if got := r.Str("issuer"); got != tc.issuer {
						t.Errorf("issuer = %q, want %q", got, tc.issuer)
					}
					if !tc.ok {
						if got := r.Str("error"); !strings.Contains(got, tc.error) {
							t.Errorf("error = %q, want it to contain %q", got, tc.error)
						}
						return
					}
					endpoints := map[string]string{
						"authorization_endpoint": idp.Issuer + "/authorize",
						"token_endpoint":         idp.Issuer + "/token",
						"jwks_uri":               "",
					}
					for field, want := range endpoints {
						got := r.Str(field)
						if got == "" || want != "" && got != want {
							t.Errorf("%s = %q, want %q", field, got, want)
						}
					}
					algs, _ := r.JSON["id_token_signing_alg_values_supported"].([]any)
					if !slices.Contains(algs, any("RS256")) {
						t.Errorf("id_token_signing_alg_values_supported = %v, want RS256 among them", algs)
					}
				})
			}
		})

		t.Run("delete", func(t *testing.T) {
			if r := f.acme(t, f.admin, "DELETE", "/api/v1/admin/oidc", nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete: status %d, body %s", r.Status, r.Body)
			}
			checkResponse(t, f.acme(t, f.admin, "DELETE", "/api/v1/admin/oidc", nil), 404, "idp_not_found", "no stored identity provider settings")
			if r := f.acme(t, f.admin, "GET", "/api/v1/admin/oidc", nil); r.JSON["configured"] != false {
				t.Errorf("configured after delete = %v, want false", r.JSON["configured"])
			}
		})
	})
}

func TestAdminUsers(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newAdminFixture(t, b)
		adminID := f.userID(t, f.acmeID, "admin@acme.test")
		memberID := f.userID(t, f.acmeID, "member@acme.test")
		victimID := f.userID(t, f.acmeID, "victim@acme.test")
		globexUserID := f.userID(t, f.globexID, "admin@globex.test")
		patchUser := func(t *testing.T, id string, body any) *apitest.Response {
			t.Helper()
			return f.acme(t, f.admin, "PATCH", "/api/v1/admin/users/"+id, body)
		}

		t.Run("list pages", func(t *testing.T) {
			items := collectPages(t, 2, func(query string) *apitest.Response {
				return f.acme(t, f.admin, "GET", "/api/v1/admin/users"+query, nil)
			})
			admins := map[string]bool{}
			for _, item := range items {
				admins[item["email"].(string)] = item["is_admin"] == true
				if item["disabled"] != false {
					t.Errorf("user %v: disabled = %v, want false", item["email"], item["disabled"])
				}
			}
			want := map[string]bool{"admin@acme.test": true, "member@acme.test": false, "victim@acme.test": false}
			if len(items) != len(want) {
				t.Errorf("users over all pages = %d, want %d (%v)", len(items), len(want), admins)
			}
			for email, isAdmin := range want {
				if got, ok := admins[email]; !ok || got != isAdmin {
					t.Errorf("user %s: listed %v, is_admin %v; want listed, is_admin %v", email, ok, got, isAdmin)
				}
			}
			checkResponse(t, f.acme(t, f.admin, "GET", "/api/v1/admin/users?cursor=bogus", nil), 400, "invalid_cursor", "invalid cursor")
		})

		t.Run("patch rejects", func(t *testing.T) {
			cases := []struct {
				name     string
				id       string
				body     any
				status   int
				code     string
				contains string
			}{
				{"disable self", adminID, map[string]any{"disabled": true}, 400, "self_lockout", "cannot remove your own admin rights or disable yourself"},
				{"demote self", adminID, map[string]any{"is_admin": false}, 400, "self_lockout", "cannot remove your own admin rights or disable yourself"},
				{"unknown user", uuid.NewString(), map[string]any{"is_admin": true}, 404, "user_not_found", "user not found in this organisation"},
				{"malformed id", "not-a-uuid", map[string]any{"is_admin": true}, 404, "user_not_found", "user not found in this organisation"},
				{"user of another tenant", globexUserID, map[string]any{"disabled": true}, 404, "user_not_found", "user not found in this organisation"},
				{"unknown field", memberID, map[string]any{"email": "x@acme.test"}, 400, "unknown_field", `"email"`},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					checkResponse(t, patchUser(t, tc.id, tc.body), tc.status, tc.code, tc.contains)
				})
			}
			self, err := b.DB.UserByEmail(context.Background(), f.acmeID, "admin@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			if !self.IsAdmin || self.Disabled {
				t.Errorf("admin after self-lockout attempts: is_admin %v, disabled %v; want true, false", self.IsAdmin, self.Disabled)
			}
			globexUser, err := b.DB.UserByEmail(context.Background(), f.globexID, "admin@globex.test")
			if err != nil {
				t.Fatal(err)
			}
			if globexUser.Disabled {
				t.Errorf("acme's admin disabled a user of globex")
			}
		})

		t.Run("promote and demote", func(t *testing.T) {
			r := patchUser(t, memberID, map[string]any{"is_admin": true})
			checkResponse(t, r, 200, "", "")
			if r.JSON["is_admin"] != true || r.Str("email") != "member@acme.test" {
				t.Errorf("promoted user = %s", r.Body)
			}
			checkResponse(t, f.acme(t, f.member, "GET", "/api/v1/admin/settings", nil), 200, "", "")

			checkResponse(t, patchUser(t, memberID, map[string]any{"is_admin": false}), 200, "", "")
			checkResponse(t, f.acme(t, f.member, "GET", "/api/v1/admin/settings", nil), 403, "admin_required", "admin of this organisation")
		})

		t.Run("disable", func(t *testing.T) {
			if r := f.acme(t, f.victim, "GET", "/api/v1/me", nil); r.Status != 200 {
				t.Fatalf("victim before disabling: status %d", r.Status)
			}

			r := patchUser(t, victimID, map[string]any{"disabled": true})
			checkResponse(t, r, 200, "", "")
			if r.JSON["disabled"] != true {
				t.Errorf("disabled = %v, want true", r.JSON["disabled"])
			}

			me := f.acme(t, f.victim, "GET", "/api/v1/me", nil)
			if me.Status != 401 && me.Status != 403 {
				t.Errorf("disabled user's session: status %d, body %s; want 401 or 403", me.Status, me.Body)
			}
			creds := map[string]string{"email": "victim@acme.test", "password": "long enough password"}
			checkResponse(t, f.acme(t, testenv.Client(), "POST", "/api/v1/auth/login", creds), 403, "account_disabled", "account is disabled")

			checkResponse(t, patchUser(t, victimID, map[string]any{"disabled": false}), 200, "", "")
			checkResponse(t, f.acme(t, testenv.Client(), "POST", "/api/v1/auth/login", creds), 200, "", "")
		})

		// Each form gets its own new admin, because a failure locks that admin out.
		t.Run("disable self by other id forms", func(t *testing.T) {
			for i, tc := range otherIDForms {
				t.Run(tc.name, func(t *testing.T) {
					email := "self" + itoa(i) + "@acme.test"
					client := f.signUpOn(t, acmeHost, email)
					id := f.userID(t, f.acmeID, email)
					checkResponse(t, patchUser(t, id, map[string]any{"is_admin": true}), 200, "", "")

					r := f.acme(t, client, "PATCH", "/api/v1/admin/users/"+tc.form(id), map[string]any{"disabled": true})
					lockout := r.Status == 400 && r.Str("code") == "self_lockout"
					notFound := r.Status == 404 && r.Str("code") == "user_not_found"
					if !lockout && !notFound {
						t.Errorf("status %d, body %s; want 400 self_lockout or 404 user_not_found", r.Status, r.Body)
					}
					self, err := b.DB.UserByEmail(context.Background(), f.acmeID, email)
					if err != nil {
						t.Fatal(err)
					}
					if self.Disabled {
						t.Errorf("the admin disabled their own account through id %q", tc.form(id))
					}
				})
			}
		})
	})
}

func TestAdminAudit(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newAdminFixture(t, b)
		ctx := context.Background()

		// Change a setting on each tenant, so that both audit logs contain an admin event.
		checkResponse(t, f.acme(t, f.admin, "PATCH", "/api/v1/admin/settings", map[string]any{"require_2fa": false}), 200, "", "")
		globexPatch := f.onHost(t, f.globexUser, globexHost, "PATCH", "/api/v1/admin/settings", map[string]any{"require_2fa": false}, nil)
		checkResponse(t, globexPatch, 200, "", "")

		items := collectPages(t, 2, func(query string) *apitest.Response {
			return f.acme(t, f.admin, "GET", "/api/v1/admin/audit"+query, nil)
		})

		t.Run("first page", func(t *testing.T) {
			r := f.acme(t, f.admin, "GET", "/api/v1/admin/audit?limit=2", nil)
			checkResponse(t, r, 200, "", "")
			if n := len(listItems(t, r)); n != 2 || r.Str("next_cursor") == "" {
				t.Errorf("first page: %d items, next_cursor %q; want 2 and a cursor", n, r.Str("next_cursor"))
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})

		t.Run("event types", func(t *testing.T) {
			types := map[string]int{}
			for _, item := range items {
				types[item["type"].(string)]++
			}
			for typ, want := range map[string]int{"user.register": 3, "session.login": 3, "settings.updated": 1} {
				if types[typ] != want {
					t.Errorf("%s events = %d, want %d (all: %v)", typ, types[typ], want, types)
				}
			}
		})

		t.Run("only this tenant", func(t *testing.T) {
			listed := map[string]bool{}
			for _, item := range items {
				listed[item["id"].(string)] = true
			}
			acme, err := b.DB.AuditPage(ctx, f.acmeID, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(acme.Items) != len(listed) {
				t.Errorf("API lists %d events, acme's audit log contains %d", len(listed), len(acme.Items))
			}
			globex, err := b.DB.AuditPage(ctx, f.globexID, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(globex.Items) == 0 {
				t.Fatal("globex has no events to compare with")
			}
			for _, e := range globex.Items {
				if listed[e.ID] {
					t.Errorf("globex event %s (%s) is listed on acme", e.ID, e.Type)
				}
			}
		})

		t.Run("rejects", func(t *testing.T) {
			checkResponse(t, f.acme(t, f.admin, "GET", "/api/v1/admin/audit?cursor=bogus", nil), 400, "invalid_cursor", "invalid cursor")
			checkResponse(t, f.acme(t, f.admin, "GET", "/api/v1/admin/audit?limit=0", nil), 400, "invalid_limit", "from 1 to 100")
		})
	})
}

func validUUID(s string) bool { return uuid.Validate(s) == nil }

// otherIDForms are three non-canonical UUID forms that uuid.Validate
// accepts. RFC 9562 section 4 makes UUIDs case-insensitive on input, so
// each form must name the same resource, or none if the API accepts only
// the canonical form.
var otherIDForms = []struct {
	name string
	form func(id string) string
}{
	{"upper case", strings.ToUpper},
	{"no hyphens", func(id string) string { return strings.ReplaceAll(id, "-", "") }},
	{"urn prefix", func(id string) string { return "urn:uuid:" + id }},
}
