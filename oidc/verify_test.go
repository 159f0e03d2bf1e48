package oidc

import (
	"strings"
	"testing"
	"time"
)

func TestTokenChecks(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	want := expectations{issuer: "https://idp.example", clientID: "client", nonce: "n", now: now, leeway: time.Minute}
	nonce := "n"
	valid := func() idTokenClaims {
		return idTokenClaims{Issuer: "https://idp.example", Subject: "s", Audience: audience{"client"},
			Expiry: numericDate{now.Add(time.Minute)}, IssuedAt: numericDate{now}, Nonce: &nonce}
	}

	cases := []struct {
		name   string
		change func(c *idTokenClaims)
		want   string // empty for success
	}{
		{"valid", func(*idTokenClaims) {}, ""},
		{"expired within leeway", func(c *idTokenClaims) { c.Expiry = numericDate{now.Add(-30 * time.Second)} }, ""},
		{"expired", func(c *idTokenClaims) { c.Expiry = numericDate{now.Add(-2 * time.Minute)} }, "token expired"},
		{"no expiry", func(c *idTokenClaims) { c.Expiry = numericDate{} }, "expiry (exp) is missing"},
		{"iat ahead within leeway", func(c *idTokenClaims) { c.IssuedAt = numericDate{now.Add(30 * time.Second)} }, ""},
		{"iat in future", func(c *idTokenClaims) { c.IssuedAt = numericDate{now.Add(time.Hour)} }, "in the future"},
		{"wrong issuer", func(c *idTokenClaims) { c.Issuer = "https://other.example" }, "issuer (iss)"},
		{"no subject", func(c *idTokenClaims) { c.Subject = "" }, "subject (sub) is missing"},
		{"two audiences no azp", func(c *idTokenClaims) { c.Audience = audience{"client", "x"} }, "authorized party (azp) is missing"},
		{"two audiences with azp", func(c *idTokenClaims) { c.Audience = audience{"client", "x"}; c.AuthorizedParty = "client" }, ""},
		{"foreign azp", func(c *idTokenClaims) { c.AuthorizedParty = "x" }, "authorized party (azp)"},
		{"no nonce", func(c *idTokenClaims) { c.Nonce = nil }, "nonce is missing"},
	}
	checks := []tokenCheck{checkIssuer, checkSubject, checkAudience, checkAuthorizedParty, checkExpiry, checkIssuedAt, checkNonce}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			var got string
			for _, check := range checks {
				if err := check(&c, want); err != nil {
					got = err.Error()
					break
				}
			}
			if tc.want == "" && got != "" {
				t.Fatalf("rejected: %s", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("error = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

func TestGoogleIssuerWithoutScheme(t *testing.T) {
	c := idTokenClaims{Issuer: "accounts.google.com"}
	if err := checkIssuer(&c, expectations{issuer: googleIssuer}); err != nil {
		t.Errorf("Google's scheme-less issuer rejected: %v", err)
	}
	other := idTokenClaims{Issuer: "accounts.google.com"}
	if err := checkIssuer(&other, expectations{issuer: "https://idp.example"}); err == nil {
		t.Errorf("scheme-less Google issuer accepted for another provider")
	}
}
