package accounts

import (
	"errors"
	"strings"
	"testing"
)

func TestValidEmail(t *testing.T) {
	tests := []struct {
		name  string
		email string
		want  bool
	}{
		{"plain", "ada@example.com", true},
		{"subdomain", "ada@mail.example.co.uk", true},
		{"plus tag", "ada+tag@example.com", true},
		{"localhost", "ada@localhost", true},
		{"display name", "Ada <a@b.c>", false},
		{"angle brackets", "<ada@example.com>", false},
		{"missing at", "ada.example.com", false},
		{"empty local part", "@example.com", false},
		{"no dot domain", "ada@example", false},
		{"trailing dot domain", "ada@example.com.", false},
		{"leading space", " ada@example.com", false},
		{"two ats", "ada@b@example.com", false},
		{"comment", "ada@example.com (Ada)", false},
		// net/mail returns the local part unquoted, so it differs from the input.
		{"quoted local part", `"ada lovelace"@example.com`, false},
		{"empty", "", false},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validEmail(tt.email); got != tt.want {
				t.Errorf("validEmail(%q): got %v, want %v", tt.email, got, tt.want)
			}
		})
	}
}

func TestCheckEmail(t *testing.T) {
	// 64 + 1 + 186 + 4 = 255 bytes, one over MaxEmailLength.
	tooLong := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"
	// 64 + 1 + 185 + 4 = 254 bytes, exactly MaxEmailLength.
	maxLength := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"

	tests := []struct {
		name        string
		email       string
		wantMessage string // substring of the email error; "" means valid
	}{
		{"valid", "ada@example.com", ""},
		{"localhost", "ada@localhost", ""},
		{"max length", maxLength, ""},
		{"empty", "", "is required"},
		{"too long", tooLong, "is longer than 254 bytes"},
		{"display name", "Ada <a@b.c>", "must be a valid email address"},
		{"missing at", "ada.example.com", "must be a valid email address"},
		{"no dot domain", "ada@example", "must be a valid email address"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fieldErrors{}
			checkEmail(f, tt.email)
			got, ok := f["email"]

			if tt.wantMessage == "" {
				if ok {
					t.Errorf("checkEmail(%q): got error %q, want none", tt.email, got)
				}
				return
			}
			if !ok {
				t.Fatalf("checkEmail(%q): got no error, want %q", tt.email, tt.wantMessage)
			}
			if !strings.Contains(got, tt.wantMessage) {
				t.Errorf("checkEmail(%q): got %q, want it to contain %q", tt.email, got, tt.wantMessage)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name        string
		password    string
		wantMessage string // "" means valid
	}{
		{"min length", "12345678", ""},
		{"max length runes", strings.Repeat("é", MaxPasswordLength), ""},
		{"multibyte counts runes", "éééééééé", ""},
		{"empty", "", "is required"},
		{"short", "1234567", "at least 8 characters"},
		{"short in runes", "ééé", "at least 8 characters"},
		{"long", strings.Repeat("a", MaxPasswordLength+1), "at most 256 characters"},
		{"invalid utf-8", "abcdefgh\xff", "valid UTF-8"},
		{"invalid utf-8 short", "\xff", "valid UTF-8"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fieldErrors{}
			checkPassword(f, "new_password", tt.password)
			got, ok := f["new_password"]

			if len(f) > 1 || (len(f) == 1 && !ok) {
				t.Errorf("checkPassword: got fields %v, want only new_password", f)
			}
			if tt.wantMessage == "" {
				if ok {
					t.Errorf("checkPassword(%q): got error %q, want none", tt.password, got)
				}
				return
			}
			if !ok {
				t.Fatalf("checkPassword(%q): got no error, want %q", tt.password, tt.wantMessage)
			}
			if !strings.Contains(got, tt.wantMessage) {
				t.Errorf("checkPassword(%q): got %q, want it to contain %q", tt.password, got, tt.wantMessage)
			}
		})
	}
}

func TestCheckDisplayName(t *testing.T) {
	tests := []struct {
		name        string
		displayName string
		wantMessage string // "" means valid
	}{
		{"empty", "", ""},
		{"plain", "Ada Lovelace", ""},
		{"unicode", "Ada Lövelace 李", ""},
		{"max length", strings.Repeat("é", MaxDisplayNameLength), ""},
		{"too long", strings.Repeat("a", MaxDisplayNameLength+1), "at most 100 characters"},
		{"newline", "Ada\nLovelace", "control characters"},
		{"tab", "Ada\tLovelace", "control characters"},
		{"nul", "Ada\x00", "control characters"},
		{"delete", "Ada\x7f", "control characters"},
		{"c1 control", "Ada\u0085", "control characters"},
		{"invalid utf-8", "Ada\xff", "valid UTF-8"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fieldErrors{}
			checkDisplayName(f, tt.displayName)
			got, ok := f["display_name"]

			if tt.wantMessage == "" {
				if ok {
					t.Errorf("checkDisplayName(%q): got error %q, want none", tt.displayName, got)
				}
				return
			}
			if !ok {
				t.Fatalf("checkDisplayName(%q): got no error, want %q", tt.displayName, tt.wantMessage)
			}
			if !strings.Contains(got, tt.wantMessage) {
				t.Errorf("checkDisplayName(%q): got %q, want it to contain %q", tt.displayName, got, tt.wantMessage)
			}
		})
	}
}

func TestValidationErrorSortsFields(t *testing.T) {
	err := &ValidationError{Fields: map[string]string{
		"password":     "is required",
		"email":        "is required",
		"display_name": "must not contain control characters",
	}}

	want := "invalid input: display_name: must not contain control characters; email: is required; password: is required"
	for range 20 {
		if got := err.Error(); got != want {
			t.Fatalf("Error(): got %q, want %q", got, want)
		}
	}
}

func TestFieldErrorsKeepsFirstMessage(t *testing.T) {
	f := fieldErrors{}
	if err := f.err(); err != nil {
		t.Errorf("err() with no fields: got %v, want nil", err)
	}

	f.add("email", "is required")
	f.add("email", "must be a valid email address")

	var validation *ValidationError
	if !errors.As(f.err(), &validation) {
		t.Fatalf("err(): got %T, want *ValidationError", f.err())
	}
	if got := validation.Fields["email"]; got != "is required" {
		t.Errorf("email message: got %q, want the first one %q", got, "is required")
	}
}

func TestEmailDomainAllowed(t *testing.T) {
	tests := []struct {
		name    string
		email   string
		allowed []string
		want    bool
	}{
		{"nil list", "ada@example.com", nil, true},
		{"empty list", "ada@example.com", []string{}, true},
		{"listed", "ada@example.com", []string{"example.com"}, true},
		{"second listed", "ada@example.org", []string{"example.com", "example.org"}, true},
		{"case insensitive", "ada@Example.COM", []string{"example.com"}, true},
		{"quoted at sign", `"a@b"@example.com`, []string{"example.com"}, true},
		{"other domain", "ada@example.net", []string{"example.com"}, false},
		{"subdomain", "ada@mail.example.com", []string{"example.com"}, false},
		{"suffix match", "ada@badexample.com", []string{"example.com"}, false},
		{"local part match", "example.com@evil.com", []string{"example.com"}, false},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := emailDomainAllowed(tt.email, tt.allowed); got != tt.want {
				t.Errorf("emailDomainAllowed(%q, %q): got %v, want %v", tt.email, tt.allowed, got, tt.want)
			}
		})
	}
}
