// Package oidctest runs an OpenID provider on loopback for Go tests of
// OpenID Connect relying parties.
//
// The provider implements discovery, JWKS, the authorization code flow with
// PKCE (S256 only), the token endpoint and the userinfo endpoint. Its
// /authorize endpoint has no login page: it approves the user set with
// SetUser as soon as the request is valid. Faults make the provider return
// errors or issue broken ID tokens, so that tests can prove a relying party
// rejects them.
//
// A typical test:
//
//	p := oidctest.New(t)
//	p.SetUser(oidctest.User{Subject: "ada", Claims: map[string]any{"email": "ada@example.com"}})
//	authURL := ... // the relying party's redirect to p.Issuer + "/authorize?..."
//	callbackURL := p.Authorize(t, nil, authURL)
//	... // GET callbackURL on the relying party
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Endpoint names accepted by Provider.Requests and Provider.HandlingTime.
const (
	EndpointDiscovery = "discovery"
	EndpointJWKS      = "jwks"
	EndpointAuthorize = "authorize"
	EndpointToken     = "token"
	EndpointUserinfo  = "userinfo"
)

// Lifetimes of what the provider issues when no fault overrides them.
const (
	IDTokenLifetime     = 5 * time.Minute
	AccessTokenLifetime = time.Hour
)

// endpointName returns the name of the endpoint served at path, or "" for
// a path the provider does not serve.
func endpointName(path string) string {
	switch path {
	case "/.well-known/openid-configuration":
		return EndpointDiscovery
	case "/jwks":
		return EndpointJWKS
	case "/authorize":
		return EndpointAuthorize
	case "/token":
		return EndpointToken
	case "/userinfo":
		return EndpointUserinfo
	}
	return ""
}

// User is the end user whom /authorize approves.
type User struct {
	Subject string
	// Claims are extra ID token claims, such as "email", "email_verified"
	// (bool or string) and "name". The registered claims iss, sub, aud, exp,
	// iat, nonce, azp and at_hash replace any entry of the same name, so use
	// Faults to change those.
	Claims map[string]any
	// UserinfoClaims are the claims /userinfo returns besides "sub". When nil,
	// /userinfo returns Claims.
	UserinfoClaims map[string]any
}

// Faults are deliberate errors and broken tokens. The zero value means no
// fault. /authorize reads AuthorizeError when it runs, /token reads
// TokenError and the ID token faults when it runs, and /userinfo reads
// UserinfoSubject when it runs.
type Faults struct {
	// AuthorizeError makes /authorize redirect back with error=AuthorizeError
	// (for example "access_denied") and an error_description instead of a
	// code. The request is validated first, as a real provider would.
	AuthorizeError string

	// SignWithOtherKey signs ID tokens with an RSA key that is not in the
	// JWKS, under the kid of the key that is.
	SignWithOtherKey bool
	// AlgNone issues unsigned ID tokens with header alg "none" and an empty
	// signature.
	AlgNone bool
	// HS256WithPublicKey signs ID tokens with HS256, using PublicKeyPEM as
	// the HMAC key (the RS256/HS256 key confusion attack).
	HS256WithPublicKey bool

	// Issuer replaces "iss" in ID tokens. Discovery still serves the real
	// issuer.
	Issuer string
	// Audience replaces "aud" in ID tokens.
	Audience []string
	// NoAudience omits "aud" from ID tokens.
	NoAudience bool
	// ExtraAudience sets "aud" to [ClientID, "other"] with no "azp".
	ExtraAudience bool
	// AuthorizedParty sets "azp" in ID tokens. Without it the provider sends
	// no "azp".
	AuthorizedParty string
	// ExpiresIn sets "exp" to now+ExpiresIn when non-zero. A negative value
	// issues an expired token.
	ExpiresIn time.Duration
	// IssuedIn sets "iat" to now+IssuedIn when non-zero, so +1h issues a token
	// from the future.
	IssuedIn time.Duration
	// Nonce replaces the nonce from the authorization request.
	Nonce string
	// NoNonce omits "nonce" from ID tokens.
	NoNonce bool

	// UserinfoSubject replaces "sub" in /userinfo responses.
	UserinfoSubject string
	// TokenError makes /token return 400 {"error": TokenError} before it
	// checks the request, so the authorization code stays unused.
	TokenError string
}

// signingKey is an RSA key with the kid it is published under.
type signingKey struct {
	private *rsa.PrivateKey
	keyID   string
}

// authorization is an authorization code and the request it was issued for.
//
// NOTE: codes do not expire. RFC 6749 section 4.1.2 recommends a lifetime of
// at most 10 minutes, so a relying party's handling of an expired code is not
// testable with this provider.
type authorization struct {
	clientID      string
	redirectURI   string
	nonce         string
	codeChallenge string
	scope         string
	user          User
	used          bool
	// accessToken is the token issued for this code, revoked if the code is
	// presented again.
	accessToken string
}

// grant is the user behind an access token and the token's expiry time.
type grant struct {
	user    User
	expires time.Time
}

// Provider is an OpenID provider on an httptest server. Issuer, ClientID and
// ClientSecret are set by New and must not be changed.
type Provider struct {
	// Issuer is the provider's base URL, http://127.0.0.1:PORT with no
	// trailing slash.
	Issuer       string
	ClientID     string
	ClientSecret string

	t      testing.TB
	server *httptest.Server

	mu           sync.Mutex
	key          signingKey
	otherKey     *rsa.PrivateKey // created on the first SetFaults with SignWithOtherKey
	keyCount     int
	user         User
	faults       Faults
	redirectURIs []string
	codes        map[string]*authorization
	accessTokens map[string]*grant
	counts       map[string]int
	handling     map[string]time.Duration
	down         bool
	lastQuery    url.Values
}

// New starts a provider on 127.0.0.1 with a new RSA-2048 RS256 signing key
// and a default user, and closes it in t.Cleanup.
func New(t testing.TB) *Provider {
	t.Helper()

	p := &Provider{
		ClientID:     "enlace-test-client",
		ClientSecret: randomToken(24),
		t:            t,
		user: User{
			Subject: "user-1",
			Claims: map[string]any{
				"email":          "user1@example.com",
				"email_verified": true,
				"name":           "Test User",
			},
		},
		codes:        map[string]*authorization{},
		accessTokens: map[string]*grant{},
		counts:       map[string]int{},
		handling:     map[string]time.Duration{},
	}
	p.installKey(generateRSAKey())

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidctest: listen on 127.0.0.1: %v", err)
	}
	// Issuer is set before the server starts, so that its handlers never
	// read it while it is being written.
	p.Issuer = "http://" + listener.Addr().String()
	p.server = httptest.NewUnstartedServer(p)
	p.server.Listener.Close()
	p.server.Listener = listener
	p.server.Start()
	t.Cleanup(p.server.Close)
	return p
}

// Client returns a new copy of the httptest server's client, so a caller
// can change fields such as CheckRedirect without affecting other callers.
func (p *Provider) Client() *http.Client {
	client := *p.server.Client()
	return &client
}

// SetUser sets the user whom the following /authorize requests approve.
// The provider copies the claim maps but not values nested inside them.
func (p *Provider) SetUser(u User) {
	u.Claims = maps.Clone(u.Claims)
	u.UserinfoClaims = maps.Clone(u.UserinfoClaims)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// SetFaults replaces the faults for the following requests. SetFaults(Faults{})
// clears them.
func (p *Provider) SetFaults(f Faults) {
	f.Audience = slices.Clone(f.Audience)

	p.mu.Lock()
	needOtherKey := f.SignWithOtherKey && p.otherKey == nil
	p.mu.Unlock()

	// Generating an RSA key takes long enough that it runs without the lock.
	var otherKey *rsa.PrivateKey
	if needOtherKey {
		otherKey = generateRSAKey()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = f
	if p.otherKey == nil {
		p.otherKey = otherKey
	}
}

// RotateKey replaces the signing key with a new key under a new kid. The
// JWKS then serves only the new key, so a relying party that cached the old
// set must fetch it again when it meets the unknown kid.
func (p *Provider) RotateKey() {
	private := generateRSAKey()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.installKey(private)
}

// KeyID returns the kid of the current signing key.
func (p *Provider) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.key.keyID
}

// PublicKeyPEM returns the current signing key's public key as a PEM
// "PUBLIC KEY" block (PKIX DER). HS256WithPublicKey uses exactly these bytes
// as the HMAC key.
func (p *Provider) PublicKeyPEM() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return publicKeyPEM(&p.key.private.PublicKey)
}

// AllowRedirect registers a redirect URI. Once one is registered, /authorize
// accepts only registered URIs. Before that it accepts any http URI on a
// loopback host (127.0.0.0/8, ::1 or localhost).
func (p *Provider) AllowRedirect(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURIs = append(p.redirectURIs, uri)
}

// Requests returns how many requests an endpoint received, including those
// rejected with 503 while down or rejected as invalid. It panics on a name
// other than the Endpoint constants.
func (p *Provider) Requests(endpoint string) int {
	mustBeEndpoint(endpoint)

	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[endpoint]
}

// HandlingTime returns the total wall time that ServeHTTP spent on an
// endpoint's requests, the same requests that Requests counts. It leaves out
// net/http's work outside ServeHTTP, such as reading the request headers and
// sending the response. Each request's time is added before ServeHTTP
// returns. No handler sets Content-Length, so net/http sends the end of every
// response after that, and a client that has read a whole response finds its
// time counted. It panics on a name other than the Endpoint constants.
func (p *Provider) HandlingTime(endpoint string) time.Duration {
	mustBeEndpoint(endpoint)

	p.mu.Lock()
	defer p.mu.Unlock()
	return p.handling[endpoint]
}

// ResetCounts sets every endpoint's request count and handling time to zero.
func (p *Provider) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.counts)
	clear(p.handling)
}

func mustBeEndpoint(endpoint string) {
	names := []string{EndpointDiscovery, EndpointJWKS, EndpointAuthorize, EndpointToken, EndpointUserinfo}
	if !slices.Contains(names, endpoint) {
		panic(fmt.Sprintf("oidctest: unknown endpoint name %q; use discovery, jwks, authorize, token or userinfo", endpoint))
	}
}

// SetDown makes every endpoint return 503 Service Unavailable while down is
// true, as in an outage of the provider.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// LastAuthorizeQuery returns the parameters of the most recent /authorize
// request, or nil before the first one.
func (p *Provider) LastAuthorizeQuery() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastQuery == nil {
		return nil
	}
	return maps.Clone(p.lastQuery)
}

// Authorize performs the browser's hop through the provider: it GETs authURL
// without following redirects and returns the Location header, which is the
// relying party's callback URL with code and state, or with error. A nil
// client means Client(). The test fails if authURL is not this provider's
// authorization endpoint or the response is not 302 Found.
func (p *Provider) Authorize(t testing.TB, client *http.Client, authURL string) (callbackURL string) {
	t.Helper()

	if !strings.HasPrefix(authURL, p.Issuer+"/authorize?") {
		t.Fatalf("oidctest: Authorize: URL %q is not this provider's authorization endpoint %s/authorize", authURL, p.Issuer)
	}
	if client == nil {
		client = p.Client()
	}
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}

	resp, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatalf("oidctest: Authorize: GET %s: %v", authURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	if resp.StatusCode != http.StatusFound {
		t.Fatalf("oidctest: Authorize: GET %s: status %d, expected 302: %s", authURL, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	location := resp.Header.Get("Location")
	if location == "" {
		t.Fatalf("oidctest: Authorize: GET %s: 302 without a Location header", authURL)
	}
	return location
}

// ServeHTTP counts the request and its handling time, returns 503 while
// the provider is down and otherwise dispatches to the endpoint.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := endpointName(r.URL.Path)
	if name == "" {
		http.NotFound(w, r)
		return
	}

	began := time.Now()
	defer func() {
		elapsed := time.Since(began)
		p.mu.Lock()
		p.handling[name] += elapsed
		p.mu.Unlock()
	}()

	p.mu.Lock()
	p.counts[name]++
	down := p.down
	p.mu.Unlock()

	if down {
		http.Error(w, "oidctest: provider is down", http.StatusServiceUnavailable)
		return
	}

	switch name {
	case EndpointDiscovery:
		p.serveDiscovery(w, r)
	case EndpointJWKS:
		p.serveJWKS(w, r)
	case EndpointAuthorize:
		p.serveAuthorize(w, r)
	case EndpointToken:
		p.serveToken(w, r)
	case EndpointUserinfo:
		p.serveUserinfo(w, r)
	}
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !p.allowMethods(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.Issuer + "/authorize",
		"token_endpoint":                        p.Issuer + "/token",
		"userinfo_endpoint":                     p.Issuer + "/userinfo",
		"jwks_uri":                              p.Issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nonce", "azp", "at_hash", "email", "email_verified", "name"},
		// RFC 9207: the authorization response carries an "iss" parameter.
		"authorization_response_iss_parameter_supported": true,
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !p.allowMethods(w, r, http.MethodGet) {
		return
	}
	p.mu.Lock()
	key := p.key
	p.mu.Unlock()

	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       &key.private.PublicKey,
		KeyID:     key.keyID,
		Algorithm: string(jose.RS256),
		Use:       "sig",
	}}})
}

// serveAuthorize validates an authorization request and redirects to its
// redirect_uri with a new code, or with the AuthorizeError fault. It returns
// 400 without redirecting when a parameter is missing or invalid, so a
// relying party that omits state, nonce or PKCE fails loudly in tests.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if !p.allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if err := r.ParseForm(); err != nil {
		p.rejectAuthorize(w, "invalid form: "+err.Error())
		return
	}
	q := r.Form

	p.mu.Lock()
	p.lastQuery = maps.Clone(q)
	p.mu.Unlock()

	if got := q.Get("client_id"); got != p.ClientID {
		p.rejectAuthorize(w, fmt.Sprintf("unknown client_id %q, expected %q", got, p.ClientID))
		return
	}
	redirectURI := q.Get("redirect_uri")
	if problem := p.checkRedirectURI(redirectURI); problem != "" {
		p.rejectAuthorize(w, problem)
		return
	}
	if got := q.Get("response_type"); got != "code" {
		p.rejectAuthorize(w, fmt.Sprintf("response_type is %q, expected \"code\"", got))
		return
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "openid") {
		p.rejectAuthorize(w, fmt.Sprintf("scope %q does not contain \"openid\"", q.Get("scope")))
		return
	}
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(name) == "" {
			p.rejectAuthorize(w, "missing parameter "+name)
			return
		}
	}
	if got := q.Get("code_challenge_method"); got != "S256" {
		p.rejectAuthorize(w, fmt.Sprintf("code_challenge_method is %q, expected \"S256\"", got))
		return
	}
	if !isS256Challenge(q.Get("code_challenge")) {
		p.rejectAuthorize(w, fmt.Sprintf("code_challenge %q is not a base64url SHA-256 digest (43 characters)", q.Get("code_challenge")))
		return
	}

	callback, _ := url.Parse(redirectURI) // checkRedirectURI parsed it
	params := callback.Query()
	params.Set("state", q.Get("state"))
	params.Set("iss", p.Issuer)

	p.mu.Lock()
	authorizeError := p.faults.AuthorizeError
	if authorizeError == "" {
		code := randomToken(32)
		p.codes[code] = &authorization{
			clientID:      p.ClientID,
			redirectURI:   redirectURI,
			nonce:         q.Get("nonce"),
			codeChallenge: q.Get("code_challenge"),
			scope:         q.Get("scope"),
			user:          p.user,
		}
		params.Set("code", code)
	}
	p.mu.Unlock()

	if authorizeError != "" {
		params.Set("error", authorizeError)
		params.Set("error_description", "oidctest: the AuthorizeError fault is set to "+authorizeError)
	}
	callback.RawQuery = params.Encode()
	http.Redirect(w, r, callback.String(), http.StatusFound)
}

// checkRedirectURI returns why uri is not an acceptable redirect_uri, or ""
// if it is.
func (p *Provider) checkRedirectURI(uri string) string {
	if uri == "" {
		return "missing parameter redirect_uri"
	}
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Sprintf("redirect_uri %q is not an absolute URL", uri)
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return fmt.Sprintf("redirect_uri %q contains a fragment", uri)
	}

	p.mu.Lock()
	registered := slices.Clone(p.redirectURIs)
	p.mu.Unlock()

	if len(registered) > 0 {
		if !slices.Contains(registered, uri) {
			return fmt.Sprintf("redirect_uri %q is not registered; registered: %q", uri, registered)
		}
		return ""
	}
	if !isLoopbackHTTP(u) {
		return fmt.Sprintf("redirect_uri %q is not an http URL on a loopback host, and no redirect URI is registered with AllowRedirect", uri)
	}
	return ""
}

func (p *Provider) rejectAuthorize(w http.ResponseWriter, problem string) {
	p.t.Logf("oidctest: /authorize rejected the request: %s", problem)
	http.Error(w, "oidctest: invalid authorization request: "+problem, http.StatusBadRequest)
}

// serveToken exchanges an authorization code for an access token and an ID
// token. A failed check leaves the code unused. A code presented again after
// a successful exchange is rejected, and the access token issued for it is
// revoked, as RFC 6749 section 4.1.2 recommends.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if !p.allowMethods(w, r, http.MethodPost) {
		return
	}
	if err := r.ParseForm(); err != nil {
		p.rejectToken(w, http.StatusBadRequest, "invalid_request", "invalid form: "+err.Error())
		return
	}
	form := r.PostForm

	p.mu.Lock()
	faults := p.faults
	p.mu.Unlock()

	if faults.TokenError != "" {
		p.rejectToken(w, http.StatusBadRequest, faults.TokenError, "the TokenError fault is set to "+faults.TokenError)
		return
	}

	clientID, ok := p.authenticateClient(w, r)
	if !ok {
		return
	}
	if got := form.Get("grant_type"); got != "authorization_code" {
		p.rejectToken(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type is %q, expected \"authorization_code\"", got))
		return
	}
	code := form.Get("code")
	if code == "" {
		p.rejectToken(w, http.StatusBadRequest, "invalid_request", "missing parameter code")
		return
	}
	verifier := form.Get("code_verifier")
	if verifier == "" {
		p.rejectToken(w, http.StatusBadRequest, "invalid_request", "missing parameter code_verifier")
		return
	}
	if !isCodeVerifier(verifier) {
		p.rejectToken(w, http.StatusBadRequest, "invalid_request", "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'")
		return
	}

	accessToken := randomToken(32)
	now := time.Now()

	p.mu.Lock()
	auth, found := p.codes[code]
	problem := ""
	switch {
	case !found:
		problem = "unknown authorization code"
	case auth.used:
		problem = "authorization code was already used; the access token issued for it is revoked"
		delete(p.accessTokens, auth.accessToken)
	case auth.clientID != clientID:
		problem = fmt.Sprintf("authorization code was issued to client %q, not %q", auth.clientID, clientID)
	case form.Get("redirect_uri") != auth.redirectURI:
		problem = fmt.Sprintf("redirect_uri %q differs from %q in the authorization request", form.Get("redirect_uri"), auth.redirectURI)
	case !verifierMatches(verifier, auth.codeChallenge):
		problem = "code_verifier does not match the code_challenge (S256)"
	default:
		auth.used = true
		auth.accessToken = accessToken
		p.accessTokens[accessToken] = &grant{user: auth.user, expires: now.Add(AccessTokenLifetime)}
	}
	key := p.key
	otherKey := p.otherKey
	p.mu.Unlock()

	if problem != "" {
		p.rejectToken(w, http.StatusBadRequest, "invalid_grant", problem)
		return
	}

	claims := p.idTokenClaims(auth, faults, accessToken, now)
	idToken, err := p.signIDToken(claims, faults, key, otherKey)
	if err != nil {
		p.t.Errorf("oidctest: signing the ID token: %v", err)
		p.rejectToken(w, http.StatusInternalServerError, "server_error", "signing the ID token failed: "+err.Error())
		return
	}

	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": accessToken,
		"token_type":   "Bearer",
		"expires_in":   int(AccessTokenLifetime.Seconds()),
		"scope":        auth.scope,
		"id_token":     idToken,
	})
}

// authenticateClient checks client_secret_basic or client_secret_post
// credentials and returns the client ID. On failure it writes the error
// response and returns false.
func (p *Provider) authenticateClient(w http.ResponseWriter, r *http.Request) (string, bool) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	postID, postSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")

	var clientID, secret string
	switch {
	case hasBasic && postSecret != "":
		p.rejectToken(w, http.StatusBadRequest, "invalid_request", "client used both client_secret_basic and client_secret_post")
		return "", false
	case hasBasic:
		// RFC 6749 section 2.3.1: both values are form-encoded before Basic encoding.
		var errID, errSecret error
		clientID, errID = url.QueryUnescape(basicID)
		secret, errSecret = url.QueryUnescape(basicSecret)
		if errID != nil || errSecret != nil {
			p.rejectToken(w, http.StatusBadRequest, "invalid_request", "Basic credentials are not form-encoded")
			return "", false
		}
		if postID != "" && postID != clientID {
			p.rejectToken(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("client_id %q differs from the Basic user %q", postID, clientID))
			return "", false
		}
	case postID != "":
		clientID, secret = postID, postSecret
	default:
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
		p.rejectToken(w, http.StatusUnauthorized, "invalid_client", "missing client credentials (client_secret_basic or client_secret_post)")
		return "", false
	}

	idOK := subtle.ConstantTimeCompare([]byte(clientID), []byte(p.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1
	if !idOK || !secretOK {
		if hasBasic {
			w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
		}
		p.rejectToken(w, http.StatusUnauthorized, "invalid_client", fmt.Sprintf("invalid client credentials for client_id %q", clientID))
		return "", false
	}
	return clientID, true
}

func (p *Provider) rejectToken(w http.ResponseWriter, status int, code, description string) {
	p.t.Logf("oidctest: /token answered %d %s: %s", status, code, description)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{
		"error":             code,
		"error_description": "oidctest: " + description,
	})
}

// idTokenClaims builds the ID token claims for an exchanged code, with the
// faults applied.
func (p *Provider) idTokenClaims(auth *authorization, f Faults, accessToken string, now time.Time) map[string]any {
	claims := maps.Clone(auth.user.Claims)
	if claims == nil {
		claims = map[string]any{}
	}

	claims["iss"] = p.Issuer
	if f.Issuer != "" {
		claims["iss"] = f.Issuer
	}
	claims["sub"] = auth.user.Subject

	delete(claims, "aud")
	switch {
	case f.NoAudience:
	case f.ExtraAudience:
		claims["aud"] = []string{auth.clientID, "other"}
	case f.Audience != nil:
		claims["aud"] = f.Audience
	default:
		claims["aud"] = auth.clientID
	}

	delete(claims, "azp")
	if f.AuthorizedParty != "" && !f.ExtraAudience {
		claims["azp"] = f.AuthorizedParty
	}

	expiresIn := IDTokenLifetime
	if f.ExpiresIn != 0 {
		expiresIn = f.ExpiresIn
	}
	claims["exp"] = now.Add(expiresIn).Unix()
	claims["iat"] = now.Add(f.IssuedIn).Unix()

	delete(claims, "nonce")
	switch {
	case f.NoNonce:
	case f.Nonce != "":
		claims["nonce"] = f.Nonce
	default:
		claims["nonce"] = auth.nonce
	}

	// OpenID Connect Core 3.1.3.6: at_hash is the base64url left half of
	// the SHA-256 digest of the access token.
	digest := sha256.Sum256([]byte(accessToken))
	claims["at_hash"] = base64.RawURLEncoding.EncodeToString(digest[:len(digest)/2])
	return claims
}

// signIDToken serializes claims as a compact JWS, signed with RS256 by key
// unless a signature fault is set.
func (p *Provider) signIDToken(claims map[string]any, f Faults, key signingKey, otherKey *rsa.PrivateKey) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}

	if f.AlgNone {
		header, err := json.Marshal(map[string]string{"alg": "none", "kid": key.keyID, "typ": "JWT"})
		if err != nil {
			return "", fmt.Errorf("encoding header: %w", err)
		}
		return base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload) + ".", nil
	}

	signing := jose.SigningKey{Algorithm: jose.RS256, Key: key.private}
	switch {
	case f.HS256WithPublicKey:
		signing = jose.SigningKey{Algorithm: jose.HS256, Key: publicKeyPEM(&key.private.PublicKey)}
	case f.SignWithOtherKey:
		signing.Key = otherKey
	}

	options := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), key.keyID)
	signer, err := jose.NewSigner(signing, options)
	if err != nil {
		return "", fmt.Errorf("creating %s signer: %w", signing.Algorithm, err)
	}
	signature, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing with %s: %w", signing.Algorithm, err)
	}
	return signature.CompactSerialize()
}

// serveUserinfo returns the claims of the user behind a Bearer access token.
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if !p.allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}

	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		p.rejectUserinfo(w, "invalid_request", "missing Bearer access token in the Authorization header")
		return
	}

	p.mu.Lock()
	g, found := p.accessTokens[token]
	subjectFault := p.faults.UserinfoSubject
	p.mu.Unlock()

	if !found {
		p.rejectUserinfo(w, "invalid_token", "unknown or revoked access token")
		return
	}
	if time.Now().After(g.expires) {
		p.rejectUserinfo(w, "invalid_token", "access token expired at "+g.expires.Format(time.RFC3339))
		return
	}

	source := g.user.UserinfoClaims
	if source == nil {
		source = g.user.Claims
	}
	claims := maps.Clone(source)
	if claims == nil {
		claims = map[string]any{}
	}
	claims["sub"] = g.user.Subject
	if subjectFault != "" {
		claims["sub"] = subjectFault
	}
	writeJSON(w, http.StatusOK, claims)
}

func (p *Provider) rejectUserinfo(w http.ResponseWriter, code, description string) {
	p.t.Logf("oidctest: /userinfo answered 401 %s: %s", code, description)
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer error=%q, error_description=%q", code, description))
	http.Error(w, "oidctest: "+description, http.StatusUnauthorized)
}

// installKey makes private the signing key under the next kid. The caller
// must hold p.mu, except in New.
func (p *Provider) installKey(private *rsa.PrivateKey) {
	p.keyCount++
	p.key = signingKey{private: private, keyID: fmt.Sprintf("oidctest-key-%d", p.keyCount)}
}

// generateRSAKey panics on failure, which only a broken crypto/rand reader
// causes. These helpers panic instead of calling t.Fatal because handlers and
// subtests call them on goroutines other than the test's.
func generateRSAKey() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("oidctest: generating an RSA key: " + err.Error())
	}
	return key
}

func publicKeyPEM(key *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		panic("oidctest: encoding the RSA public key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// randomToken returns n random bytes encoded as base64url. crypto/rand.Read
// never returns an error since Go 1.24.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func isLoopbackHTTP(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isS256Challenge reports whether challenge is an unpadded base64url
// SHA-256 digest.
func isS256Challenge(challenge string) bool {
	digest, err := base64.RawURLEncoding.DecodeString(challenge)
	return err == nil && len(digest) == sha256.Size
}

// isCodeVerifier reports whether verifier has the length and characters
// that RFC 7636 section 4.1 requires.
func isCodeVerifier(verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		isUnreserved := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)
		if !isUnreserved {
			return false
		}
	}
	return true
}

func verifierMatches(verifier, challenge string) bool {
	digest := sha256.Sum256([]byte(verifier))
	computed := base64.RawURLEncoding.EncodeToString(digest[:])
	return subtle.ConstantTimeCompare([]byte(computed), []byte(challenge)) == 1
}

// allowMethods writes 405 and returns false unless r uses one of methods.
func (p *Provider) allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	p.t.Logf("oidctest: %s %s rejected with 405, allowed methods: %s", r.Method, r.URL.Path, strings.Join(methods, ", "))
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, fmt.Sprintf("oidctest: method %s not allowed, use %s", r.Method, strings.Join(methods, " or ")), http.StatusMethodNotAllowed)
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
