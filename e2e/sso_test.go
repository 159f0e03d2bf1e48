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

	"github.com/enlace-auth/enlace/e2e/idpharness"
	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/tenant"
	"github.com/enlace-auth/enlace/totp"
)

// The OAuth client that Enlace uses at the test provider.
const (
	ssoClientID     = "enlace-e2e"
	ssoClientSecret = "enlace-e2e-client-secret"
)

// Fixed texts of the SSO pages and of the errors they show, from web/web.go
// and accounts/sso.go.
const (
	linkedNotice     = "Your account is now linked to your identity provider."
	unlinkedNotice   = "Your account is no longer linked to your identity provider."
	notVerifiedError = "sign-in rejected: your identity provider has not verified your email address"
	noEmailError     = "OIDC provider did not return email"
	unlinkNeedsPass  = "cannot unlink OIDC from account without password"
)

// ssoPassword is the password of every account that a case registers.
const ssoPassword = "correct horse battery"

// verifiedAccount returns a provider account whose ID token carries email
// with email_verified true.
func verifiedAccount(login, email string) idpharness.Account {
	return idpharness.Account{
		Login:   login,
		Subject: "sub-" + login,
		Claims:  map[string]any{"email": email, "email_verified": true, "name": "User " + login},
	}
}

// ssoAccounts are the provider accounts of all cases. Each case signs in
// with its own login, so the cases do not depend on each other's users.
var ssoAccounts = []idpharness.Account{
	verifiedAccount("newcomer", "newcomer@example.com"),
	verifiedAccount("totp-owner", "totp@example.com"),
	{
		Login:   "unverified-existing",
		Subject: "sub-unverified-existing",
		Claims:  map[string]any{"email": "careful@example.com", "email_verified": false},
	},
	{
		Login:   "unverified-new",
		Subject: "sub-unverified-new",
		Claims:  map[string]any{"email": "fresh@example.com", "email_verified": false},
	},
	{
		Login:   "no-email",
		Subject: "sub-no-email",
		Claims:  map[string]any{"name": "Nobody"},
	},
	{
		Login:    "userinfo-email",
		Subject:  "sub-userinfo-email",
		Claims:   map[string]any{"name": "Info Only"},
		Userinfo: map[string]any{"email": "info@example.com", "email_verified": true},
	},
	verifiedAccount("lower-case", "case@example.com"),
	verifiedAccount("linker", "linker@corp.example"),
	verifiedAccount("sso-only", "ssoonly@example.com"),
	verifiedAccount("two-tabs", "tabs@example.com"),
}

// ssoSuite is one backend's Enlace, provider and browser, shared by the
// cases of TestSSO.
type ssoSuite struct {
	base    string // http://localhost:<port>, the origin the browser uses
	apiURL  string // http://127.0.0.1:<port>, for Go API clients
	idp     *idpharness.IdP
	browser context.Context
}

// TestSSO signs in through a real OpenID provider (oidc-provider under
// Node.js) in a headless Chromium and checks which Enlace account each
// provider account reaches.
func TestSSO(t *testing.T) {
	browserPath := chromiumPath(t)

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartServer(t, b, nil, app.Options{})
		base := "http://localhost:" + strconv.Itoa(srv.Port)

		// The provider starts after Enlace because its client's
		// redirect_uri needs Enlace's port. The tenant's stored settings
		// then point Enlace at the provider.
		idp := idpharness.Start(t, []idpharness.Client{{
			ID:           ssoClientID,
			Secret:       ssoClientSecret,
			RedirectURIs: []string{base + "/api/v1/auth/oidc/callback"},
		}}, ssoAccounts)

		ctx := context.Background()
		defaultTenant, err := b.DB.TenantBySlug(ctx, tenant.DefaultSlug)
		if err != nil {
			t.Fatalf("read the default tenant: %v", err)
		}
		err = srv.App.IdP.Set(ctx, defaultTenant.ID, tenant.IdPSettings{
			Enabled:      true,
			IssuerURL:    idp.Issuer,
			ClientID:     ssoClientID,
			ClientSecret: ssoClientSecret,
			Scopes:       idpharness.Scopes,
		})
		if err != nil {
			t.Fatalf("store the default tenant's identity provider: %v", err)
		}

		s := &ssoSuite{
			base:    base,
			apiURL:  srv.URL,
			idp:     idp,
			browser: startBrowser(t, browserPath, backendTimeout),
		}
		t.Run("new user", s.testNewUser)
		t.Run("verified email links", s.testVerifiedEmailLinks)
		t.Run("unverified email rejected", s.testUnverifiedEmailRejected)
		t.Run("unverified new user", s.testUnverifiedNewUser)
		t.Run("no email", s.testNoEmail)
		t.Run("email from userinfo", s.testEmailFromUserinfo)
		t.Run("email case differs", s.testEmailCaseDiffers)
		t.Run("link from settings", s.testLinkFromSettings)
		t.Run("unlink needs password", s.testUnlinkNeedsPassword)
		t.Run("two tabs", s.testTwoTabs)
	})
}

func (s *ssoSuite) testNewUser(t *testing.T) {
	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "newcomer", securityPage("newcomer@example.com"))

	me := s.fetchMe(t, tab)
	if me.Email != "newcomer@example.com" {
		t.Errorf("email = %q, want newcomer@example.com", me.Email)
	}
	if !me.OIDCLinked {
		t.Error("oidc_linked = false, want true for a user that SSO created")
	}
	if me.HasPassword {
		t.Error("has_password = true, want false for a user that SSO created")
	}
}

func (s *ssoSuite) testVerifiedEmailLinks(t *testing.T) {
	const email = "totp@example.com"
	client, id := s.register(t, email)

	setup := s.callAPI(t, client, http.MethodPost, "/api/v1/me/2fa/setup", nil)
	if setup.Status != http.StatusOK {
		t.Fatalf("POST /api/v1/me/2fa/setup: status %d, want 200; body %s", setup.Status, setup.Body)
	}
	code, err := totp.GenerateCode(setup.Str("secret"), time.Now())
	if err != nil {
		t.Fatalf("generate a TOTP code from the secret of the setup response: %v", err)
	}
	confirm := s.callAPI(t, client, http.MethodPost, "/api/v1/me/2fa/confirm", map[string]string{"code": code})
	if confirm.Status != http.StatusOK {
		t.Fatalf("POST /api/v1/me/2fa/confirm: status %d, want 200; body %s", confirm.Status, confirm.Body)
	}
	if before := s.callAPI(t, client, http.MethodGet, "/api/v1/me", nil); before.JSON["totp_enabled"] != true {
		t.Fatalf("before SSO: GET /api/v1/me = %s, want totp_enabled true", before.Body)
	}

	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "totp-owner", securityPage(email))

	me := s.fetchMe(t, tab)
	if me.ID != id {
		t.Errorf("signed in as user %s, want the registered user %s", me.ID, id)
	}
	if !me.OIDCLinked {
		t.Error("oidc_linked = false, want true after SSO with a verified email")
	}
	if me.TOTPEnabled {
		t.Error("totp_enabled = true, want false: linking removes TOTP because the provider owns the sign-in factors")
	}
}

func (s *ssoSuite) testUnverifiedEmailRejected(t *testing.T) {
	const email = "careful@example.com"
	s.register(t, email)

	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "unverified-existing", loginErrorPage(notVerifiedError))
	if status := s.fetchMeStatus(t, tab); status != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/me in the browser: status %d, want 401 after a rejected sign-in", status)
	}

	// The account still works with its password and stays unlinked.
	client := testenv.Client()
	login := s.callAPI(t, client, http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": ssoPassword})
	if login.Status != http.StatusOK {
		t.Fatalf("password login after the rejected SSO: status %d, want 200; body %s", login.Status, login.Body)
	}
	me := s.callAPI(t, client, http.MethodGet, "/api/v1/me", nil)
	if me.JSON["oidc_linked"] != false {
		t.Errorf("GET /api/v1/me = %s, want oidc_linked false", me.Body)
	}
}

func (s *ssoSuite) testUnverifiedNewUser(t *testing.T) {
	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "unverified-new", securityPage("fresh@example.com"))

	me := s.fetchMe(t, tab)
	if me.Email != "fresh@example.com" {
		t.Errorf("email = %q, want fresh@example.com", me.Email)
	}
	if !me.OIDCLinked {
		t.Error("oidc_linked = false, want true")
	}
}

func (s *ssoSuite) testNoEmail(t *testing.T) {
	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "no-email", loginErrorPage(noEmailError))
	if status := s.fetchMeStatus(t, tab); status != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/me in the browser: status %d, want 401 after a rejected sign-in", status)
	}
}

func (s *ssoSuite) testEmailFromUserinfo(t *testing.T) {
	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "userinfo-email", securityPage("info@example.com"))

	me := s.fetchMe(t, tab)
	if me.Email != "info@example.com" {
		t.Errorf("email = %q, want info@example.com from userinfo", me.Email)
	}
	if !me.OIDCLinked {
		t.Error("oidc_linked = false, want true")
	}
}

func (s *ssoSuite) testEmailCaseDiffers(t *testing.T) {
	const stored = "Case@Example.com"
	_, id := s.register(t, stored)

	tab := s.newTab(t)
	// Linking by email keeps the stored spelling of the address.
	s.signInWithSSO(t, tab, "lower-case", securityPage(stored))

	me := s.fetchMe(t, tab)
	if me.ID != id {
		t.Errorf("signed in as user %s, want the user %s registered as %s", me.ID, id, stored)
	}
	if !me.OIDCLinked {
		t.Error("oidc_linked = false, want true")
	}
}

func (s *ssoSuite) testLinkFromSettings(t *testing.T) {
	const email = "owner@example.com"
	s.register(t, email)

	tab := s.newTab(t)
	s.step(t, tab, open(s.base+"/login"), loginPage("/login"))
	s.step(t, tab, submit("sign-in", input{"email", email}, input{"password", ssoPassword}), securityPage(email))
	s.reachProvider(t, tab, submit("link"))
	linked := securityPage(email)
	linked.location = "/settings/security?notice=linked"
	linked.notice = linkedNotice
	s.step(t, tab, signInAtProvider("linker"), linked)

	texts := elementTexts(t, tab, "linked-identity", "unlink")
	want := "Linked to linker@corp.example at " + s.idp.Issuer + "."
	if got, ok := texts["linked-identity"]; !ok {
		t.Error("#linked-identity is missing")
	} else if got != want {
		t.Errorf("#linked-identity text = %q, want %q", got, want)
	}
	if _, ok := texts["unlink"]; !ok {
		t.Error("#unlink button is missing for a user with a password")
	}

	me := s.fetchMe(t, tab)
	if me.Email != email {
		t.Errorf("email = %q, want %q: linking keeps the account's email", me.Email, email)
	}
	if !me.OIDCLinked {
		t.Error("oidc_linked = false, want true after linking")
	}
}

func (s *ssoSuite) testUnlinkNeedsPassword(t *testing.T) {
	const email = "ssoonly@example.com"
	tab := s.newTab(t)
	s.signInWithSSO(t, tab, "sso-only", securityPage(email))

	texts := elementTexts(t, tab, "unlink-hint", "unlink", "current_password", "new_password")
	if _, ok := texts["unlink-hint"]; !ok {
		t.Error("#unlink-hint is missing for a user without a password")
	}
	if _, ok := texts["unlink"]; ok {
		t.Error("#unlink button is shown to a user without a password")
	}
	if _, ok := texts["current_password"]; ok {
		t.Error("#current_password is shown to a user without a password")
	}
	if _, ok := texts["new_password"]; !ok {
		t.Fatal("#new_password is missing, so the password cannot be set")
	}

	unlink := fetchInPage(t, tab, http.MethodDelete, "/api/v1/me/oidc")
	if unlink.Status != http.StatusBadRequest {
		t.Errorf("DELETE /api/v1/me/oidc without a password: status %d, want 400; body %s", unlink.Status, unlink.Body)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(unlink.Body), &body); err != nil {
		t.Errorf("decode the body %s of DELETE /api/v1/me/oidc: %v", unlink.Body, err)
	} else if body.Error != unlinkNeedsPass {
		t.Errorf("DELETE /api/v1/me/oidc error = %q, want %q", body.Error, unlinkNeedsPass)
	}

	saved := securityPage(email)
	saved.location = "/settings/security?notice=password-changed"
	saved.notice = passwordChangedNotice
	s.step(t, tab, submit("change-password", input{"new_password", ssoPassword}), saved)

	texts = elementTexts(t, tab, "unlink-hint", "unlink")
	if _, ok := texts["unlink"]; !ok {
		t.Fatal("#unlink button is missing after the password was set")
	}
	if _, ok := texts["unlink-hint"]; ok {
		t.Error("#unlink-hint is still shown after the password was set")
	}

	unlinked := securityPage(email)
	unlinked.location = "/settings/security?notice=unlinked"
	unlinked.notice = unlinkedNotice
	s.step(t, tab, submit("unlink"), unlinked)

	texts = elementTexts(t, tab, "linked-identity", "link")
	if got, ok := texts["linked-identity"]; ok {
		t.Errorf("#linked-identity still shows %q after unlinking", got)
	}
	if _, ok := texts["link"]; !ok {
		t.Error("#link is missing after unlinking")
	}
	me := s.fetchMe(t, tab)
	if me.OIDCLinked {
		t.Error("oidc_linked = true, want false after unlinking")
	}
	if !me.HasPassword {
		t.Error("has_password = false, want true after setting a password")
	}
}

func (s *ssoSuite) testTwoTabs(t *testing.T) {
	first := s.newTab(t)
	second, cancel := chromedp.NewContext(first)
	t.Cleanup(cancel)
	if err := chromedp.Do(second); err != nil {
		t.Fatalf("open a second tab: %v", err)
	}

	// Both tabs start a sign-in in the same browser, each with its own
	// return path, and only the first finishes it.
	s.step(t, first, open(s.base+"/login?"+returnTo("/settings/security?tab=first")),
		loginPage("/login?"+returnTo("/settings/security?tab=first")))
	s.reachProvider(t, first, submit("sso"))
	s.step(t, second, open(s.base+"/login?"+returnTo("/settings/security?tab=second")),
		loginPage("/login?"+returnTo("/settings/security?tab=second")))
	s.reachProvider(t, second, submit("sso"))

	landed := securityPage("tabs@example.com")
	landed.location = "/settings/security?tab=first"
	s.step(t, first, signInAtProvider("two-tabs"), landed)

	if me := s.fetchMe(t, first); me.Email != "tabs@example.com" {
		t.Errorf("email = %q, want tabs@example.com", me.Email)
	}
}

// newTab opens a tab in a new browser context, which has its own cookies
// for Enlace and the provider, and closes it when t ends.
func (s *ssoSuite) newTab(t *testing.T) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(s.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab in a new browser context: %v", err)
	}
	return tab
}

// step performs do in tab and checks that the tab ends on want, at Enlace.
// A step that fails stops t, because the next step starts on the page that
// this one should have reached.
func (s *ssoSuite) step(t *testing.T, tab context.Context, do pageAction, want page) {
	t.Helper()
	failedBefore := t.Failed()
	runStep(t, tab, s.base, do, want)
	if !failedBefore && t.Failed() {
		t.FailNow()
	}
}

// signInWithSSO clicks #sso on the sign-in page, signs in at the provider
// as login and checks the Enlace page that the browser returns to.
func (s *ssoSuite) signInWithSSO(t *testing.T, tab context.Context, login string, want page) {
	t.Helper()
	s.step(t, tab, open(s.base+"/login"), loginPage("/login"))
	s.reachProvider(t, tab, submit("sso"))
	s.step(t, tab, signInAtProvider(login), want)
}

// reachProvider performs do, which must lead the tab to the provider's
// login form.
func (s *ssoSuite) reachProvider(t *testing.T, tab context.Context, do pageAction) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	resp, err := do(ctx)
	if err != nil {
		logPage(t, tab)
		t.Fatalf("go to the provider's login form: %v", err)
	}
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("read the URL: %v", err)
	}
	if want := s.idp.Issuer + "/interaction/"; !strings.HasPrefix(location, want) {
		logPage(t, tab)
		t.Fatalf("tab is at %s, want the provider's login form under %s", location, want)
	}
	if resp == nil {
		t.Fatalf("no HTTP response for the provider's login form at %s", location)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("provider's login form at %s: status %d, want 200", location, resp.Status)
	}
}

// signInAtProvider fills the provider's login form with login and returns
// the response of the page that the redirects back to Enlace end on.
func signInAtProvider(login string) pageAction {
	return func(ctx context.Context) (*network.Response, error) {
		return chromedp.RunResponse(ctx, idpharness.SignIn(login))
	}
}

// securityPage is /settings/security of the signed-in user email.
func securityPage(email string) page {
	return page{location: "/settings/security", status: http.StatusOK, heading: "Security", user: email}
}

// loginPage is the sign-in page at location, without messages.
func loginPage(location string) page {
	return page{location: location, status: http.StatusOK, heading: "Sign in"}
}

// loginErrorPage is the sign-in page that a failed SSO callback redirects
// to with message.
func loginErrorPage(message string) page {
	return page{location: "/login?error=" + url.QueryEscape(message), status: http.StatusOK, heading: "Sign in", error: message}
}

// returnTo is the query that sets the sign-in page's return path.
func returnTo(path string) string {
	return url.Values{"return_to": {path}}.Encode()
}

// register creates a password account through the API and returns a Go
// client signed in to it, and the user's id.
func (s *ssoSuite) register(t *testing.T, email string) (*http.Client, string) {
	t.Helper()
	client := testenv.Client()
	credentials := map[string]string{"email": email, "password": ssoPassword}

	created := s.callAPI(t, client, http.MethodPost, "/api/v1/auth/register", credentials)
	if created.Status != http.StatusCreated {
		t.Fatalf("register %s: status %d, want 201; body %s", email, created.Status, created.Body)
	}
	login := s.callAPI(t, client, http.MethodPost, "/api/v1/auth/login", credentials)
	if login.Status != http.StatusOK {
		t.Fatalf("password login of %s: status %d, want 200; body %s", email, login.Status, login.Body)
	}
	id := created.Str("id")
	if id == "" {
		t.Fatalf("register %s: response %s has no id", email, created.Body)
	}
	return client, id
}

// callAPI sends a request to Enlace's API from Go.
func (s *ssoSuite) callAPI(t *testing.T, client *http.Client, method, path string, body any) *apitest.Response {
	t.Helper()
	return apitest.Do(t, client, apitest.Request{Method: method, URL: s.apiURL + path, Body: body})
}

// meResponse is the part of GET /api/v1/me that the cases check.
type meResponse struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	HasPassword bool   `json:"has_password"`
	OIDCLinked  bool   `json:"oidc_linked"`
	TOTPEnabled bool   `json:"totp_enabled"`
}

// fetchMe sends GET /api/v1/me from the tab's page, with the browser's
// cookies, and returns the user. It fails t unless the status is 200.
func (s *ssoSuite) fetchMe(t *testing.T, tab context.Context) meResponse {
	t.Helper()
	result := fetchInPage(t, tab, http.MethodGet, "/api/v1/me")
	if result.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/me in the browser: status %d, want 200; body %s", result.Status, result.Body)
	}
	var me meResponse
	if err := json.Unmarshal([]byte(result.Body), &me); err != nil {
		t.Fatalf("decode GET /api/v1/me body %s: %v", result.Body, err)
	}
	return me
}

// fetchMeStatus sends GET /api/v1/me from the tab's page and returns the
// status.
func (s *ssoSuite) fetchMeStatus(t *testing.T, tab context.Context) int {
	t.Helper()
	return fetchInPage(t, tab, http.MethodGet, "/api/v1/me").Status
}

// fetchResult is the status and body of a request that a page sent.
type fetchResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// fetchScript sends a same-origin request from the page with fetch and
// resolves to its status and body text.
const fetchScript = `(async (method, path) => {
	const response = await fetch(path, {method});
	return {status: response.status, body: await response.text()};
})(%s, %s)`

// fetchInPage sends a request from the tab's current page, so it carries
// the browser's cookies and same-origin headers.
func fetchInPage(t *testing.T, tab context.Context, method, path string) fetchResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	methodJSON, _ := json.Marshal(method)
	pathJSON, _ := json.Marshal(path)
	script := fmt.Sprintf(fetchScript, methodJSON, pathJSON)
	result, err := chromedp.Run(ctx, chromedp.Evaluate[fetchResult](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s %s with fetch in the page: %v", method, path, err)
	}
	return result
}

// elementTextsScript returns, for each id whose element exists, the
// element's trimmed text.
const elementTextsScript = `((ids) => {
	const texts = {};
	for (const id of ids) {
		const el = document.getElementById(id);
		if (el) {
			texts[id] = el.textContent.trim();
		}
	}
	return texts;
})(%s)`

// elementTexts returns the trimmed text of each element of the tab's page
// with one of the HTML ids. A missing element has no entry.
func elementTexts(t *testing.T, tab context.Context, ids ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()

	idsJSON, err := json.Marshal(ids)
	if err != nil {
		t.Fatalf("encode ids: %v", err)
	}
	texts, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](fmt.Sprintf(elementTextsScript, idsJSON)))
	if err != nil {
		t.Fatalf("read the elements %v: %v", ids, err)
	}
	return texts
}
