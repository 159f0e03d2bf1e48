package idpharness_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/enlace-auth/enlace/e2e/idpharness"
	"github.com/enlace-auth/enlace/internal/browsertest"
	"github.com/enlace-auth/enlace/internal/testenv"
)

const (
	testClientID     = "enlace-e2e"
	testClientSecret = "e2e-client-secret"
)

// Two accounts: alice's email claims go into the ID token, bob's only into
// the userinfo response.
var (
	alice = idpharness.Account{
		Login:   "alice",
		Subject: "alice-subject-1",
		Claims: map[string]any{
			"email":          "alice@example.test",
			"email_verified": true,
			"name":           "Alice Example",
		},
	}
	bob = idpharness.Account{
		Login:   "bob",
		Subject: "bob-subject-2",
		Claims:  map[string]any{"name": "Bob Example"},
		Userinfo: map[string]any{
			"email":          "bob@example.test",
			"email_verified": true,
		},
	}
)

func TestAuthorizationCodeFlowInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	rp := startRelyingParty(t)
	idp := idpharness.Start(t,
		[]idpharness.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{rp.callbackURL}}},
		[]idpharness.Account{alice, bob})
	rp.discover(t, idp.Issuer)

	t.Run("email in ID token", func(t *testing.T) {
		result := rp.signIn(t, startBrowser(t, chromium, time.Minute), alice.Login)
		if result.err != "" {
			t.Fatalf("callback error %s: %s", result.err, result.errDescription)
		}

		if got := result.idToken.Subject; got != alice.Subject {
			t.Errorf("ID token sub = %q, want %q", got, alice.Subject)
		}
		if got := result.idTokenClaims["email"]; got != "alice@example.test" {
			t.Errorf("ID token email = %v, want alice@example.test", got)
		}
		if got := result.idTokenClaims["email_verified"]; got != true {
			t.Errorf("ID token email_verified = %v, want true", got)
		}
		if got := result.idTokenClaims["name"]; got != "Alice Example" {
			t.Errorf("ID token name = %v, want Alice Example", got)
		}
		if got := result.userinfo["sub"]; got != alice.Subject {
			t.Errorf("userinfo sub = %v, want %q", got, alice.Subject)
		}
		if got := result.userinfo["email"]; got != "alice@example.test" {
			t.Errorf("userinfo email = %v, want alice@example.test", got)
		}
		if got := result.issParam; got != idp.Issuer {
			t.Errorf("callback iss = %q, want %q", got, idp.Issuer)
		}
	})

	t.Run("email only in userinfo", func(t *testing.T) {
		result := rp.signIn(t, startBrowser(t, chromium, time.Minute), bob.Login)
		if result.err != "" {
			t.Fatalf("callback error %s: %s", result.err, result.errDescription)
		}

		if got := result.idToken.Subject; got != bob.Subject {
			t.Errorf("ID token sub = %q, want %q", got, bob.Subject)
		}
		if got, ok := result.idTokenClaims["email"]; ok {
			t.Errorf("ID token has email %v, want none", got)
		}
		if got, ok := result.idTokenClaims["email_verified"]; ok {
			t.Errorf("ID token has email_verified %v, want none", got)
		}
		if got := result.idTokenClaims["name"]; got != "Bob Example" {
			t.Errorf("ID token name = %v, want Bob Example", got)
		}
		if got := result.userinfo["sub"]; got != bob.Subject {
			t.Errorf("userinfo sub = %v, want %q", got, bob.Subject)
		}
		if got := result.userinfo["email"]; got != "bob@example.test" {
			t.Errorf("userinfo email = %v, want bob@example.test", got)
		}
		if got := result.userinfo["email_verified"]; got != true {
			t.Errorf("userinfo email_verified = %v, want true", got)
		}
	})

	t.Run("unknown login rejected", func(t *testing.T) {
		result := rp.signIn(t, startBrowser(t, chromium, time.Minute), "mallory")
		if result.err != "access_denied" {
			t.Fatalf("callback error = %q, want access_denied", result.err)
		}
		if !strings.Contains(result.errDescription, "mallory") {
			t.Errorf("error_description = %q, want it to name the login mallory", result.errDescription)
		}
	})
}

func TestLoginPageLoadsNothingExternal(t *testing.T) {
	idp := idpharness.Start(t,
		[]idpharness.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{"http://127.0.0.1:1/callback"}}},
		[]idpharness.Account{alice})
	cfg := oauth2.Config{
		ClientID:    testClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: idp.Issuer + "/auth"},
		RedirectURL: "http://127.0.0.1:1/callback",
		Scopes:      idpharness.Scopes,
	}
	authURL := cfg.AuthCodeURL("state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	// The default client follows the redirect to the login form and keeps
	// the interaction cookie it needs in a jar.
	client := testenv.Client()
	client.CheckRedirect = nil
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorization endpoint: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read login page: %v", err)
	}
	body := string(data)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page status = %d, want 200\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`name="login"`, `name="password"`, `class="login login-submit"`} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %s\n%s", want, body)
		}
	}
	if strings.Contains(body, "https://") {
		t.Errorf("login page refers to an outside URL\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'self'", csp)
	}
}

func TestAuthorizationWithoutPKCERejected(t *testing.T) {
	const redirectURI = "http://127.0.0.1:1/callback"
	idp := idpharness.Start(t,
		[]idpharness.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{redirectURI}}},
		[]idpharness.Account{alice})
	cfg := oauth2.Config{
		ClientID:    testClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: idp.Issuer + "/auth"},
		RedirectURL: redirectURI,
		Scopes:      idpharness.Scopes,
	}

	resp, err := testenv.Client().Get(cfg.AuthCodeURL("state"))
	if err != nil {
		t.Fatalf("GET authorization endpoint: %v", err)
	}
	resp.Body.Close()

	location, err := resp.Location()
	if err != nil {
		t.Fatalf("authorization response status %d has no redirect: %v", resp.StatusCode, err)
	}
	if got := location.Scheme + "://" + location.Host + location.Path; got != redirectURI {
		t.Errorf("redirect to %s, want %s", got, redirectURI)
	}
	if got := location.Query().Get("error"); got != "invalid_request" {
		t.Errorf("error = %q, want invalid_request", got)
	}
	if got := location.Query().Get("error_description"); !strings.Contains(got, "PKCE") {
		t.Errorf("error_description = %q, want it to mention PKCE", got)
	}
}

func TestStartProcessStops(t *testing.T) {
	if _, _, err := idpharness.Locate(); err != nil {
		testenv.Skip(t, "%v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	process, err := idpharness.StartProcess(ctx,
		[]idpharness.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{"http://127.0.0.1:1/callback"}}},
		[]idpharness.Account{alice}, idpharness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(process.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("GET discovery document: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("discovery status = %d, want 200", resp.StatusCode)
	}

	if err := process.Stop(); err != nil {
		t.Fatalf("Stop: %v\n%s", err, process.Output())
	}
	select {
	case <-process.Exited():
	default:
		t.Fatal("process still running after Stop")
	}
	if _, err := http.Get(process.Issuer + "/.well-known/openid-configuration"); err == nil {
		t.Errorf("provider still accepts connections at %s after Stop", process.Issuer)
	}
}

func TestStartProcessStopsWithContext(t *testing.T) {
	if _, _, err := idpharness.Locate(); err != nil {
		testenv.Skip(t, "%v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	process, err := idpharness.StartProcess(ctx,
		[]idpharness.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{"http://127.0.0.1:1/callback"}}},
		[]idpharness.Account{alice}, idpharness.Options{})
	if err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case <-process.Exited():
	case <-time.After(10 * time.Second):
		process.Stop()
		t.Fatalf("process still running 10s after its context ended\n%s", process.Output())
	}
	if err := process.Stop(); err != nil {
		t.Errorf("Stop after the context ended: %v", err)
	}
	if !strings.Contains(process.Output(), "stopping: SIGTERM") {
		t.Errorf("output lacks the SIGTERM stop message:\n%s", process.Output())
	}
}

func TestStartProcessRejectsInvalidConfig(t *testing.T) {
	cases := []struct {
		name     string
		clients  []idpharness.Client
		accounts []idpharness.Account
		want     string
	}{
		{"no clients", nil, []idpharness.Account{alice}, "no clients"},
		{"client without secret", []idpharness.Client{{ID: "c", RedirectURIs: []string{"http://127.0.0.1:1/"}}}, nil, "required"},
		{"unknown auth method",
			[]idpharness.Client{{ID: "c", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:1/"}, TokenEndpointAuthMethod: "none"}},
			nil, "TokenEndpointAuthMethod"},
		{"duplicate login",
			[]idpharness.Client{{ID: "c", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:1/"}}},
			[]idpharness.Account{alice, {Login: "alice", Subject: "other"}}, "duplicate Login"},
		{"shared subject",
			[]idpharness.Client{{ID: "c", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:1/"}}},
			[]idpharness.Account{alice, {Login: "alice2", Subject: alice.Subject}}, "also the Subject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// StartProcess rejects the config before it runs anything, so
			// a temporary Dir and a fixed Port keep it from looking further.
			process, err := idpharness.StartProcess(context.Background(), tc.clients, tc.accounts,
				idpharness.Options{Dir: t.TempDir(), Port: 1})
			if err == nil {
				process.Stop()
				t.Fatal("StartProcess succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// callbackResult is what the relying party's callback saw and fetched.
type callbackResult struct {
	err            string
	errDescription string
	issParam       string
	idToken        *oidc.IDToken
	idTokenClaims  map[string]any
	userinfo       map[string]any
}

// pendingLogin is one authorization request that waits for its callback.
type pendingLogin struct {
	verifier string
	nonce    string
	done     chan callbackResult
}

// relyingParty is a minimal OpenID client: it sends the browser to the
// provider with PKCE and a nonce, and at its callback exchanges the code,
// verifies the ID token and fetches userinfo.
type relyingParty struct {
	server      *httptest.Server
	callbackURL string

	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config

	mu      sync.Mutex
	pending map[string]*pendingLogin
}

func startRelyingParty(t *testing.T) *relyingParty {
	t.Helper()
	rp := &relyingParty{pending: make(map[string]*pendingLogin)}
	rp.server = httptest.NewServer(http.HandlerFunc(rp.handleCallback))
	t.Cleanup(rp.server.Close)
	rp.callbackURL = rp.server.URL + "/callback"
	return rp
}

// discover reads the provider's discovery document and sets up the client.
func (rp *relyingParty) discover(t *testing.T, issuer string) {
	t.Helper()
	provider, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("OpenID discovery at %s: %v", issuer, err)
	}
	rp.provider = provider
	rp.verifier = provider.Verifier(&oidc.Config{ClientID: testClientID})
	rp.oauth = oauth2.Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  rp.callbackURL,
		Scopes:       idpharness.Scopes,
	}
	rp.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
}

// signIn starts an authorization request in the browser tab ctx, fills the
// login form with login and returns what the callback saw.
func (rp *relyingParty) signIn(t *testing.T, ctx context.Context, login string) callbackResult {
	t.Helper()
	state, nonce := randomString(t), randomString(t)
	pending := &pendingLogin{verifier: oauth2.GenerateVerifier(), nonce: nonce, done: make(chan callbackResult, 1)}
	rp.mu.Lock()
	rp.pending[state] = pending
	rp.mu.Unlock()

	authURL := rp.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pending.verifier))
	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		idpharness.SignIn(login),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	if err != nil {
		location, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("sign in as %s in the browser: %v (page %s)", login, err, location)
	}

	select {
	case result := <-pending.done:
		return result
	case <-ctx.Done():
		t.Fatalf("no callback result for %s: %v", login, ctx.Err())
		return callbackResult{}
	}
}

// handleCallback finishes one authorization request and shows its outcome
// in an element with id "outcome" for the browser to wait for.
func (rp *relyingParty) handleCallback(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/callback" {
		http.NotFound(w, r)
		return
	}
	query := r.URL.Query()
	rp.mu.Lock()
	pending := rp.pending[query.Get("state")]
	delete(rp.pending, query.Get("state"))
	rp.mu.Unlock()
	if pending == nil {
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}

	result, err := rp.finish(r.Context(), query, pending)
	if err != nil {
		result.err = "relying_party_error"
		result.errDescription = err.Error()
	}
	pending.done <- result

	outcome := "signed in"
	if result.err != "" {
		outcome = result.err + ": " + result.errDescription
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!DOCTYPE html><title>callback</title><p id=\"outcome\">%s</p>\n", html.EscapeString(outcome))
}

func (rp *relyingParty) finish(ctx context.Context, query url.Values, pending *pendingLogin) (callbackResult, error) {
	result := callbackResult{
		err:            query.Get("error"),
		errDescription: query.Get("error_description"),
		issParam:       query.Get("iss"),
	}
	if result.err != "" {
		return result, nil
	}

	token, err := rp.oauth.Exchange(ctx, query.Get("code"), oauth2.VerifierOption(pending.verifier))
	if err != nil {
		return result, fmt.Errorf("exchange code: %w", err)
	}
	rawIDToken, ok := token.Extra("id_token").(string)
	if !ok {
		return result, fmt.Errorf("token response has no id_token")
	}
	idToken, err := rp.verifier.Verify(ctx, rawIDToken)
	if err != nil {
		return result, fmt.Errorf("verify ID token: %w", err)
	}
	if idToken.Nonce != pending.nonce {
		return result, fmt.Errorf("ID token nonce = %q, want %q", idToken.Nonce, pending.nonce)
	}
	result.idToken = idToken
	if err := idToken.Claims(&result.idTokenClaims); err != nil {
		return result, fmt.Errorf("decode ID token claims: %w", err)
	}

	userinfo, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(token))
	if err != nil {
		return result, fmt.Errorf("fetch userinfo: %w", err)
	}
	if err := userinfo.Claims(&result.userinfo); err != nil {
		return result, fmt.Errorf("decode userinfo claims: %w", err)
	}
	return result, nil
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// chromiumPath returns the browser to drive, or skips t when it is missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	return browsertest.ChromiumPath(t)
}

// startBrowser starts a headless Chromium; see browsertest.Start.
func startBrowser(t *testing.T, path string, timeout time.Duration) context.Context {
	t.Helper()
	return browsertest.Start(t, path, timeout)
}

func TestStartProcessRetriesStalledStart(t *testing.T) {
	t.Parallel()
	node, dir, err := idpharness.Locate()
	if err != nil {
		testenv.Skip(t, "%v", err)
	}

	// A stand-in for Node.js that hangs on its first run, as a provider
	// stalled before it listens would, and runs the real one after that.
	marker := filepath.Join(t.TempDir(), "first-run-done")
	script := filepath.Join(t.TempDir(), "node")
	body := fmt.Sprintf("#!/bin/sh\nif [ ! -e %q ]; then : > %q; exec sleep 60; fi\nexec %q \"$@\"\n", marker, marker, node)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}

	process, err := idpharness.StartProcess(context.Background(),
		[]idpharness.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{"http://127.0.0.1:1/callback"}}},
		[]idpharness.Account{alice}, idpharness.Options{Dir: dir, Node: script, StartTimeout: 8 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer process.Stop()

	// A loaded machine may stall the real provider too, so a second
	// retry is allowed; the first one must be the stand-in's.
	if len(process.Retries) == 0 {
		t.Fatal("Retries is empty, want the stalled first try")
	}
	if !errors.Is(process.Retries[0], idpharness.ErrNotReady) {
		t.Errorf("Retries[0] = %v, want ErrNotReady", process.Retries[0])
	}
	if !strings.Contains(process.Retries[0].Error(), "try 1 of 3") {
		t.Errorf("Retries[0] = %q, want it to name try 1 of 3", process.Retries[0])
	}
	resp, err := http.Get(process.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("GET discovery document after the retry: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("discovery status = %d, want 200", resp.StatusCode)
	}
}

func TestStartProcessGivesUpAfterThreeStalls(t *testing.T) {
	t.Parallel()
	_, dir, err := idpharness.Locate()
	if err != nil {
		testenv.Skip(t, "%v", err)
	}

	script := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	process, err := idpharness.StartProcess(context.Background(),
		[]idpharness.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{"http://127.0.0.1:1/callback"}}},
		[]idpharness.Account{alice}, idpharness.Options{Dir: dir, Node: script, StartTimeout: time.Second})
	if err == nil {
		process.Stop()
		t.Fatal("StartProcess succeeded, want an error")
	}

	if !errors.Is(err, idpharness.ErrNotReady) {
		t.Errorf("error = %v, want ErrNotReady", err)
	}
	for _, want := range []string{"try 1 of 3", "try 3 of 3", "state "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}
	if elapsed := time.Since(begin); elapsed > 30*time.Second {
		t.Errorf("StartProcess took %v, want about 3 tries of 1s", elapsed)
	}
	t.Logf("error after three stalled tries: %v", err)
}
