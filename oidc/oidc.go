// Package oidc is Enlace's OpenID Connect relying party: cached discovery
// and signing keys, the authorization request with state, nonce and PKCE,
// the state store, the code exchange, the ID token and userinfo checks and
// claim normalisation. It reports the user as the provider identifies them;
// package accounts decides which local user that is.
package oidc

import "errors"

// Errors of the sign-in flow, one per check, in the order the callback runs
// them. Their messages are shown to the user on the sign-in page.
var (
	ErrNotEnabled  = errors.New("OIDC is not enabled")
	ErrUnavailable = errors.New("identity provider cannot be reached; try again later")

	ErrStateMissing  = errors.New("missing state parameter; start the sign-in again")
	ErrStateUnknown  = errors.New("sign-in attempt expired or was already used; start the sign-in again")
	ErrStateMismatch = errors.New("state mismatch")
	ErrProvider      = errors.New("identity provider returned an error")
	ErrCodeMissing   = errors.New("missing authorization code")
	ErrExchange      = errors.New("token exchange with the identity provider failed")
	ErrIDToken       = errors.New("ID token rejected")
	ErrUserinfo      = errors.New("userinfo rejected")
	ErrClaims        = errors.New("identity provider returned invalid claims")
)

// Claims are the facts about the user that a verified sign-in established.
type Claims struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}
