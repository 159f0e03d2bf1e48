package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/enlace-auth/enlace/e2e/idpharness"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/tenant"
	"github.com/enlace-auth/enlace/totp"
)

// The OAuth client that Enlace uses at the test provider in TestTwoFactor.
const (
	twoFactorClientID     = "enlace-2fa-e2e"
	twoFactorClientSecret = "enlace-2fa-e2e-client-secret"
)

// The password user of TestTwoFactor, and the provider account with the
// same verified email that links to it.
const (
	twoFactorName     = "Grace Hopper"
	twoFactorEmail    = "grace@example.com"
	twoFactorPassword = "two-factor-password-1"
	twoFactorIdPLogin = "grace"
)

// Fixed texts of the 2FA pages and errors, from web/web.go and
// accounts/twofactor.go.
const (
	twoFactorEnabledNotice     = "Two-factor sign-in is on."
	twoFactorLinkedNotice      = "Your account is now linked to your identity provider."
	twoFactorInvalidCode       = "invalid 2FA code"
	twoFactorInvalidRecovery   = "invalid recovery code"
	twoFactorUnavailableForSSO = "2FA is not available for SSO accounts"
)

// twoFactorRecoveryCodeCount is the number of recovery codes that enrolment
// shows.
const twoFactorRecoveryCodeCount = 10

// twoFactorFlow is one backend's Enlace, provider and browser tab, and what
// the steps of TestTwoFactor learn for the steps after them.
type twoFactorFlow struct {
	base string // http://localhost:<port>, the origin the browser uses
	idp  *idpharness.IdP
	tab  context.Context

	secret        string   // base32 TOTP key from the setup page
	enrolmentCode string   // the TOTP code that turned 2FA on
	recoveryCodes []string // codes from the recovery-codes page
}

// TestTwoFactor turns on TOTP two-factor sign-in in a headless Chromium and
// signs in with a TOTP code and with recovery codes. It then links the
// account to a real OpenID provider (oidc-provider under Node.js) and checks
// that linking removes 2FA and that 2FA cannot be set up again.
func TestTwoFactor(t *testing.T) {
	browserPath := chromiumPath(t)

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartServer(t, b, nil, app.Options{})
		// The browser must use the host name of BASE_URL, because the
		// server compares the Origin of a form with the request's Host.
		base := "http://localhost:" + strconv.Itoa(srv.Port)

		// The provider starts after Enlace because its client's
		// redirect_uri needs Enlace's port.
		idp := idpharness.Start(t, []idpharness.Client{{
			ID:           twoFactorClientID,
			Secret:       twoFactorClientSecret,
			RedirectURIs: []string{base + "/api/v1/auth/oidc/callback"},
		}}, []idpharness.Account{{
			Login:   twoFactorIdPLogin,
			Subject: "sub-" + twoFactorIdPLogin,
			Claims:  map[string]any{"email": twoFactorEmail, "email_verified": true, "name": twoFactorName},
		}})

		ctx := context.Background()
		defaultTenant, err := b.DB.TenantBySlug(ctx, tenant.DefaultSlug)
		if err != nil {
			t.Fatalf("read the default tenant: %v", err)
		}
		err = srv.App.IdP.Set(ctx, defaultTenant.ID, tenant.IdPSettings{
			Enabled:      true,
			IssuerURL:    idp.Issuer,
			ClientID:     twoFactorClientID,
			ClientSecret: twoFactorClientSecret,
			Scopes:       idpharness.Scopes,
		})
		if err != nil {
			t.Fatalf("store the default tenant's identity provider: %v", err)
		}

		// backendTimeout covers the wait of up to 30 seconds for the next
		// TOTP time step in "code sign-in" and the page steps around it.
		f := &twoFactorFlow{base: base, idp: idp, tab: startBrowser(t, browserPath, backendTimeout)}
		stages := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"enrol", f.testEnrol},
			{"code sign-in", f.testCodeSignIn},
			{"recovery code", f.testRecoveryCode},
			{"link SSO", f.testLinkSSO},
		}
		for _, stage := range stages {
			if !t.Run(stage.name, stage.run) {
				t.Fatalf("stopped after %q failed, because each stage starts where the one before it ended", stage.name)
			}
		}
	})
}

// testEnrol registers a password user and turns on 2FA from the security
// settings.
func (f *twoFactorFlow) testEnrol(t *testing.T) {
	f.step(t, "open register", open(f.base+"/register"),
		page{location: "/register", status: http.StatusOK, heading: "Create an account"})
	f.step(t, "register", submit("create-account",
		input{"display_name", twoFactorName}, input{"email", twoFactorEmail}, input{"password", twoFactorPassword}),
		f.securityPage("/settings/security", ""))

	elements := f.elements(t, "enrol-2fa", "twofa-enabled", "twofa-sso-hint")
	if _, ok := elements["enrol-2fa"]; !ok {
		t.Fatal("#enrol-2fa button is missing for a password user without 2FA")
	}
	if _, ok := elements["twofa-enabled"]; ok {
		t.Error("#twofa-enabled is shown before enrolment")
	}
	if _, ok := elements["twofa-sso-hint"]; ok {
		t.Error("#twofa-sso-hint is shown to a user without a linked identity")
	}

	// The setup and recovery-codes pages render without the signed-in
	// user, so their header shows neither the email nor #logout.
	f.step(t, "open setup", submit("enrol-2fa"),
		page{location: "/settings/security/2fa/setup", status: http.StatusOK, heading: "Set up two-factor sign-in", user: twoFactorEmail})

	f.secret = f.elements(t, "totp-secret")["totp-secret"].Text
	if f.secret == "" {
		t.Fatal("#totp-secret is missing or empty on the setup page")
	}
	qr := f.readQRCode(t)
	if !qr.Present {
		t.Error("QR code img.qr is missing on the setup page")
	}
	if !strings.HasPrefix(qr.Src, "data:image/png;base64,") {
		t.Errorf("QR code src starts with %q, want a data:image/png;base64, URL", qr.Src)
	}
	if !qr.Decoded {
		t.Error("QR code image did not decode: its naturalWidth is 0")
	}

	f.enrolmentCode = twoFactorCode(t, f.secret)
	f.step(t, "confirm", submit("confirm", input{"code", f.enrolmentCode}),
		page{location: "/settings/security/2fa/confirm", status: http.StatusOK, heading: "Recovery codes", user: twoFactorEmail})

	f.recoveryCodes = f.readRecoveryCodes(t)
	if len(f.recoveryCodes) != twoFactorRecoveryCodeCount {
		t.Fatalf("recovery-codes page lists %d codes %q, want %d", len(f.recoveryCodes), f.recoveryCodes, twoFactorRecoveryCodeCount)
	}
	seen := make(map[string]bool, len(f.recoveryCodes))
	for i, code := range f.recoveryCodes {
		if code == "" {
			t.Errorf("recovery code %d is empty", i+1)
		}
		if seen[code] {
			t.Errorf("recovery code %d, %q, is listed twice", i+1, code)
		}
		seen[code] = true
	}

	f.step(t, "continue", submit("continue"),
		f.securityPage("/settings/security?notice=2fa-enabled", twoFactorEnabledNotice))
	f.checkTwoFactorEnabled(t)
}

// testCodeSignIn signs out and in again with the password and a TOTP code.
func (f *twoFactorFlow) testCodeSignIn(t *testing.T) {
	f.signOut(t, "sign out")
	f.signInWithPassword(t, "password")

	// The enrolment used its code's time step, so the server rejects that
	// code now. A rejected code leaves the pending sign-in in place.
	f.step(t, "replayed code", submit("verify", input{"code", f.enrolmentCode}),
		twoFactorPage("/login/2fa", http.StatusUnauthorized, twoFactorInvalidCode))

	// The server accepts one code per 30-second time step and account, so
	// a fresh code needs the next step.
	waited, err := twoFactorWaitNextStep(f.tab)
	if err != nil {
		t.Fatalf("wait %v for the next TOTP time step: %v", waited, err)
	}
	t.Logf("waited %v for the next TOTP time step", waited.Round(time.Millisecond))

	code := twoFactorCode(t, f.secret)
	f.step(t, "verify code", submit("verify", input{"code", code}), f.securityPage("/settings/security", ""))
	f.checkTwoFactorEnabled(t)
}

// testRecoveryCode signs in with a recovery code, then checks that the
// same code is rejected the second time.
func (f *twoFactorFlow) testRecoveryCode(t *testing.T) {
	used := f.recoveryCodes[0]

	f.signOut(t, "sign out")
	f.signInWithPassword(t, "password")
	f.step(t, "use code", submit("use-recovery", input{"recovery_code", used}), f.securityPage("/settings/security", ""))

	f.signOut(t, "sign out again")
	f.signInWithPassword(t, "password again")
	f.step(t, "reuse code", submit("use-recovery", input{"recovery_code", used}),
		twoFactorPage("/login/2fa", http.StatusUnauthorized, twoFactorInvalidRecovery))
}

// testLinkSSO signs in with another recovery code, links the provider
// account with the same email from the security settings and checks that
// 2FA is off and cannot be set up.
func (f *twoFactorFlow) testLinkSSO(t *testing.T) {
	f.step(t, "other recovery code", submit("use-recovery", input{"recovery_code", f.recoveryCodes[1]}),
		f.securityPage("/settings/security", ""))

	f.reachProvider(t)
	f.step(t, "sign in at provider", twoFactorSignInAtIdP(twoFactorIdPLogin),
		f.securityPage("/settings/security?notice=linked", twoFactorLinkedNotice))

	elements := f.elements(t, "linked-identity", "twofa-sso-hint", "enrol-2fa", "twofa-enabled")
	wantLinked := "Linked to " + twoFactorEmail + " at " + f.idp.Issuer + "."
	if linked, ok := elements["linked-identity"]; !ok {
		t.Error("#linked-identity is missing after linking")
	} else if linked.Text != wantLinked {
		t.Errorf("#linked-identity text = %q, want %q", linked.Text, wantLinked)
	}
	if hint, ok := elements["twofa-sso-hint"]; !ok {
		t.Error("#twofa-sso-hint is missing for a linked account")
	} else if !hint.Visible {
		t.Error("#twofa-sso-hint is present but not visible")
	}
	if _, ok := elements["enrol-2fa"]; ok {
		t.Error("#enrol-2fa button is shown to a linked account")
	}
	if _, ok := elements["twofa-enabled"]; ok {
		t.Error("#twofa-enabled is shown after linking, which must remove 2FA")
	}

	me := f.fetch(t, http.MethodGet, "/api/v1/me")
	if me.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/me in the browser: status %d, want 200; body %s", me.Status, me.Body)
	}
	var user struct {
		Email       string `json:"email"`
		OIDCLinked  bool   `json:"oidc_linked"`
		TOTPEnabled bool   `json:"totp_enabled"`
	}
	if err := json.Unmarshal([]byte(me.Body), &user); err != nil {
		t.Fatalf("decode the body %s of GET /api/v1/me: %v", me.Body, err)
	}
	if user.Email != twoFactorEmail {
		t.Errorf("GET /api/v1/me email = %q, want %q", user.Email, twoFactorEmail)
	}
	if user.TOTPEnabled {
		t.Error("GET /api/v1/me totp_enabled = true, want false after linking")
	}
	if !user.OIDCLinked {
		t.Error("GET /api/v1/me oidc_linked = false, want true after linking")
	}

	setup := f.fetch(t, http.MethodPost, "/api/v1/me/2fa/setup")
	if setup.Status != http.StatusForbidden {
		t.Errorf("POST /api/v1/me/2fa/setup for a linked account: status %d, want 403; body %s", setup.Status, setup.Body)
	}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal([]byte(setup.Body), &body); err != nil {
		t.Fatalf("decode the body %s of POST /api/v1/me/2fa/setup: %v", setup.Body, err)
	}
	if body.Error != twoFactorUnavailableForSSO {
		t.Errorf("POST /api/v1/me/2fa/setup error = %q, want %q", body.Error, twoFactorUnavailableForSSO)
	}
	if body.Code != "2fa_unavailable" {
		t.Errorf("POST /api/v1/me/2fa/setup code = %q, want %q", body.Code, "2fa_unavailable")
	}
}

// step runs one page step as a subtest named name and stops t when it
// fails, because the next step starts on the page that this one reached.
func (f *twoFactorFlow) step(t *testing.T, name string, do pageAction, want page) {
	t.Helper()
	if !t.Run(name, func(t *testing.T) { runStep(t, f.tab, f.base, do, want) }) {
		t.FailNow()
	}
}

// securityPage is /settings/security of the signed-in user at location,
// with the notice text, or "" for none.
func (f *twoFactorFlow) securityPage(location, notice string) page {
	return page{location: location, status: http.StatusOK, heading: "Security", notice: notice, user: twoFactorEmail}
}

// twoFactorPrompt is where a correct password sends a user with 2FA: the
// prompt, keeping the page the user asked for.
const twoFactorPrompt = "/login/2fa?return_to=%2Fsettings%2Fsecurity"

// twoFactorPage is the 2FA prompt at location with the HTTP status and
// the #error text, or "" for none.
func twoFactorPage(location string, status int64, errorText string) page {
	return page{location: location, status: status, heading: "Two-factor sign-in", error: errorText}
}

// signOut clicks #logout in a step called name and checks the signed-out
// sign-in page.
func (f *twoFactorFlow) signOut(t *testing.T, name string) {
	t.Helper()
	f.step(t, name, submit("logout"),
		page{location: "/login?notice=signed-out", status: http.StatusOK, heading: "Sign in", notice: signedOutNotice})
}

// signInWithPassword submits the password form in a step called name and
// checks that the 2FA prompt follows.
func (f *twoFactorFlow) signInWithPassword(t *testing.T, name string) {
	t.Helper()
	f.step(t, name, submit("sign-in", input{"email", twoFactorEmail}, input{"password", twoFactorPassword}),
		twoFactorPage(twoFactorPrompt, http.StatusOK, ""))
}

// checkTwoFactorEnabled checks the 2FA section of the security page for a
// user with 2FA on.
func (f *twoFactorFlow) checkTwoFactorEnabled(t *testing.T) {
	t.Helper()
	elements := f.elements(t, "twofa-enabled", "enrol-2fa", "regenerate", "disable-2fa")
	if enabled, ok := elements["twofa-enabled"]; !ok {
		t.Error("#twofa-enabled is missing")
	} else if !enabled.Visible {
		t.Error("#twofa-enabled is present but not visible")
	}
	if _, ok := elements["enrol-2fa"]; ok {
		t.Error("#enrol-2fa button is shown while 2FA is on")
	}
	if _, ok := elements["regenerate"]; !ok {
		t.Error("#regenerate button is missing while 2FA is on")
	}
	if _, ok := elements["disable-2fa"]; !ok {
		t.Error("#disable-2fa button is missing while 2FA is on")
	}
}

// reachProvider clicks #link, which must lead the tab to the provider's
// login form.
func (f *twoFactorFlow) reachProvider(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.tab, stepTimeout)
	defer cancel()

	resp, err := submit("link")(ctx)
	if err != nil {
		logPage(t, f.tab)
		t.Fatalf("click #link to go to the provider's login form: %v", err)
	}
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("read the URL: %v", err)
	}
	if want := f.idp.Issuer + "/interaction/"; !strings.HasPrefix(location, want) {
		logPage(t, f.tab)
		t.Fatalf("tab is at %s after clicking #link, want the provider's login form under %s", location, want)
	}
	if resp == nil {
		t.Fatalf("no HTTP response for the provider's login form at %s; want status 200", location)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("provider's login form at %s: status %d, want 200", location, resp.Status)
	}
}

// twoFactorSignInAtIdP fills the provider's login form with login and returns the
// response of the Enlace page that the redirects end on.
func twoFactorSignInAtIdP(login string) pageAction {
	return func(ctx context.Context) (*network.Response, error) {
		return chromedp.RunResponse(ctx, idpharness.SignIn(login))
	}
}

// twoFactorCode returns the TOTP code of secret for the current time.
func twoFactorCode(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatalf("generate a TOTP code from the key %q of #totp-secret: %v", secret, err)
	}
	return code
}

// twoFactorStepMargin is added to the wait for the next TOTP time step, so that
// a small adjustment of the wall clock during the wait cannot leave the
// server in the old step.
const twoFactorStepMargin = 100 * time.Millisecond

// twoFactorWaitNextStep sleeps until the next TOTP time step has begun, at
// most totp.Period plus twoFactorStepMargin, and returns the wait. It
// returns ctx's error when ctx ends first. Steps start at multiples of
// totp.Period since the Unix epoch.
func twoFactorWaitNextStep(ctx context.Context) (time.Duration, error) {
	now := time.Now()
	period := int64(totp.Period / time.Second)
	next := time.Unix((now.Unix()/period+1)*period, 0)
	wait := next.Sub(now) + twoFactorStepMargin

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return wait, nil
	case <-ctx.Done():
		return wait, ctx.Err()
	}
}

// twoFactorElement is the trimmed text of an element and whether it
// takes up space on the page.
type twoFactorElement struct {
	Text    string `json:"text"`
	Visible bool   `json:"visible"`
}

// twoFactorElementsScript returns a twoFactorElement for each id whose
// element exists.
const twoFactorElementsScript = `((ids) => {
	const found = {};
	for (const id of ids) {
		const el = document.getElementById(id);
		if (el) {
			found[id] = {text: el.textContent.trim(), visible: el.getClientRects().length > 0};
		}
	}
	return found;
})(%s)`

// elements returns the elements of the tab's page with the HTML ids. A
// missing element has no entry.
func (f *twoFactorFlow) elements(t *testing.T, ids ...string) map[string]twoFactorElement {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.tab, stepTimeout)
	defer cancel()

	idsJSON, err := json.Marshal(ids)
	if err != nil {
		t.Fatalf("encode ids: %v", err)
	}
	found, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]twoFactorElement](fmt.Sprintf(twoFactorElementsScript, idsJSON)))
	if err != nil {
		t.Fatalf("read the elements %v: %v", ids, err)
	}
	return found
}

// twoFactorQRCode describes the QR code img.qr of the setup page.
type twoFactorQRCode struct {
	Present bool   `json:"present"`
	Src     string `json:"src"`     // the first 40 characters of the src attribute
	Decoded bool   `json:"decoded"` // the image loaded and has a width
}

const twoFactorQRCodeScript = `(() => {
	const img = document.querySelector("img.qr");
	if (!img) {
		return {present: false, src: "", decoded: false};
	}
	return {
		present: true,
		src: (img.getAttribute("src") || "").slice(0, 40),
		decoded: img.complete && img.naturalWidth > 0,
	};
})()`

// readQRCode returns the QR code of the setup page.
func (f *twoFactorFlow) readQRCode(t *testing.T) twoFactorQRCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.tab, stepTimeout)
	defer cancel()

	qr, err := chromedp.Run(ctx, chromedp.Evaluate[twoFactorQRCode](twoFactorQRCodeScript))
	if err != nil {
		t.Fatalf("read the QR code img.qr: %v", err)
	}
	return qr
}

// readRecoveryCodes returns the codes that the recovery-codes page lists.
func (f *twoFactorFlow) readRecoveryCodes(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.tab, stepTimeout)
	defer cancel()

	const script = `Array.from(document.querySelectorAll("#recovery-codes li code"), (el) => el.textContent.trim())`
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](script))
	if err != nil {
		t.Fatalf("read the recovery codes #recovery-codes li code: %v", err)
	}
	return codes
}

// twoFactorFetchResult is the status and body of a request that the page
// sent.
type twoFactorFetchResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// twoFactorFetchScript sends a same-origin request with a JSON body from
// the page and resolves to its status and body text. The browser adds the
// session cookie and Sec-Fetch-Site: same-origin, which passes the
// server's origin check.
const twoFactorFetchScript = `(async (method, path) => {
	const init = {method};
	if (method !== "GET" && method !== "HEAD") {
		init.headers = {"Content-Type": "application/json"};
		init.body = "{}";
	}
	const response = await fetch(path, init);
	return {status: response.status, body: await response.text()};
})(%s, %s)`

// fetch sends method to path from the tab's page, with the body {} unless
// method is GET or HEAD.
func (f *twoFactorFlow) fetch(t *testing.T, method, path string) twoFactorFetchResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.tab, stepTimeout)
	defer cancel()

	methodJSON, _ := json.Marshal(method)
	pathJSON, _ := json.Marshal(path)
	script := fmt.Sprintf(twoFactorFetchScript, methodJSON, pathJSON)
	result, err := chromedp.Run(ctx, chromedp.Evaluate[twoFactorFetchResult](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s %s with fetch in the page: %v", method, path, err)
	}
	return result
}
