package oidctest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// testRedirectURI is the relying party's callback. The tests never request
// it: Authorize returns the Location instead of following it.
const testRedirectURI = "http://127.0.0.1:9/callback"

// relyingParty is a minimal relying party built from go-oidc and oauth2, as
// Enlace's will be.
type relyingParty struct {
	ctx      context.Context
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRelyingParty(t *testing.T, p *Provider) *relyingParty {
	t.Helper()

	ctx := oidc.ClientContext(context.Background(), p.Client())
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.Client())
	provider, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider(%s): %v", p.Issuer, err)
	}
	return &relyingParty{
		ctx:      ctx,
		provider: provider,
		config: oauth2.Config{
			ClientID:     p.ClientID,
			ClientSecret: p.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  testRedirectURI,
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: p.ClientID}),
	}
}

// flow is one authorization code flow up to the token response.
type flow struct {
	state    string
	nonce    string
	verifier string
	callback *url.URL
	token    *oauth2.Token
	rawID    string
}

// startFlow runs the browser hop through /authorize and checks the state in
// the callback.
func startFlow(t *testing.T, p *Provider, rp *relyingParty) *flow {
	t.Helper()

	f := &flow{
		state:    oauth2.GenerateVerifier(),
		nonce:    oauth2.GenerateVerifier(),
		verifier: oauth2.GenerateVerifier(),
	}
	authURL := rp.config.AuthCodeURL(f.state, oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier))
	location := p.Authorize(t, nil, authURL)

	callback, err := url.Parse(location)
	if err != nil {
		t.Fatalf("callback URL %q: %v", location, err)
	}
	if got := callback.Query().Get("state"); got != f.state {
		t.Fatalf("callback state = %q, expected %q", got, f.state)
	}
	f.callback = callback
	return f
}

// exchange redeems the callback's code. It returns the oauth2 error so
// that tests of token errors can inspect it.
func (f *flow) exchange(t *testing.T, rp *relyingParty) error {
	t.Helper()

	code := f.callback.Query().Get("code")
	if code == "" {
		t.Fatalf("callback %s has no code", f.callback)
	}
	token, err := rp.config.Exchange(rp.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		return err
	}
	rawID, ok := token.Extra("id_token").(string)
	if !ok || rawID == "" {
		t.Fatalf("token response has no id_token")
	}
	f.token = token
	f.rawID = rawID
	return nil
}

// runFlow runs a whole code flow and returns the token response.
func runFlow(t *testing.T, p *Provider, rp *relyingParty) *flow {
	t.Helper()

	f := startFlow(t, p, rp)
	if err := f.exchange(t, rp); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return f
}

// decodeSegment decodes one base64url segment of a compact JWS as JSON.
func decodeSegment(t *testing.T, rawJWT string, index int) map[string]any {
	t.Helper()

	segments := strings.Split(rawJWT, ".")
	if len(segments) != 3 {
		t.Fatalf("JWT has %d segments, expected 3: %q", len(segments), rawJWT)
	}
	data, err := base64.RawURLEncoding.DecodeString(segments[index])
	if err != nil {
		t.Fatalf("JWT segment %d: %v", index, err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatalf("JWT segment %d: %v", index, err)
	}
	return decoded
}

func getJSON(t *testing.T, client *http.Client, rawURL string) (int, map[string]any) {
	t.Helper()

	resp, err := client.Get(rawURL)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestDiscoveryDocument(t *testing.T) {
	p := New(t)

	status, doc := getJSON(t, p.Client(), p.Issuer+"/.well-known/openid-configuration")
	if status != http.StatusOK {
		t.Fatalf("status = %d, expected 200", status)
	}
	if strings.HasSuffix(p.Issuer, "/") {
		t.Errorf("Issuer %q ends with a slash", p.Issuer)
	}
	if !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") {
		t.Errorf("Issuer %q is not on 127.0.0.1", p.Issuer)
	}

	urls := map[string]string{
		"issuer":                 p.Issuer,
		"authorization_endpoint": p.Issuer + "/authorize",
		"token_endpoint":         p.Issuer + "/token",
		"userinfo_endpoint":      p.Issuer + "/userinfo",
		"jwks_uri":               p.Issuer + "/jwks",
	}
	for field, expected := range urls {
		if doc[field] != expected {
			t.Errorf("%s = %v, expected %q", field, doc[field], expected)
		}
	}

	lists := map[string][]string{
		"response_types_supported":              {"code"},
		"subject_types_supported":               {"public"},
		"id_token_signing_alg_values_supported": {"RS256"},
		"code_challenge_methods_supported":      {"S256"},
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      {"openid", "profile", "email"},
	}
	for field, expected := range lists {
		got, _ := json.Marshal(doc[field])
		want, _ := json.Marshal(expected)
		if string(got) != string(want) {
			t.Errorf("%s = %s, expected %s", field, got, want)
		}
	}
}

func TestJWKSServesCurrentKey(t *testing.T) {
	p := New(t)

	resp, err := p.Client().Get(p.Issuer + "/jwks")
	if err != nil {
		t.Fatalf("GET /jwks: %v", err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decoding JWKS: %v", err)
	}

	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, expected 1", len(set.Keys))
	}
	key := set.Keys[0]
	if key.KeyID != p.KeyID() || key.KeyID == "" {
		t.Errorf("kid = %q, expected %q", key.KeyID, p.KeyID())
	}
	if key.Algorithm != "RS256" {
		t.Errorf("alg = %q, expected RS256", key.Algorithm)
	}
	if key.Use != "sig" {
		t.Errorf("use = %q, expected sig", key.Use)
	}
	if !key.IsPublic() {
		t.Errorf("JWKS serves a private key")
	}
}

func TestCodeFlowHappyPath(t *testing.T) {
	p := New(t)
	p.SetUser(User{
		Subject: "ada",
		Claims: map[string]any{
			"email":          "ada@example.com",
			"email_verified": true,
			"name":           "Ada Lovelace",
			"iss":            "https://ignored.example", // registered claims win over User.Claims
		},
	})
	rp := newRelyingParty(t, p)

	f := runFlow(t, p, rp)

	if f.token.TokenType != "Bearer" {
		t.Errorf("token_type = %q, expected Bearer", f.token.TokenType)
	}
	if f.token.AccessToken == "" {
		t.Errorf("access_token is empty")
	}
	if until := time.Until(f.token.Expiry); until < 50*time.Minute || until > AccessTokenLifetime {
		t.Errorf("access token expires in %v, expected about %v", until, AccessTokenLifetime)
	}

	idToken, err := rp.verifier.Verify(rp.ctx, f.rawID)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if idToken.Subject != "ada" {
		t.Errorf("sub = %q, expected ada", idToken.Subject)
	}
	if idToken.Issuer != p.Issuer {
		t.Errorf("iss = %q, expected %q", idToken.Issuer, p.Issuer)
	}
	if idToken.Nonce != f.nonce {
		t.Errorf("nonce = %q, expected %q", idToken.Nonce, f.nonce)
	}
	if len(idToken.Audience) != 1 || idToken.Audience[0] != p.ClientID {
		t.Errorf("aud = %q, expected [%q]", idToken.Audience, p.ClientID)
	}
	if until := time.Until(idToken.Expiry); until < 4*time.Minute || until > IDTokenLifetime {
		t.Errorf("ID token expires in %v, expected about %v", until, IDTokenLifetime)
	}
	if age := time.Since(idToken.IssuedAt); age < -time.Second || age > time.Minute {
		t.Errorf("iat is %v ago, expected about now", age)
	}
	if err := idToken.VerifyAccessToken(f.token.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}

	var claims struct {
		Email           string `json:"email"`
		EmailVerified   bool   `json:"email_verified"`
		Name            string `json:"name"`
		AuthorizedParty string `json:"azp"`
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatalf("Claims: %v", err)
	}
	if claims.Email != "ada@example.com" || !claims.EmailVerified || claims.Name != "Ada Lovelace" {
		t.Errorf("claims = %+v, expected ada@example.com, verified, Ada Lovelace", claims)
	}
	if claims.AuthorizedParty != "" {
		t.Errorf("azp = %q, expected none for a single audience", claims.AuthorizedParty)
	}

	header := decodeSegment(t, f.rawID, 0)
	if header["alg"] != "RS256" || header["kid"] != p.KeyID() {
		t.Errorf("header = %v, expected alg RS256 and kid %q", header, p.KeyID())
	}

	query := p.LastAuthorizeQuery()
	if query.Get("code_challenge_method") != "S256" || query.Get("scope") != "openid email profile" {
		t.Errorf("authorize query = %v, expected S256 and scope \"openid email profile\"", query)
	}
	if got := f.callback.Query().Get("iss"); got != p.Issuer {
		t.Errorf("callback iss = %q, expected %q", got, p.Issuer)
	}
}

func TestClientAuthStyles(t *testing.T) {
	p := New(t)

	styles := []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"basic", oauth2.AuthStyleInHeader},
		{"post", oauth2.AuthStyleInParams},
	}
	for _, tc := range styles {
		t.Run(tc.name, func(t *testing.T) {
			rp := newRelyingParty(t, p)
			rp.config.Endpoint.AuthStyle = tc.style

			f := runFlow(t, p, rp)
			if _, err := rp.verifier.Verify(rp.ctx, f.rawID); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestUserinfoClaims(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	cases := []struct {
		name      string
		user      User
		faults    Faults
		expectSub string
		expect    map[string]any
	}{
		{
			name:      "same as ID token",
			user:      User{Subject: "ada", Claims: map[string]any{"email": "ada@example.com", "email_verified": "true"}},
			expectSub: "ada",
			expect:    map[string]any{"email": "ada@example.com", "email_verified": "true"},
		},
		{
			name: "own claims",
			user: User{
				Subject:        "ada",
				Claims:         map[string]any{"email": "ada@example.com"},
				UserinfoClaims: map[string]any{"email": "other@example.com", "name": "Ada"},
			},
			expectSub: "ada",
			expect:    map[string]any{"email": "other@example.com", "name": "Ada"},
		},
		{
			name:      "subject fault",
			user:      User{Subject: "ada"},
			faults:    Faults{UserinfoSubject: "mallory"},
			expectSub: "mallory",
			expect:    map[string]any{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.SetUser(tc.user)
			p.SetFaults(tc.faults)
			defer p.SetFaults(Faults{})

			f := runFlow(t, p, rp)
			idToken, err := rp.verifier.Verify(rp.ctx, f.rawID)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			info, err := rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(f.token))
			if err != nil {
				t.Fatalf("UserInfo: %v", err)
			}

			if info.Subject != tc.expectSub {
				t.Errorf("userinfo sub = %q, expected %q", info.Subject, tc.expectSub)
			}
			// go-oidc v3.21.0 does not compare the userinfo sub with the ID
			// token's, so the relying party must (OpenID Connect Core 5.3.2).
			if tc.faults.UserinfoSubject != "" && info.Subject == idToken.Subject {
				t.Errorf("userinfo sub equals the ID token's %q despite the fault", idToken.Subject)
			}

			var all map[string]any
			if err := info.Claims(&all); err != nil {
				t.Fatalf("userinfo Claims: %v", err)
			}
			delete(all, "sub")
			got, _ := json.Marshal(all)
			want, _ := json.Marshal(tc.expect)
			if string(got) != string(want) {
				t.Errorf("userinfo claims = %s, expected %s", got, want)
			}
		})
	}
}

func TestUserinfoRejectsToken(t *testing.T) {
	p := New(t)

	cases := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"unknown", "Bearer not-a-token"},
		{"wrong scheme", "Basic dXNlcjpwYXNz"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, p.Issuer+"/userinfo", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := p.Client().Do(req)
			if err != nil {
				t.Fatalf("GET /userinfo: %v", err)
			}
			resp.Body.Close()

			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, expected 401", resp.StatusCode)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q, expected a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestFaultsRejectedByVerifier proves that each ID token fault is real: the
// exchange succeeds, and go-oidc's IDTokenVerifier rejects the token.
func TestFaultsRejectedByVerifier(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	cases := []struct {
		name   string
		faults Faults
		expect string // substring of the Verify error
	}{
		{"other key", Faults{SignWithOtherKey: true}, "failed to verify id token signature"},
		{"alg none", Faults{AlgNone: true}, `unexpected signature algorithm "none"`},
		{"HS256 public key", Faults{HS256WithPublicKey: true}, `unexpected signature algorithm "HS256"`},
		{"wrong iss", Faults{Issuer: "http://127.0.0.1:1"}, "id token issued by a different provider"},
		{"wrong aud", Faults{Audience: []string{"someone-else"}}, "expected audience"},
		{"no aud", Faults{NoAudience: true}, "expected audience"},
		{"expired", Faults{ExpiresIn: -time.Minute}, "token is expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.SetFaults(tc.faults)
			defer p.SetFaults(Faults{})

			f := runFlow(t, p, rp)
			_, err := rp.verifier.Verify(rp.ctx, f.rawID)
			if err == nil {
				t.Fatalf("Verify accepted the token, expected an error containing %q", tc.expect)
			}
			if !strings.Contains(err.Error(), tc.expect) {
				t.Errorf("Verify error = %q, expected it to contain %q", err, tc.expect)
			}
		})
	}
}

func TestExpiredTokenError(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)
	p.SetFaults(Faults{ExpiresIn: -time.Minute})

	f := runFlow(t, p, rp)
	_, err := rp.verifier.Verify(rp.ctx, f.rawID)

	var expired *oidc.TokenExpiredError
	if !errors.As(err, &expired) {
		t.Fatalf("Verify error = %v, expected *oidc.TokenExpiredError", err)
	}
	if age := time.Since(expired.Expiry); age < 50*time.Second || age > 2*time.Minute {
		t.Errorf("token expired %v ago, expected about 1m", age)
	}
}

// TestFaultTokensAreWellFormed checks that each signature fault produces
// the attack it names: a readable unsigned token, an HS256 MAC keyed with
// PublicKeyPEM, and an RS256 signature under the published kid.
func TestFaultTokensAreWellFormed(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	t.Run("alg none", func(t *testing.T) {
		p.SetFaults(Faults{AlgNone: true})
		defer p.SetFaults(Faults{})

		f := runFlow(t, p, rp)
		if header := decodeSegment(t, f.rawID, 0); header["alg"] != "none" {
			t.Errorf("header alg = %v, expected none", header["alg"])
		}
		if !strings.HasSuffix(f.rawID, ".") {
			t.Errorf("token %q has a signature, expected none", f.rawID)
		}
		if claims := decodeSegment(t, f.rawID, 1); claims["sub"] != "user-1" {
			t.Errorf("sub = %v, expected user-1", claims["sub"])
		}
	})

	t.Run("HS256 public key", func(t *testing.T) {
		p.SetFaults(Faults{HS256WithPublicKey: true})
		defer p.SetFaults(Faults{})

		f := runFlow(t, p, rp)
		jws, err := jose.ParseSigned(f.rawID, []jose.SignatureAlgorithm{jose.HS256})
		if err != nil {
			t.Fatalf("ParseSigned: %v", err)
		}
		if kid := jws.Signatures[0].Header.KeyID; kid != p.KeyID() {
			t.Errorf("kid = %q, expected %q", kid, p.KeyID())
		}
		if _, err := jws.Verify(p.PublicKeyPEM()); err != nil {
			t.Errorf("HMAC with PublicKeyPEM does not verify: %v", err)
		}
	})

	t.Run("other key", func(t *testing.T) {
		p.SetFaults(Faults{SignWithOtherKey: true})
		defer p.SetFaults(Faults{})

		f := runFlow(t, p, rp)
		if header := decodeSegment(t, f.rawID, 0); header["kid"] != p.KeyID() || header["alg"] != "RS256" {
			t.Errorf("header = %v, expected RS256 with the published kid %q", header, p.KeyID())
		}
	})
}

// TestFaultsPassingVerifier records which faults go-oidc v3.21.0's
// IDTokenVerifier accepts, so the relying party must check them itself:
// it never compares the nonce, checks neither iat nor azp, and accepts any
// audience list that contains the client ID.
func TestFaultsPassingVerifier(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	cases := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, f *flow, idToken *oidc.IDToken, claims map[string]any)
	}{
		{
			name:   "future iat",
			faults: Faults{IssuedIn: time.Hour},
			check: func(t *testing.T, f *flow, idToken *oidc.IDToken, claims map[string]any) {
				if until := time.Until(idToken.IssuedAt); until < 50*time.Minute {
					t.Errorf("iat is %v from now, expected about 1h", until)
				}
			},
		},
		{
			name:   "nonce mismatch",
			faults: Faults{Nonce: "not-the-nonce"},
			check: func(t *testing.T, f *flow, idToken *oidc.IDToken, claims map[string]any) {
				if idToken.Nonce == f.nonce {
					t.Errorf("nonce equals the request's despite the fault")
				}
				if idToken.Nonce != "not-the-nonce" {
					t.Errorf("nonce = %q, expected not-the-nonce", idToken.Nonce)
				}
			},
		},
		{
			name:   "no nonce",
			faults: Faults{NoNonce: true},
			check: func(t *testing.T, f *flow, idToken *oidc.IDToken, claims map[string]any) {
				if _, present := claims["nonce"]; present {
					t.Errorf("nonce claim = %v, expected none", claims["nonce"])
				}
			},
		},
		{
			name:   "extra aud",
			faults: Faults{ExtraAudience: true},
			check: func(t *testing.T, f *flow, idToken *oidc.IDToken, claims map[string]any) {
				if len(idToken.Audience) != 2 || idToken.Audience[0] != p.ClientID || idToken.Audience[1] != "other" {
					t.Errorf("aud = %q, expected [%q other]", idToken.Audience, p.ClientID)
				}
				if _, present := claims["azp"]; present {
					t.Errorf("azp = %v, expected none", claims["azp"])
				}
			},
		},
		{
			name:   "foreign azp",
			faults: Faults{Audience: []string{p.ClientID, "other"}, AuthorizedParty: "other"},
			check: func(t *testing.T, f *flow, idToken *oidc.IDToken, claims map[string]any) {
				if claims["azp"] != "other" {
					t.Errorf("azp = %v, expected other", claims["azp"])
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.SetFaults(tc.faults)
			defer p.SetFaults(Faults{})

			f := runFlow(t, p, rp)
			idToken, err := rp.verifier.Verify(rp.ctx, f.rawID)
			if err != nil {
				t.Fatalf("Verify: %v (go-oidc now rejects this fault; update this test and the Faults docs)", err)
			}
			var claims map[string]any
			if err := idToken.Claims(&claims); err != nil {
				t.Fatalf("Claims: %v", err)
			}
			tc.check(t, f, idToken, claims)
		})
	}
}

func TestAuthorizeErrorFault(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)
	p.SetFaults(Faults{AuthorizeError: "access_denied"})

	f := startFlow(t, p, rp)

	query := f.callback.Query()
	if query.Get("error") != "access_denied" {
		t.Errorf("error = %q, expected access_denied", query.Get("error"))
	}
	if query.Get("error_description") == "" {
		t.Errorf("error_description is empty")
	}
	if query.Has("code") {
		t.Errorf("callback has a code despite the error")
	}
	if got := f.callback.Scheme + "://" + f.callback.Host + f.callback.Path; got != testRedirectURI {
		t.Errorf("callback = %q, expected %q", got, testRedirectURI)
	}
}

func TestTokenErrorFault(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)
	p.SetFaults(Faults{TokenError: "invalid_grant"})

	f := startFlow(t, p, rp)
	err := f.exchange(t, rp)

	var retrieveErr *oauth2.RetrieveError
	if !errors.As(err, &retrieveErr) {
		t.Fatalf("exchange error = %v, expected *oauth2.RetrieveError", err)
	}
	if retrieveErr.Response.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, expected 400", retrieveErr.Response.StatusCode)
	}
	if retrieveErr.ErrorCode != "invalid_grant" {
		t.Errorf("error = %q, expected invalid_grant", retrieveErr.ErrorCode)
	}

	p.SetFaults(Faults{})
	if err := f.exchange(t, rp); err != nil {
		t.Errorf("exchange after clearing the fault: %v (the fault must leave the code unused)", err)
	}
}

// validAuthorizeParams returns a complete authorization request.
func validAuthorizeParams(p *Provider) url.Values {
	return url.Values{
		"client_id":             {p.ClientID},
		"redirect_uri":          {testRedirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid email"},
		"state":                 {"state-1"},
		"nonce":                 {"nonce-1"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
}

func TestAuthorizeRejectsRequest(t *testing.T) {
	p := New(t)
	client := p.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	cases := []struct {
		name  string
		edit  func(q url.Values)
		match string // substring of the 400 body
	}{
		{"no client_id", func(q url.Values) { q.Del("client_id") }, "unknown client_id"},
		{"unknown client", func(q url.Values) { q.Set("client_id", "other") }, "unknown client_id"},
		{"no redirect_uri", func(q url.Values) { q.Del("redirect_uri") }, "missing parameter redirect_uri"},
		{"https redirect", func(q url.Values) { q.Set("redirect_uri", "https://127.0.0.1/cb") }, "not an http URL on a loopback host"},
		{"public redirect", func(q url.Values) { q.Set("redirect_uri", "http://example.com/cb") }, "not an http URL on a loopback host"},
		{"relative redirect", func(q url.Values) { q.Set("redirect_uri", "/cb") }, "not an absolute URL"},
		{"redirect fragment", func(q url.Values) { q.Set("redirect_uri", testRedirectURI+"#x") }, "contains a fragment"},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "id_token") }, "response_type"},
		{"no openid scope", func(q url.Values) { q.Set("scope", "email") }, `does not contain "openid"`},
		{"no state", func(q url.Values) { q.Del("state") }, "missing parameter state"},
		{"no nonce", func(q url.Values) { q.Del("nonce") }, "missing parameter nonce"},
		{"no code_challenge", func(q url.Values) { q.Del("code_challenge") }, "missing parameter code_challenge"},
		{"no challenge method", func(q url.Values) { q.Del("code_challenge_method") }, "code_challenge_method"},
		{"plain challenge", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "code_challenge_method"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, "not a base64url SHA-256 digest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := validAuthorizeParams(p)
			tc.edit(q)

			resp, err := client.Get(p.Issuer + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatalf("GET /authorize: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)

			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, expected 400 (Location %q)", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(string(body), tc.match) {
				t.Errorf("body = %q, expected it to contain %q", body, tc.match)
			}
		})
	}

	t.Run("valid request", func(t *testing.T) {
		location := p.Authorize(t, nil, p.Issuer+"/authorize?"+validAuthorizeParams(p).Encode())
		if !strings.HasPrefix(location, testRedirectURI+"?") {
			t.Errorf("Location = %q, expected the redirect URI", location)
		}
	})
}

func TestAllowRedirect(t *testing.T) {
	p := New(t)
	registered := "https://app.example/callback?tenant=acme"
	p.AllowRedirect(registered)

	client := p.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	cases := []struct {
		name        string
		redirectURI string
		expect      int
	}{
		{"registered", registered, http.StatusFound},
		{"loopback unregistered", testRedirectURI, http.StatusBadRequest},
		{"other query", "https://app.example/callback?tenant=other", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := validAuthorizeParams(p)
			q.Set("redirect_uri", tc.redirectURI)

			resp, err := client.Get(p.Issuer + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatalf("GET /authorize: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.expect {
				t.Errorf("status = %d, expected %d", resp.StatusCode, tc.expect)
			}
		})
	}

	t.Run("query kept", func(t *testing.T) {
		q := validAuthorizeParams(p)
		q.Set("redirect_uri", registered)
		location, err := url.Parse(p.Authorize(t, nil, p.Issuer+"/authorize?"+q.Encode()))
		if err != nil {
			t.Fatalf("Location: %v", err)
		}
		if location.Query().Get("tenant") != "acme" || location.Query().Get("code") == "" {
			t.Errorf("Location = %s, expected tenant=acme and a code", location)
		}
	})
}

func TestAuthorizeHelperRejectsOtherURL(t *testing.T) {
	p := New(t)
	recorder := &fatalRecorder{TB: t}

	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Authorize(recorder, nil, "http://127.0.0.1:1/authorize?client_id=x")
	}()
	<-done

	if !recorder.failed {
		t.Errorf("Authorize accepted a URL outside the provider")
	}
	if p.Requests(EndpointAuthorize) != 0 {
		t.Errorf("authorize requests = %d, expected 0", p.Requests(EndpointAuthorize))
	}
}

// fatalRecorder records Fatalf and ends its goroutine, as testing.T does,
// without failing the enclosing test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.TB.Logf("recorded Fatalf: "+format, args...)
	runtime.Goexit()
}

// tokenRequest holds the parts of a raw /token request.
type tokenRequest struct {
	form       url.Values
	basicID    string
	basicToken string
}

func postToken(t *testing.T, p *Provider, req tokenRequest) (int, map[string]any) {
	t.Helper()

	httpReq, _ := http.NewRequest(http.MethodPost, p.Issuer+"/token", strings.NewReader(req.form.Encode()))
	httpReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if req.basicID != "" {
		httpReq.SetBasicAuth(req.basicID, req.basicToken)
	}
	resp, err := p.Client().Do(httpReq)
	if err != nil {
		t.Fatalf("POST /token: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestTokenRejectsRequest(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	cases := []struct {
		name   string
		edit   func(req *tokenRequest)
		status int
		error  string
	}{
		{"wrong secret", func(r *tokenRequest) { r.basicToken = "wrong" }, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", func(r *tokenRequest) { r.basicID = "other" }, http.StatusUnauthorized, "invalid_client"},
		{"no credentials", func(r *tokenRequest) { r.basicID = "" }, http.StatusUnauthorized, "invalid_client"},
		{"two auth methods", func(r *tokenRequest) { r.form.Set("client_secret", p.ClientSecret) }, http.StatusBadRequest, "invalid_request"},
		{"wrong post secret", func(r *tokenRequest) {
			r.basicID = ""
			r.form.Set("client_id", p.ClientID)
			r.form.Set("client_secret", "wrong")
		}, http.StatusUnauthorized, "invalid_client"},
		{"refresh grant", func(r *tokenRequest) { r.form.Set("grant_type", "refresh_token") }, http.StatusBadRequest, "unsupported_grant_type"},
		{"no code", func(r *tokenRequest) { r.form.Del("code") }, http.StatusBadRequest, "invalid_request"},
		{"unknown code", func(r *tokenRequest) { r.form.Set("code", "not-a-code") }, http.StatusBadRequest, "invalid_grant"},
		{"other redirect_uri", func(r *tokenRequest) { r.form.Set("redirect_uri", "http://127.0.0.1:9/other") }, http.StatusBadRequest, "invalid_grant"},
		{"no redirect_uri", func(r *tokenRequest) { r.form.Del("redirect_uri") }, http.StatusBadRequest, "invalid_grant"},
		{"no verifier", func(r *tokenRequest) { r.form.Del("code_verifier") }, http.StatusBadRequest, "invalid_request"},
		{"short verifier", func(r *tokenRequest) { r.form.Set("code_verifier", "abc") }, http.StatusBadRequest, "invalid_request"},
		{"wrong verifier", func(r *tokenRequest) { r.form.Set("code_verifier", oauth2.GenerateVerifier()) }, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFlow(t, p, rp)
			valid := tokenRequest{
				form: url.Values{
					"grant_type":    {"authorization_code"},
					"code":          {f.callback.Query().Get("code")},
					"redirect_uri":  {testRedirectURI},
					"code_verifier": {f.verifier},
				},
				basicID:    p.ClientID,
				basicToken: p.ClientSecret,
			}
			req := valid
			req.form = url.Values{}
			for k, v := range valid.form {
				req.form[k] = append([]string(nil), v...)
			}
			tc.edit(&req)

			status, body := postToken(t, p, req)
			if status != tc.status {
				t.Errorf("status = %d, expected %d (body %v)", status, tc.status, body)
			}
			if body["error"] != tc.error {
				t.Errorf("error = %v, expected %q (body %v)", body["error"], tc.error, body)
			}

			// A rejected request leaves the code unused.
			status, body = postToken(t, p, valid)
			if status != http.StatusOK {
				t.Errorf("valid exchange after the rejected one: status %d, body %v", status, body)
			}
		})
	}
}

func TestCodeSingleUse(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	f := startFlow(t, p, rp)
	if err := f.exchange(t, rp); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	if _, err := rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(f.token)); err != nil {
		t.Fatalf("UserInfo before reuse: %v", err)
	}
	firstToken := f.token

	err := f.exchange(t, rp)
	var retrieveErr *oauth2.RetrieveError
	if !errors.As(err, &retrieveErr) || retrieveErr.ErrorCode != "invalid_grant" {
		t.Fatalf("second exchange error = %v, expected invalid_grant", err)
	}

	_, err = rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(firstToken))
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("UserInfo after code reuse: error = %v, expected 401 because the access token is revoked", err)
	}
}

func TestRotateKey(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	// Verify one token so that rp's key set caches the first key.
	before := runFlow(t, p, rp)
	if _, err := rp.verifier.Verify(rp.ctx, before.rawID); err != nil {
		t.Fatalf("Verify before rotation: %v", err)
	}
	oldKeyID := p.KeyID()

	p.RotateKey()
	if p.KeyID() == oldKeyID {
		t.Fatalf("kid %q did not change", oldKeyID)
	}
	after := runFlow(t, p, rp)
	if header := decodeSegment(t, after.rawID, 0); header["kid"] != p.KeyID() {
		t.Errorf("kid = %v, expected %q", header["kid"], p.KeyID())
	}

	t.Run("fresh key set", func(t *testing.T) {
		keySet := oidc.NewRemoteKeySet(rp.ctx, p.Issuer+"/jwks")
		verifier := oidc.NewVerifier(p.Issuer, keySet, &oidc.Config{ClientID: p.ClientID})
		if _, err := verifier.Verify(rp.ctx, after.rawID); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})

	t.Run("cached key set", func(t *testing.T) {
		p.ResetCounts()
		if _, err := rp.verifier.Verify(rp.ctx, after.rawID); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got := p.Requests(EndpointJWKS); got != 1 {
			t.Errorf("jwks requests = %d, expected 1 refetch on the unknown kid", got)
		}

		p.ResetCounts()
		if _, err := rp.verifier.Verify(rp.ctx, after.rawID); err != nil {
			t.Fatalf("second Verify: %v", err)
		}
		if got := p.Requests(EndpointJWKS); got != 0 {
			t.Errorf("jwks requests = %d, expected 0 once the new key is cached", got)
		}
	})

	t.Run("old token", func(t *testing.T) {
		// A key set fetched after the rotation, not rp's: go-oidc stores a
		// refetched set on a goroutine after handing it to the waiting
		// caller, so rp's cache may still hold the retired key for a moment.
		keySet := oidc.NewRemoteKeySet(rp.ctx, p.Issuer+"/jwks")
		verifier := oidc.NewVerifier(p.Issuer, keySet, &oidc.Config{ClientID: p.ClientID})
		_, err := verifier.Verify(rp.ctx, before.rawID)
		if err == nil || !strings.Contains(err.Error(), "failed to verify id token signature") {
			t.Errorf("Verify of a token signed with the retired key: error = %v, expected a signature failure", err)
		}
	})
}

func TestRequestCounts(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	f := runFlow(t, p, rp)
	if _, err := rp.verifier.Verify(rp.ctx, f.rawID); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(f.token)); err != nil {
		t.Fatalf("UserInfo: %v", err)
	}

	expected := map[string]int{
		EndpointDiscovery: 1,
		EndpointJWKS:      1,
		EndpointAuthorize: 1,
		EndpointToken:     1,
		EndpointUserinfo:  1,
	}
	for endpoint, count := range expected {
		if got := p.Requests(endpoint); got != count {
			t.Errorf("Requests(%q) = %d, expected %d", endpoint, got, count)
		}
	}

	p.ResetCounts()
	for endpoint := range expected {
		if got := p.Requests(endpoint); got != 0 {
			t.Errorf("Requests(%q) after ResetCounts = %d, expected 0", endpoint, got)
		}
	}

	t.Run("unknown name", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Errorf("Requests(\"tokens\") did not panic")
			}
		}()
		p.Requests("tokens")
	})
}

func TestHandlingTime(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)
	f := startFlow(t, p, rp)

	began := time.Now()
	if err := f.exchange(t, rp); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	exchangeWall := time.Since(began)

	tokenTime := p.HandlingTime(EndpointToken)
	if tokenTime <= 0 {
		t.Errorf("HandlingTime(token) = %v after an exchange, expected more than 0", tokenTime)
	}
	if tokenTime > exchangeWall {
		t.Errorf("HandlingTime(token) = %v, more than the client's wall time %v for the exchange", tokenTime, exchangeWall)
	}
	if got := p.HandlingTime(EndpointUserinfo); got != 0 {
		t.Errorf("HandlingTime(userinfo) = %v with no userinfo request, expected 0", got)
	}
	if got := p.HandlingTime(EndpointDiscovery); got <= 0 {
		t.Errorf("HandlingTime(discovery) = %v after discovery, expected more than 0", got)
	}

	second := startFlow(t, p, rp)
	if err := second.exchange(t, rp); err != nil {
		t.Fatalf("second exchange: %v", err)
	}
	if got := p.HandlingTime(EndpointToken); got <= tokenTime {
		t.Errorf("HandlingTime(token) = %v after a second exchange, expected more than %v", got, tokenTime)
	}

	p.ResetCounts()
	for _, endpoint := range []string{EndpointDiscovery, EndpointJWKS, EndpointAuthorize, EndpointToken, EndpointUserinfo} {
		if got := p.HandlingTime(endpoint); got != 0 {
			t.Errorf("HandlingTime(%q) after ResetCounts = %v, expected 0", endpoint, got)
		}
	}

	t.Run("unknown name", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Errorf("HandlingTime(\"tokens\") did not panic")
			}
		}()
		p.HandlingTime("tokens")
	})
}

func TestSetDown(t *testing.T) {
	p := New(t)
	p.SetDown(true)

	paths := map[string]string{
		EndpointDiscovery: "/.well-known/openid-configuration",
		EndpointJWKS:      "/jwks",
		EndpointAuthorize: "/authorize?" + validAuthorizeParams(p).Encode(),
		EndpointToken:     "/token",
		EndpointUserinfo:  "/userinfo",
	}
	for endpoint, path := range paths {
		t.Run(endpoint, func(t *testing.T) {
			method := http.MethodGet
			if endpoint == EndpointToken {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, p.Issuer+path, nil)
			resp, err := p.Client().Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("status = %d, expected 503", resp.StatusCode)
			}
			if got := p.Requests(endpoint); got != 1 {
				t.Errorf("Requests(%q) = %d, expected 1 (requests while down count)", endpoint, got)
			}
		})
	}

	t.Run("discovery fails", func(t *testing.T) {
		ctx := oidc.ClientContext(context.Background(), p.Client())
		_, err := oidc.NewProvider(ctx, p.Issuer)
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("NewProvider error = %v, expected a 503", err)
		}
	})

	t.Run("recovers", func(t *testing.T) {
		p.SetDown(false)
		rp := newRelyingParty(t, p)
		f := runFlow(t, p, rp)
		if _, err := rp.verifier.Verify(rp.ctx, f.rawID); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})

	t.Run("key refetch fails", func(t *testing.T) {
		rp := newRelyingParty(t, p)
		f := runFlow(t, p, rp)
		p.SetDown(true)
		defer p.SetDown(false)

		_, err := rp.verifier.Verify(rp.ctx, f.rawID)
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("Verify with the JWKS down: error = %v, expected a 503", err)
		}
	})
}

func TestConcurrentFlows(t *testing.T) {
	p := New(t)
	rp := newRelyingParty(t, p)

	const flows = 8
	var wg sync.WaitGroup
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := startFlowNoFatal(p, rp)
			if f.err != nil {
				t.Errorf("flow %d: %v", i, f.err)
				return
			}
			if _, err := rp.verifier.Verify(rp.ctx, f.rawID); err != nil {
				t.Errorf("flow %d: Verify: %v", i, err)
			}
		}()
	}
	wg.Wait()

	if got := p.Requests(EndpointToken); got != flows {
		t.Errorf("token requests = %d, expected %d", got, flows)
	}
}

// concurrentFlow is the outcome of a flow run off the test goroutine, where
// t.Fatal must not be called.
type concurrentFlow struct {
	rawID string
	err   error
}

func startFlowNoFatal(p *Provider, rp *relyingParty) concurrentFlow {
	verifier := oauth2.GenerateVerifier()
	authURL := rp.config.AuthCodeURL("state", oidc.Nonce("nonce"), oauth2.S256ChallengeOption(verifier))

	client := p.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(authURL)
	if err != nil {
		return concurrentFlow{err: err}
	}
	resp.Body.Close()
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return concurrentFlow{err: err}
	}

	token, err := rp.config.Exchange(rp.ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return concurrentFlow{err: err}
	}
	rawID, _ := token.Extra("id_token").(string)
	return concurrentFlow{rawID: rawID}
}

func TestWrongMethodRejected(t *testing.T) {
	p := New(t)

	cases := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{"POST discovery", http.MethodPost, "/.well-known/openid-configuration", http.StatusMethodNotAllowed},
		{"POST jwks", http.MethodPost, "/jwks", http.StatusMethodNotAllowed},
		{"GET token", http.MethodGet, "/token", http.StatusMethodNotAllowed},
		{"DELETE userinfo", http.MethodDelete, "/userinfo", http.StatusMethodNotAllowed},
		{"unknown path", http.MethodGet, "/keys", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, p.Issuer+tc.path, nil)
			resp, err := p.Client().Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			resp.Body.Close()

			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, expected %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
}
