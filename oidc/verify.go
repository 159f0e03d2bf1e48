package oidc

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// idTokenClaims are the registered claims that the checks read.
type idTokenClaims struct {
	Issuer          string      `json:"iss"`
	Subject         string      `json:"sub"`
	Audience        audience    `json:"aud"`
	AuthorizedParty string      `json:"azp"`
	Expiry          numericDate `json:"exp"`
	IssuedAt        numericDate `json:"iat"`
	Nonce           *string     `json:"nonce"`
}

// audience is the "aud" claim: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// numericDate is a JWT time in seconds since the epoch; zero when absent.
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return fmt.Errorf("time claim is not a number")
	}
	f, err := n.Float64()
	if err != nil {
		return fmt.Errorf("time claim is not a number")
	}
	d.Time = time.Unix(0, int64(f*float64(time.Second)))
	return nil
}

// tokenCheck is one step of ID token verification.
type tokenCheck func(c *idTokenClaims, want expectations) error

// expectations are the values the ID token must match.
type expectations struct {
	issuer   string
	clientID string
	nonce    string
	now      time.Time
	leeway   time.Duration
}

// verifyIDToken checks the signature of raw and then its claims, one check
// after another, and returns the verified payload.
func verifyIDToken(ctx context.Context, keys *keySet, raw string, want expectations) (idTokenClaims, []byte, error) {
	// The signature must verify with one of the provider's keys.
	payload, err := keys.verify(ctx, raw)
	if errors.Is(err, ErrUnavailable) {
		return idTokenClaims{}, nil, err
	}
	if err != nil {
		return idTokenClaims{}, nil, fmt.Errorf("%w: invalid signature: %v", ErrIDToken, err)
	}

	var claims idTokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return idTokenClaims{}, nil, fmt.Errorf("%w: malformed claims: %v", ErrIDToken, err)
	}

	for _, check := range []tokenCheck{checkIssuer, checkSubject, checkAudience, checkAuthorizedParty, checkExpiry, checkIssuedAt, checkNonce} {
		if err := check(&claims, want); err != nil {
			return idTokenClaims{}, nil, fmt.Errorf("%w: %v", ErrIDToken, err)
		}
	}
	return claims, payload, nil
}

// googleIssuer is the one provider known to send iss without its scheme:
// Google documents both "https://accounts.google.com" and
// "accounts.google.com" as valid ID token issuers.
const googleIssuer = "https://accounts.google.com"

// checkIssuer: iss must be the configured issuer exactly.
func checkIssuer(c *idTokenClaims, want expectations) error {
	if want.issuer == googleIssuer && c.Issuer == "accounts.google.com" {
		c.Issuer = googleIssuer
		return nil
	}
	if c.Issuer != want.issuer {
		return fmt.Errorf("issuer (iss) is %q, want %q", c.Issuer, want.issuer)
	}
	return nil
}

// checkSubject: sub identifies the user and must be present.
func checkSubject(c *idTokenClaims, _ expectations) error {
	if c.Subject == "" {
		return fmt.Errorf("subject (sub) is missing")
	}
	return nil
}

// checkAudience: aud must contain our client id.
func checkAudience(c *idTokenClaims, want expectations) error {
	if len(c.Audience) == 0 {
		return fmt.Errorf("audience (aud) is missing")
	}
	if !slices.Contains(c.Audience, want.clientID) {
		return fmt.Errorf("audience (aud) %q does not include client id %q", []string(c.Audience), want.clientID)
	}
	return nil
}

// checkAuthorizedParty: with several audiences azp must name us, and when
// present it must name us anyway.
func checkAuthorizedParty(c *idTokenClaims, want expectations) error {
	if len(c.Audience) > 1 && c.AuthorizedParty == "" {
		return fmt.Errorf("authorized party (azp) is missing although aud has %d entries", len(c.Audience))
	}
	if c.AuthorizedParty != "" && c.AuthorizedParty != want.clientID {
		return fmt.Errorf("authorized party (azp) is %q, want %q", c.AuthorizedParty, want.clientID)
	}
	return nil
}

// checkExpiry: exp must be present and not passed, give or take the leeway.
func checkExpiry(c *idTokenClaims, want expectations) error {
	if c.Expiry.IsZero() {
		return fmt.Errorf("expiry (exp) is missing")
	}
	if !want.now.Before(c.Expiry.Add(want.leeway)) {
		return fmt.Errorf("token expired at %s", c.Expiry.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkIssuedAt: iat must be present and not in the future beyond the leeway.
func checkIssuedAt(c *idTokenClaims, want expectations) error {
	if c.IssuedAt.IsZero() {
		return fmt.Errorf("issued-at (iat) is missing")
	}
	if c.IssuedAt.After(want.now.Add(want.leeway)) {
		return fmt.Errorf("issued-at (iat) %s is in the future", c.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkNonce: nonce must equal the one sent in the authorization request.
func checkNonce(c *idTokenClaims, want expectations) error {
	if c.Nonce == nil {
		return fmt.Errorf("nonce is missing")
	}
	if subtle.ConstantTimeCompare([]byte(*c.Nonce), []byte(want.nonce)) != 1 {
		return fmt.Errorf("nonce does not match the sign-in request")
	}
	return nil
}
