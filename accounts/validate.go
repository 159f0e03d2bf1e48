package accounts

import (
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on user input.
const (
	MinPasswordLength    = 8
	MaxPasswordLength    = 256
	MaxEmailLength       = 254
	MaxDisplayNameLength = 100
)

// ValidationError lists the invalid fields of a request, each with a
// message that states what is accepted.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)

	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, name+": "+e.Fields[name])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

type fieldErrors map[string]string

func (f fieldErrors) add(field, message string) {
	if _, ok := f[field]; !ok {
		f[field] = message
	}
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// NormalizeEmail returns the form of an email address that uniqueness and
// look-ups compare: trimmed and lower-cased.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// checkEmail validates a plain address such as "ada@example.com"; display
// names and angle brackets are not accepted.
func checkEmail(f fieldErrors, email string) {
	switch {
	case email == "":
		f.add("email", "is required")
	case len(email) > MaxEmailLength:
		f.add("email", fmt.Sprintf("is longer than %d bytes", MaxEmailLength))
	case !validEmail(email):
		f.add("email", "must be a valid email address such as name@example.com")
	}
}

// validEmail accepts a bare RFC 5322 address whose domain has a dot or is
// localhost.
func validEmail(email string) bool {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return false
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	if strings.HasPrefix(domain, "[") {
		return false // domain literals such as [127.0.0.1] are not deliverable mailboxes here
	}
	return strings.Contains(domain, ".") || domain == "localhost"
}

func checkPassword(f fieldErrors, field, password string) {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		f.add(field, "is required")
	case !utf8.ValidString(password):
		f.add(field, "must be valid UTF-8 text")
	case n < MinPasswordLength:
		f.add(field, fmt.Sprintf("must be at least %d characters long", MinPasswordLength))
	case n > MaxPasswordLength:
		f.add(field, fmt.Sprintf("must be at most %d characters long", MaxPasswordLength))
	}
}

func checkDisplayName(f fieldErrors, name string) {
	switch {
	case !utf8.ValidString(name):
		f.add("display_name", "must be valid UTF-8 text")
	case utf8.RuneCountInString(name) > MaxDisplayNameLength:
		f.add("display_name", fmt.Sprintf("must be at most %d characters long", MaxDisplayNameLength))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		f.add("display_name", "must not contain control characters")
	}
}

// emailDomainAllowed reports whether email's domain is in allowed; an
// empty list allows every domain.
func emailDomainAllowed(email string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	for _, a := range allowed {
		if strings.EqualFold(domain, a) {
			return true
		}
	}
	return false
}
