package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Flows of a sign-in attempt.
const (
	FlowLogin = "login"
	FlowLink  = "link"
)

const (
	// StateTTL is how long a sign-in attempt may take at the provider.
	StateTTL = 10 * time.Minute
	// clockLeeway is the clock skew tolerated on exp and iat.
	clockLeeway = time.Minute
)

// StateStore keeps sign-in attempts; Take must be atomic so each state is
// used at most once, even across replicas.
type StateStore interface {
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Get(ctx context.Context, key string) ([]byte, error)
	Take(ctx context.Context, key string) ([]byte, error)
}

// Config is the tenant's provider as one flow needs it.
type Config struct {
	TenantID     string
	IssuerURL    string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Scopes       []string
}

// RelyingParty runs sign-in flows against any tenant's provider.
type RelyingParty struct {
	providers *Providers
	states    StateStore
	client    *http.Client
	now       func() time.Time
}

// NewRelyingParty returns a RelyingParty.
func NewRelyingParty(providers *Providers, states StateStore, client *http.Client, now func() time.Time) *RelyingParty {
	return &RelyingParty{providers: providers, states: states, client: client, now: now}
}

// Providers returns the discovery cache.
func (rp *RelyingParty) Providers() *Providers { return rp.providers }

// state is one sign-in attempt, stored under its state value.
type state struct {
	TenantID     string    `json:"tenant_id"`
	Flow         string    `json:"flow"`
	UserID       string    `json:"user_id,omitempty"`
	ReturnTo     string    `json:"return_to"`
	Nonce        string    `json:"nonce"`
	CodeVerifier string    `json:"code_verifier"`
	Browser      string    `json:"browser"` // SHA-256 of the browser cookie
	RedirectURL  string    `json:"redirect_url"`
	CreatedAt    time.Time `json:"created_at"`
}

func stateKey(tenantID, value string) string { return "oidc:state:" + tenantID + ":" + value }

func hashBrowser(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewBrowserID returns a random id for the browser-binding cookie.
func NewBrowserID() string { return randomString(32) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// StartRequest starts a sign-in or link attempt.
type StartRequest struct {
	Config   Config
	Flow     string
	UserID   string // the signed-in user, for FlowLink
	ReturnTo string // a same-origin path, already checked
	// BrowserID is the value of the browser-binding cookie.
	BrowserID string
}

// Start stores a new attempt and returns the provider's authorization URL
// with state, nonce and a PKCE S256 challenge.
func (rp *RelyingParty) Start(ctx context.Context, req StartRequest) (string, error) {
	provider, err := rp.providers.Get(ctx, req.Config.IssuerURL)
	if err != nil {
		return "", err
	}

	value := randomString(32)
	st := state{
		TenantID:     req.Config.TenantID,
		Flow:         req.Flow,
		UserID:       req.UserID,
		ReturnTo:     req.ReturnTo,
		Nonce:        randomString(32),
		CodeVerifier: oauth2.GenerateVerifier(),
		Browser:      hashBrowser(req.BrowserID),
		RedirectURL:  req.Config.RedirectURL,
		CreatedAt:    rp.now().UTC(),
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("oidc: encode state: %w", err)
	}
	if err := rp.states.Set(ctx, stateKey(st.TenantID, value), raw, StateTTL); err != nil {
		return "", fmt.Errorf("oidc: store state: %w", err)
	}

	oauth := rp.oauthConfig(req.Config, provider)
	return oauth.AuthCodeURL(value, oauth2.S256ChallengeOption(st.CodeVerifier), gooidc.Nonce(st.Nonce)), nil
}

func (rp *RelyingParty) oauthConfig(c Config, p *Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.Config.AuthURL, TokenURL: p.Config.TokenURL},
		RedirectURL:  c.RedirectURL,
		Scopes:       c.Scopes,
	}
}

// Callback is the provider's redirect back to Enlace.
type Callback struct {
	Config           Config
	State            string
	Code             string
	Error            string
	ErrorDescription string
	BrowserID        string
}

// Result is a completed attempt.
type Result struct {
	Flow     string
	UserID   string
	ReturnTo string
	Claims   Claims
}

// Finish runs the callback checks in order, each failing with its own
// error: state present and known, same browser, provider error, code
// present, code exchange, ID token, then claims. It writes nothing but the
// deletion of the used state.
func (rp *RelyingParty) Finish(ctx context.Context, cb Callback) (Result, error) {
	st, err := rp.takeState(ctx, cb)
	if err != nil {
		return Result{}, err
	}
	result := Result{Flow: st.Flow, UserID: st.UserID, ReturnTo: st.ReturnTo}

	// The provider may report that the user cancelled or was refused.
	if cb.Error != "" {
		return result, providerError(cb.Error, cb.ErrorDescription)
	}

	// A successful redirect carries a code.
	if cb.Code == "" {
		return result, ErrCodeMissing
	}

	provider, err := rp.providers.Get(ctx, cb.Config.IssuerURL)
	if err != nil {
		return result, err
	}

	// Exchange the code, proving possession of the PKCE verifier.
	cfg := cb.Config
	cfg.RedirectURL = st.RedirectURL
	httpCtx := context.WithValue(ctx, oauth2.HTTPClient, rp.client)
	token, err := rp.oauthConfig(cfg, provider).Exchange(httpCtx, cb.Code, oauth2.VerifierOption(st.CodeVerifier))
	if err != nil {
		return result, fmt.Errorf("%w: %s", ErrExchange, exchangeReason(err))
	}
	rawIDToken, _ := token.Extra("id_token").(string)
	if rawIDToken == "" {
		return result, fmt.Errorf("%w: the token response has no id_token", ErrIDToken)
	}

	// Verify the ID token: signature, iss, aud, azp, exp, iat, nonce.
	idClaims, payload, err := verifyIDToken(ctx, provider.keys, rawIDToken, expectations{
		issuer: cb.Config.IssuerURL, clientID: cb.Config.ClientID, nonce: st.Nonce,
		now: rp.now(), leeway: clockLeeway,
	})
	if err != nil {
		return result, err
	}

	// Read the user claims, from userinfo when the token has no email.
	claims, err := normalizeClaims(payload)
	if err != nil {
		return result, err
	}
	if claims.Email == "" && provider.Config.UserInfoURL != "" {
		if claims, err = rp.userinfoClaims(httpCtx, provider, token, idClaims.Subject, claims); err != nil {
			return result, err
		}
	}
	claims.Issuer, claims.Subject = idClaims.Issuer, idClaims.Subject
	result.Claims = claims
	return result, nil
}

// takeState checks that the state is present, known and from this browser,
// then consumes it.
func (rp *RelyingParty) takeState(ctx context.Context, cb Callback) (state, error) {
	// The state must be present.
	if cb.State == "" {
		return state{}, ErrStateMissing
	}
	key := stateKey(cb.Config.TenantID, cb.State)

	// The state must be known: issued by this tenant, not expired, not used.
	raw, err := rp.states.Get(ctx, key)
	if err != nil {
		return state{}, ErrStateUnknown
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return state{}, ErrStateUnknown
	}

	// The browser that finishes must be the one that started.
	if cb.BrowserID == "" || subtle.ConstantTimeCompare([]byte(hashBrowser(cb.BrowserID)), []byte(st.Browser)) != 1 {
		return state{}, ErrStateMismatch
	}

	// Consume it; of two concurrent callbacks only one gets past here.
	if _, err := rp.states.Take(ctx, key); err != nil {
		return state{}, ErrStateUnknown
	}
	return st, nil
}

// userinfoClaims takes the email from userinfo, which counts only when it
// describes the same subject as the ID token.
func (rp *RelyingParty) userinfoClaims(ctx context.Context, p *Provider, token *oauth2.Token, subject string, fromToken Claims) (Claims, error) {
	info, err := p.oidc.UserInfo(ctx, oauth2.StaticTokenSource(token))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: request failed: %v", ErrUserinfo, err)
	}
	if info.Subject != subject {
		return Claims{}, fmt.Errorf("%w: userinfo subject %q does not match the ID token subject %q", ErrUserinfo, info.Subject, subject)
	}

	var raw json.RawMessage
	if err := info.Claims(&raw); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrUserinfo, err)
	}
	claims, err := normalizeClaims(raw)
	if err != nil {
		return Claims{}, err
	}
	if claims.Name == "" {
		claims.Name = fromToken.Name
	}
	return claims, nil
}

// providerError turns the error parameters of the redirect into a message.
// The description is the provider's text, cut short and stripped of
// control characters.
func providerError(code, description string) error {
	clean := func(s string, n int) string {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, s)
		if len(s) > n {
			s = s[:n]
		}
		return strings.ToValidUTF8(s, "")
	}
	if description == "" {
		return fmt.Errorf("%w: %s", ErrProvider, clean(code, 64))
	}
	return fmt.Errorf("%w: %s: %s", ErrProvider, clean(code, 64), clean(description, 200))
}

// exchangeReason names why the token endpoint refused, without echoing a
// response body that could be large or carry secrets.
func exchangeReason(err error) string {
	var retrieve *oauth2.RetrieveError
	if errors.As(err, &retrieve) {
		if retrieve.ErrorCode != "" {
			return "the provider returned error " + retrieve.ErrorCode
		}
		return fmt.Sprintf("the provider returned HTTP %d", retrieve.Response.StatusCode)
	}
	return "the provider could not be reached"
}
