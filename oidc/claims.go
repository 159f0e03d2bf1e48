package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// userClaims are the claims about the user, from the ID token or userinfo.
type userClaims struct {
	Subject       string          `json:"sub"`
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	Name          string          `json:"name"`
}

// maxClaimLength bounds any single claim value Enlace keeps.
const maxClaimLength = 320

// normalizeClaims reads the user claims of a JSON object. email_verified
// counts as true only as the JSON boolean true or the string "true"; any
// other value, or none, is not verified. An email that is not a plain
// address is an error rather than silently dropped.
func normalizeClaims(payload []byte) (Claims, error) {
	var raw userClaims
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrClaims, err)
	}

	c := Claims{
		Subject:       raw.Subject,
		Email:         strings.TrimSpace(raw.Email),
		EmailVerified: isTrue(raw.EmailVerified),
		Name:          strings.TrimSpace(raw.Name),
	}

	if c.Email != "" && !plainAddress(c.Email) {
		return Claims{}, fmt.Errorf("%w: email %q is not a valid address", ErrClaims, c.Email)
	}
	if len(c.Subject) > 255 || !utf8.ValidString(c.Subject) {
		return Claims{}, fmt.Errorf("%w: sub is not valid UTF-8 of at most 255 bytes", ErrClaims)
	}
	if len(c.Name) > maxClaimLength || !utf8.ValidString(c.Name) {
		c.Name = ""
	}
	return c, nil
}

// isTrue reports whether a raw email_verified value is true or "true".
func isTrue(raw json.RawMessage) bool {
	v := bytes.TrimSpace(raw)
	return bytes.Equal(v, []byte("true")) || bytes.Equal(v, []byte(`"true"`))
}

func plainAddress(email string) bool {
	if len(email) > maxClaimLength {
		return false
	}
	addr, err := mail.ParseAddress(email)
	return err == nil && addr.Address == email && addr.Name == ""
}
