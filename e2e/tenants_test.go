package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/e2e/idpharness"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/tenant"
)

// Fixed texts of the admin page, from web/web.go, web/templates/admin.html
// and api/admin.go.
const (
	adminHeading       = "Organisation settings"
	idpSavedNotice     = "The identity provider settings were saved."
	idpRemovedNotice   = "The identity provider settings were removed. SSO sign-in is off."
	policySavedNotice  = "The sign-in policy was saved."
	noSecretStored     = "No client secret is stored."
	secretStored       = "A client secret is stored. Leave this empty to keep it."
	connectionOK       = "Connection OK"
	notAdminMessage    = "this needs an admin of this organisation"
	wrongTenantMessage = "session was issued for another organisation; sign in on this host"
)

// sharedEmail is the address of the provider account at both providers,
// and of the password account that acme's admin registers.
const sharedEmail = "same@example.com"

// tenantClient returns the OAuth client of tenant slug, served at base, at
// its own provider. The redirect_uri is the tenant's default callback URL.
func tenantClient(slug, base string) idpharness.Client {
	return idpharness.Client{
		ID:           "enlace-" + slug,
		Secret:       "secret-of-" + slug,
		RedirectURIs: []string{base + "/api/v1/auth/oidc/callback"},
	}
}

// TestTenants runs two tenants on one Enlace, each with its own OpenID
// provider, in a headless Chromium. Acme's admin sets up SSO through the
// admin page, globex gets its provider from the Go API, and the same email
// at both providers must give two separate users whose sessions do not
// cross tenants.
func TestTenants(t *testing.T) {
	browserPath := chromiumPath(t)

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartServer(t, b, map[string]string{"MULTI_TENANT": "true", "TENANT_BASE_DOMAIN": "localhost"}, app.Options{})
		ctx := context.Background()
		acmeTenant, err := srv.App.Tenants.Create(ctx, tenant.CreateInput{Slug: "acme", Name: "Acme"})
		if err != nil {
			t.Fatalf("create tenant acme: %v", err)
		}
		globexTenant, err := srv.App.Tenants.Create(ctx, tenant.CreateInput{Slug: "globex", Name: "Globex"})
		if err != nil {
			t.Fatalf("create tenant globex: %v", err)
		}

		// Chromium resolves every *.localhost name to loopback by itself,
		// so the tenants' host names need no resolver flag.
		port := strconv.Itoa(srv.Port)
		acmeBase := "http://acme.localhost:" + port
		globexBase := "http://globex.localhost:" + port

		sharedAccount := []idpharness.Account{verifiedAccount("same", sharedEmail)}
		acmeClient, globexClient := tenantClient("acme", acmeBase), tenantClient("globex", globexBase)
		acmeIdP := idpharness.Start(t, []idpharness.Client{acmeClient}, sharedAccount)
		globexIdP := idpharness.Start(t, []idpharness.Client{globexClient}, sharedAccount)

		browser := startBrowser(t, browserPath, backendTimeout)
		// Each suite's newTab opens its own browser context. Both providers
		// listen on 127.0.0.1, and cookies ignore the port, so tabs of one
		// context would share the providers' session cookies.
		acme := &ssoSuite{base: acmeBase, apiURL: srv.URL, idp: acmeIdP, browser: browser}
		globex := &ssoSuite{base: globexBase, apiURL: srv.URL, idp: globexIdP, browser: browser}

		adminTab := acme.newTab(t)
		var adminID string
		if !t.Run("admin sets up SSO", func(t *testing.T) {
			adminID = acme.testAdminSetsUpSSO(t, adminTab, acmeClient)
		}) {
			t.FailNow()
		}
		t.Run("policy", func(t *testing.T) { acme.testPolicy(t, adminTab) })
		t.Run("audit log", func(t *testing.T) { acme.testAuditLog(t, adminTab, srv, acmeTenant.ID, adminID) })
		if !t.Run("SSO from admin page", func(t *testing.T) { acme.testSSOAfterAdminPage(t, adminTab, adminID) }) {
			t.FailNow()
		}
		t.Run("non-admin", acme.testNonAdmin)

		err = srv.App.IdP.Set(ctx, globexTenant.ID, tenant.IdPSettings{
			Enabled:      true,
			IssuerURL:    globexIdP.Issuer,
			ClientID:     globexClient.ID,
			ClientSecret: globexClient.Secret,
			Scopes:       idpharness.Scopes,
		})
		if err != nil {
			t.Fatalf("store globex's identity provider: %v", err)
		}
		t.Run("same email on globex", func(t *testing.T) { globex.testSameEmailOtherTenant(t, adminID) })
		t.Run("session on wrong tenant", func(t *testing.T) { globex.testSessionOnWrongTenant(t, adminTab, acmeBase) })
		t.Run("remove provider", func(t *testing.T) { acme.testRemoveProvider(t, adminTab) })
	})
}

// testAdminSetsUpSSO registers acme's first user, who becomes its admin,
// and sets up acme's provider on the admin page. It returns the admin's
// user id.
func (s *ssoSuite) testAdminSetsUpSSO(t *testing.T, tab context.Context, client idpharness.Client) string {
	s.step(t, tab, open(s.base+"/admin"), loginPage("/login?return_to=%2Fadmin"))
	s.step(t, tab, open(s.base+"/register"), page{location: "/register", status: http.StatusOK, heading: "Create an account"})
	s.step(t, tab, submit("create-account",
		input{"display_name", "Acme Admin"}, input{"email", sharedEmail}, input{"password", ssoPassword}),
		securityPage(sharedEmail))

	me := fetchTenantMe(t, tab)
	if !me.IsAdmin {
		t.Fatalf("the first user of acme has is_admin false; GET /api/v1/me = %+v", me)
	}
	if _, ok := elementTexts(t, tab, "admin-link")["admin-link"]; !ok {
		t.Fatal("#admin-link is missing on /settings/security for an admin")
	}
	s.step(t, tab, submit("admin-link"), adminPage("/admin", sharedEmail))

	callback := s.base + "/api/v1/auth/oidc/callback"
	fields := fieldStates(t, tab, "issuer_url", "redirect_url", "idp-enabled", "insecure_trust_email")
	if got := fields["redirect_url"].Placeholder; got != callback {
		t.Errorf("#redirect_url placeholder = %q, want the default redirect URL %q", got, callback)
	}
	if !fields["idp-enabled"].Checked {
		t.Error("#idp-enabled is not checked on a tenant without a provider")
	}
	if fields["insecure_trust_email"].Checked {
		t.Error("#insecure_trust_email is checked on a tenant without a provider")
	}
	texts := elementTexts(t, tab, "client-secret-state", "remove-idp", "trust-email-warning")
	if got := texts["client-secret-state"]; got != noSecretStored {
		t.Errorf("#client-secret-state = %q, want %q", got, noSecretStored)
	}
	if _, ok := texts["remove-idp"]; ok {
		t.Error("#remove-idp is shown on a tenant without a provider")
	}
	if !strings.Contains(texts["trust-email-warning"], "Risk:") {
		t.Errorf("#trust-email-warning = %q, want the risk of insecure_trust_email", texts["trust-email-warning"])
	}

	// The discovery document names the issuer without the trailing slash,
	// so Save must reject this issuer and store nothing.
	wrongIssuer := s.idp.Issuer + "/"
	mismatch := fmt.Sprintf("configured issuer is %q but discovery says %q", wrongIssuer, s.idp.Issuer)
	rejected := adminPage("/admin/oidc", sharedEmail)
	rejected.status = http.StatusBadRequest
	rejected.error = mismatch
	s.step(t, tab, fill("save-idp",
		input{"issuer_url", wrongIssuer}, input{"client_id", client.ID}, input{"client_secret", client.Secret}),
		rejected)
	fields = fieldStates(t, tab, "issuer_url", "client_id", "client_secret")
	if got := fields["issuer_url"].Value; got != wrongIssuer {
		t.Errorf("#issuer_url after the rejected save = %q, want the submitted %q", got, wrongIssuer)
	}
	if got := fields["client_secret"].Value; got != "" {
		t.Errorf("#client_secret after the rejected save = %q, want it empty: the page never sends a secret back", got)
	}

	saved := adminPage("/admin?notice=idp-saved", sharedEmail)
	saved.notice = idpSavedNotice
	s.step(t, tab, fill("save-idp",
		input{"issuer_url", s.idp.Issuer}, input{"client_id", client.ID}, input{"client_secret", client.Secret}),
		saved)
	fields = fieldStates(t, tab, "issuer_url", "client_id", "scopes", "idp-enabled")
	if got := fields["issuer_url"].Value; got != s.idp.Issuer {
		t.Errorf("stored #issuer_url = %q, want %q", got, s.idp.Issuer)
	}
	if got := fields["client_id"].Value; got != client.ID {
		t.Errorf("stored #client_id = %q, want %q", got, client.ID)
	}
	if got := fields["scopes"].Value; got != "openid email profile" {
		t.Errorf("stored #scopes = %q, want the default scopes %q", got, "openid email profile")
	}
	if !fields["idp-enabled"].Checked {
		t.Error("stored #idp-enabled is not checked")
	}
	texts = elementTexts(t, tab, "client-secret-state", "remove-idp")
	if got := texts["client-secret-state"]; got != secretStored {
		t.Errorf("#client-secret-state = %q, want %q", got, secretStored)
	}
	if _, ok := texts["remove-idp"]; !ok {
		t.Error("#remove-idp is missing on a tenant with a provider")
	}

	s.step(t, tab, submit("test-idp"), adminPage("/admin/oidc/test", sharedEmail))
	texts = elementTexts(t, tab, "test-result", "test-status")
	if got := texts["test-status"]; got != connectionOK {
		t.Errorf("#test-status = %q, want %q; #test-result = %q", got, connectionOK, texts["test-result"])
	}
	for _, want := range []string{s.idp.Issuer, s.idp.Issuer + "/auth", s.idp.Issuer + "/jwks", "RS256"} {
		if !strings.Contains(texts["test-result"], want) {
			t.Errorf("#test-result = %q, want it to contain %q", texts["test-result"], want)
		}
	}
	checkFitsPhone(t, tab)
	return me.ID
}

// testPolicy saves the sign-in policy form, first with an invalid domain.
func (s *ssoSuite) testPolicy(t *testing.T, tab context.Context) {
	s.step(t, tab, open(s.base+"/admin"), adminPage("/admin", sharedEmail))

	rejected := adminPage("/admin/settings", sharedEmail)
	rejected.status = http.StatusBadRequest
	rejected.error = `allowed email domain "bad_domain!" is not a domain name`
	s.step(t, tab, fill("save-policy", input{"allowed_email_domains", "bad_domain!"}), rejected)
	if got := fieldStates(t, tab, "allowed_email_domains")["allowed_email_domains"].Value; got != "bad_domain!" {
		t.Errorf("#allowed_email_domains after the rejected save = %q, want the submitted value", got)
	}

	saved := adminPage("/admin?notice=policy-saved", sharedEmail)
	saved.notice = policySavedNotice
	s.step(t, tab, fill("save-policy", input{"allowed_email_domains", "Example.COM, example.org"}), saved)
	fields := fieldStates(t, tab, "allowed_email_domains", "registration_enabled", "require_2fa")
	if got, want := fields["allowed_email_domains"].Value, "example.com, example.org"; got != want {
		t.Errorf("stored #allowed_email_domains = %q, want %q", got, want)
	}
	if !fields["registration_enabled"].Checked {
		t.Error("#registration_enabled is not checked after saving it checked")
	}
	if fields["require_2fa"].Checked {
		t.Error("#require_2fa is checked after saving it unchecked")
	}
}

// testAuditLog checks that the admin's changes are listed and pages
// through older events that the test stores directly.
func (s *ssoSuite) testAuditLog(t *testing.T, tab context.Context, srv *testenv.Server, tenantID, adminID string) {
	s.step(t, tab, open(s.base+"/admin"), adminPage("/admin", sharedEmail))
	events := auditRows(t, tab)
	for _, want := range []string{"user.register", "idp.updated", "settings.updated"} {
		found := false
		for _, e := range events {
			if e.Type == want && e.User == adminID {
				found = true
			}
		}
		if !found {
			t.Errorf("#audit lacks a %s event of the admin %s; it lists %+v", want, adminID, events)
		}
	}
	if len(events) > 0 && events[0].IP != "127.0.0.1" {
		t.Errorf("newest event's IP = %q, want 127.0.0.1", events[0].IP)
	}

	// Events older than every real one, so they fill the end of the log.
	const backfilled = 60
	old := make([]audit.Event, backfilled)
	start := time.Now().Add(-time.Hour).UTC()
	for i := range old {
		old[i] = audit.Event{ID: uuid.NewString(), TenantID: tenantID, Type: "test.backfill", IP: "192.0.2.1",
			CreatedAt: start.Add(-time.Duration(i) * time.Second)}
	}
	old[backfilled-1].Type = "test.oldest"
	if err := srv.App.DB.AppendAuditEvents(context.Background(), old); err != nil {
		t.Fatalf("store old audit events: %v", err)
	}

	s.step(t, tab, open(s.base+"/admin"), adminPage("/admin", sharedEmail))
	first := auditRows(t, tab)
	if len(first) != 50 {
		t.Errorf("first audit page lists %d events, want 50", len(first))
	}
	next := attribute(t, tab, "audit-next", "href")
	if !strings.HasPrefix(next, "/admin?audit_cursor=") {
		t.Fatalf("#audit-next href = %q, want /admin?audit_cursor=...", next)
	}
	location, _, _ := strings.Cut(next, "#")
	s.step(t, tab, submit("audit-next"), adminPage(location, sharedEmail))

	second := auditRows(t, tab)
	if len(second) == 0 || len(second) >= 50 {
		t.Errorf("second audit page lists %d events, want 1 to 49", len(second))
	}
	if len(second) > 0 && second[len(second)-1].Type != "test.oldest" {
		t.Errorf("last event of the second page = %+v, want the oldest event", second[len(second)-1])
	}
	for _, e := range first {
		if e.Type == "test.oldest" {
			t.Error("the first audit page lists the oldest event")
		}
	}
	texts := elementTexts(t, tab, "audit-next", "audit-newest")
	if _, ok := texts["audit-next"]; ok {
		t.Error("#audit-next is shown on the last audit page")
	}
	if _, ok := texts["audit-newest"]; !ok {
		t.Error("#audit-newest is missing on the second audit page")
	}
}

// testSSOAfterAdminPage signs out and signs in through the provider that
// the admin page stored. The verified email links the admin's account.
func (s *ssoSuite) testSSOAfterAdminPage(t *testing.T, tab context.Context, adminID string) {
	s.step(t, tab, submit("logout"), page{location: "/login?notice=signed-out", status: http.StatusOK, heading: "Sign in", notice: signedOutNotice})
	s.reachProvider(t, tab, submit("sso"))
	s.step(t, tab, signInAtProvider("same"), securityPage(sharedEmail))

	me := fetchTenantMe(t, tab)
	if me.ID != adminID {
		t.Errorf("SSO signed in as user %s, want acme's admin %s", me.ID, adminID)
	}
	if me.Tenant != "acme" {
		t.Errorf("tenant = %q, want acme", me.Tenant)
	}
	if !me.OIDCLinked {
		t.Error("oidc_linked = false, want true after SSO with a verified email")
	}
}

// testNonAdmin registers a second acme user, who is no admin.
func (s *ssoSuite) testNonAdmin(t *testing.T) {
	const email = "member@example.org"
	tab := s.newTab(t)
	s.step(t, tab, open(s.base+"/register"), page{location: "/register", status: http.StatusOK, heading: "Create an account"})
	s.step(t, tab, submit("create-account", input{"email", email}, input{"password", ssoPassword}), securityPage(email))
	if _, ok := elementTexts(t, tab, "admin-link")["admin-link"]; ok {
		t.Error("#admin-link is shown to a user who is not an admin")
	}

	s.step(t, tab, open(s.base+"/admin"), page{location: "/admin", status: http.StatusForbidden, heading: "Forbidden", user: email})
	if _, texts, err := readPage(tab); err != nil {
		t.Error(err)
	} else if !strings.Contains(texts.Body, notAdminMessage) {
		t.Errorf("403 page text = %q, want it to contain %q", texts.Body, notAdminMessage)
	}

	// The forms check the admin flag too, not only the page.
	for _, path := range []string{"/admin/oidc", "/admin/oidc/test", "/admin/oidc/delete", "/admin/settings"} {
		if got := fetchInPage(t, tab, http.MethodPost, path).Status; got != http.StatusForbidden {
			t.Errorf("POST %s as a user who is not an admin: status %d, want 403", path, got)
		}
	}
}

// testSameEmailOtherTenant signs in on globex through its own provider
// with the email of acme's admin, which must create a separate user.
func (s *ssoSuite) testSameEmailOtherTenant(t *testing.T, acmeAdminID string) {
	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "same", securityPage(sharedEmail))

	me := fetchTenantMe(t, tab)
	if me.ID == acmeAdminID {
		t.Errorf("globex's SSO user has acme's user id %s, want a separate user", me.ID)
	}
	if me.Tenant != "globex" {
		t.Errorf("tenant = %q, want globex", me.Tenant)
	}
	if me.Email != sharedEmail {
		t.Errorf("email = %q, want %q", me.Email, sharedEmail)
	}
	if !me.IsAdmin {
		t.Error("is_admin = false, want true for globex's first user")
	}
}

// testSessionOnWrongTenant copies acme's session cookie to globex's host
// in a fresh browser context.
func (s *ssoSuite) testSessionOnWrongTenant(t *testing.T, acmeTab context.Context, acmeBase string) {
	token := sessionCookieValue(t, acmeTab, acmeBase)

	tab := s.newTab(t)
	s.step(t, tab, open(s.base+"/login"), loginPage("/login"))
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: api.SessionCookie, Value: token, URL: s.base + "/", Path: "/", HTTPOnly: new(true),
		SameSite: network.CookieSameSiteLax,
	})
	if err != nil {
		t.Fatalf("set acme's session cookie on %s: %v", s.base, err)
	}

	s.step(t, tab, open(s.base+"/settings/security"),
		page{location: "/login?return_to=%2Fsettings%2Fsecurity&error=" + url.QueryEscape(wrongTenantMessage),
			status: http.StatusOK, heading: "Sign in", error: wrongTenantMessage})

	result := fetchInPage(t, tab, http.MethodGet, "/api/v1/me")
	var body struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal([]byte(result.Body), &body); err != nil {
		t.Fatalf("decode the body %s of GET /api/v1/me: %v", result.Body, err)
	}
	if result.Status != http.StatusUnauthorized || body.Code != "session_wrong_tenant" {
		t.Errorf("GET /api/v1/me on globex with acme's cookie: status %d, body %s; want 401 session_wrong_tenant", result.Status, result.Body)
	}

	// The cookie is a working session on acme, so the 401 comes from the
	// tenant check and not from a stale token.
	if me := fetchTenantMe(t, acmeTab); me.Tenant != "acme" {
		t.Errorf("acme's session after its use on globex: tenant = %q, want acme", me.Tenant)
	}
}

// testRemoveProvider removes acme's provider on the admin page, which
// takes "Sign in with SSO" off the sign-in page.
func (s *ssoSuite) testRemoveProvider(t *testing.T, tab context.Context) {
	s.step(t, tab, open(s.base+"/admin"), adminPage("/admin", sharedEmail))
	removed := adminPage("/admin?notice=idp-removed", sharedEmail)
	removed.notice = idpRemovedNotice
	s.step(t, tab, submit("remove-idp"), removed)

	texts := elementTexts(t, tab, "remove-idp", "client-secret-state")
	if _, ok := texts["remove-idp"]; ok {
		t.Error("#remove-idp is still shown after the provider was removed")
	}
	if got := texts["client-secret-state"]; got != noSecretStored {
		t.Errorf("#client-secret-state = %q, want %q", got, noSecretStored)
	}
	if got := fieldStates(t, tab, "issuer_url")["issuer_url"].Value; got != "" {
		t.Errorf("#issuer_url = %q after the provider was removed, want it empty", got)
	}

	signIn := s.newTab(t)
	s.step(t, signIn, open(s.base+"/login"), loginPage("/login"))
	if _, ok := elementTexts(t, signIn, "sso")["sso"]; ok {
		t.Error("#sso is still on acme's sign-in page after the provider was removed")
	}
}

// adminPage is the admin page at location of the signed-in user email.
func adminPage(location, email string) page {
	return page{location: location, status: http.StatusOK, heading: adminHeading, user: email}
}

// fill sets the fields to the values, replacing their current values,
// clicks the button with the HTML id button and waits until the page it leads to
// has loaded.
func fill(button string, fields ...input) pageAction {
	return func(ctx context.Context) (*network.Response, error) {
		var actions []chromedp.Action[chromedp.Void]
		for _, f := range fields {
			actions = append(actions, chromedp.SetValue(chromedp.ID(f.id), f.value))
		}
		actions = append(actions, chromedp.Click(chromedp.ID(button)))
		return chromedp.RunResponse(ctx, actions...)
	}
}

// tenantMe is the part of GET /api/v1/me that TestTenants checks.
type tenantMe struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	Tenant     string `json:"tenant"`
	IsAdmin    bool   `json:"is_admin"`
	OIDCLinked bool   `json:"oidc_linked"`
}

// fetchTenantMe sends GET /api/v1/me from the tab's page and returns the
// user. It fails t unless the status is 200.
func fetchTenantMe(t *testing.T, tab context.Context) tenantMe {
	t.Helper()
	result := fetchInPage(t, tab, http.MethodGet, "/api/v1/me")
	if result.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/me in the browser: status %d, want 200; body %s", result.Status, result.Body)
	}
	var me tenantMe
	if err := json.Unmarshal([]byte(result.Body), &me); err != nil {
		t.Fatalf("decode GET /api/v1/me body %s: %v", result.Body, err)
	}
	return me
}

// fieldState is the state of a form field.
type fieldState struct {
	Value       string `json:"value"`
	Checked     bool   `json:"checked"`
	Placeholder string `json:"placeholder"`
}

const fieldStatesScript = `((ids) => {
	const fields = {};
	for (const id of ids) {
		const el = document.getElementById(id);
		if (el) {
			fields[id] = {value: el.value, checked: !!el.checked, placeholder: el.placeholder || ""};
		}
	}
	return fields;
})(%s)`

// fieldStates returns the state of each form field with one of the HTML
// ids. It fails t when one is missing.
func fieldStates(t *testing.T, tab context.Context, ids ...string) map[string]fieldState {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	idsJSON, _ := json.Marshal(ids)
	fields, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]fieldState](fmt.Sprintf(fieldStatesScript, idsJSON)))
	if err != nil {
		t.Fatalf("read the fields %v: %v", ids, err)
	}
	for _, id := range ids {
		if _, ok := fields[id]; !ok {
			t.Fatalf("form field #%s is missing", id)
		}
	}
	return fields
}

// attribute returns an attribute of the element with the HTML id, or ""
// when the element or the attribute is missing.
func attribute(t *testing.T, tab context.Context, id, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	idJSON, _ := json.Marshal(id)
	nameJSON, _ := json.Marshal(name)
	script := fmt.Sprintf(`(() => { const el = document.getElementById(%s); return el ? (el.getAttribute(%s) || "") : ""; })()`, idJSON, nameJSON)
	value, err := chromedp.Run(ctx, chromedp.Evaluate[string](script))
	if err != nil {
		t.Fatalf("read the attribute %s of #%s: %v", name, id, err)
	}
	return value
}

// auditRow is one event of the admin page's audit log.
type auditRow struct {
	Type string `json:"type"`
	User string `json:"user"`
	IP   string `json:"ip"`
}

const auditRowsScript = `Array.from(document.querySelectorAll("#audit .events li")).map((li) => {
	const text = (selector) => {
		const el = li.querySelector(selector);
		return el ? el.textContent.trim() : "";
	};
	return {type: text(".event-type"), user: text(".event-user"), ip: text(".event-ip")};
})`

// auditRows returns the events that the tab's admin page lists, newest first.
func auditRows(t *testing.T, tab context.Context) []auditRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]auditRow](auditRowsScript))
	if err != nil {
		t.Fatalf("read the audit log: %v", err)
	}
	return rows
}

// checkFitsPhone lays the tab's page out 360 CSS pixels wide, the width of
// a small phone, and fails t when the page is wider than that.
func checkFitsPhone(t *testing.T, tab context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	const width = 360
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 740)); err != nil {
		t.Fatalf("emulate a phone's viewport: %v", err)
	}
	scrollWidth, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatalf("read the page width: %v", err)
	}
	if scrollWidth > width {
		t.Errorf("page is %d CSS pixels wide in a %d pixel viewport, so a phone scrolls it sideways", scrollWidth, width)
	}
}

// sessionCookieValue returns the value of the session cookie that the
// tab's browser context stores for base.
func sessionCookieValue(t *testing.T, tab context.Context, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatalf("read the cookies of %s: %v", base, err)
	}
	for _, c := range res.Cookies {
		if c.Name == api.SessionCookie {
			return c.Value
		}
	}
	t.Fatalf("the browser has no %s cookie for %s", api.SessionCookie, base)
	return ""
}
