package oidc

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestNormalizeClaims(t *testing.T) {
	cases := []struct {
		name     string
		payload  string
		email    string
		verified bool
		err      bool
	}{
		{"bool true", `{"sub":"1","email":"a@example.com","email_verified":true}`, "a@example.com", true, false},
		{"string true", `{"sub":"1","email":"a@example.com","email_verified":"true"}`, "a@example.com", true, false},
		{"bool false", `{"sub":"1","email":"a@example.com","email_verified":false}`, "a@example.com", false, false},
		{"string false", `{"sub":"1","email":"a@example.com","email_verified":"false"}`, "a@example.com", false, false},
		{"string TRUE", `{"sub":"1","email":"a@example.com","email_verified":"TRUE"}`, "a@example.com", false, false},
		{"number one", `{"sub":"1","email":"a@example.com","email_verified":1}`, "a@example.com", false, false},
		{"missing", `{"sub":"1","email":"a@example.com"}`, "a@example.com", false, false},
		{"null", `{"sub":"1","email":"a@example.com","email_verified":null}`, "a@example.com", false, false},
		{"no email", `{"sub":"1","email_verified":true}`, "", true, false},
		{"spaces trimmed", `{"sub":"1","email":"  a@example.com "}`, "a@example.com", false, false},
		{"display name form", `{"sub":"1","email":"A <a@example.com>"}`, "", false, true},
		{"email not string", `{"sub":"1","email":42}`, "", false, true},
		{"not object", `[1,2]`, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := normalizeClaims([]byte(tc.payload))
			if tc.err {
				if !errors.Is(err, ErrClaims) {
					t.Fatalf("error = %v, want ErrClaims", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if c.Email != tc.email {
				t.Errorf("email = %q, want %q", c.Email, tc.email)
			}
			if c.EmailVerified != tc.verified {
				t.Errorf("email verified = %t, want %t", c.EmailVerified, tc.verified)
			}
		})
	}
}

func FuzzNormalizeClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"1","email":"a@example.com","email_verified":true,"name":"A"}`))
	f.Add([]byte(`{"email_verified":"true"}`))
	f.Add([]byte(`{"email":"\u0000@x"}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := normalizeClaims(payload)
		if err != nil {
			if !errors.Is(err, ErrClaims) {
				t.Fatalf("error %v does not wrap ErrClaims", err)
			}
			return
		}

		// Verified only for the JSON boolean true or the string "true".
		if c.EmailVerified {
			var raw struct {
				EmailVerified json.RawMessage `json:"email_verified"`
			}
			_ = json.Unmarshal(payload, &raw)
			if v := string(raw.EmailVerified); v != "true" && v != `"true"` {
				t.Errorf("email_verified %s read as true", v)
			}
		}
		if c.Email != "" && !plainAddress(c.Email) {
			t.Errorf("accepted email %q is not a plain address", c.Email)
		}
		if !utf8.ValidString(c.Subject) || !utf8.ValidString(c.Name) {
			t.Errorf("claims hold invalid UTF-8")
		}
	})
}
