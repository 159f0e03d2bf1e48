// Package tenant owns tenants, their domains and settings, and the mapping
// from a request's host name to its tenant.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/enlace-auth/enlace/config"
)

// DefaultSlug is the slug of the built-in tenant that serves every host in
// single-tenant mode.
const DefaultSlug = "default"

var (
	// ErrUnknownTenant means no tenant serves the request's host.
	ErrUnknownTenant = errors.New("unknown tenant")
	// ErrInvalid wraps every validation failure of tenant input.
	ErrInvalid = errors.New("invalid tenant")
)

// Tenant is one organisation with its own users and settings.
type Tenant struct {
	ID                  string
	Slug                string
	Name                string
	RegistrationEnabled bool
	Require2FA          bool
	// AllowedEmailDomains limits new accounts to these email domains;
	// empty allows every domain.
	AllowedEmailDomains []string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Domain is a custom host name that serves a tenant.
type Domain struct {
	Domain    string
	TenantID  string
	IsPrimary bool
	CreatedAt time.Time
}

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// reservedSlugs would collide with host names that operators commonly use
// for other services under TENANT_BASE_DOMAIN.
var reservedSlugs = map[string]bool{
	"admin": true, "api": true, "app": true, "auth": true, "login": true,
	"mail": true, "platform": true, "static": true, "status": true, "www": true,
}

// ValidateSlug checks that slug is a lower-case DNS label that is not reserved.
func ValidateSlug(slug string) error {
	if !slugPattern.MatchString(slug) {
		return fmt.Errorf("%w: slug %q must be 1 to 63 lower-case letters, digits or hyphens, not starting or ending with a hyphen", ErrInvalid, slug)
	}
	if reservedSlugs[slug] {
		return fmt.Errorf("%w: slug %q is reserved; choose another", ErrInvalid, slug)
	}
	return nil
}

// NormalizeDomain lower-cases domain, strips a port and a trailing dot, and
// converts an internationalised name to its punycode form.
func NormalizeDomain(domain string) (string, error) {
	host := NormalizeHost(domain)

	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil || !config.IsHostname(ascii) {
		return "", fmt.Errorf("%w: domain %q is not a valid host name such as login.example.com", ErrInvalid, domain)
	}
	return ascii, nil
}

// NormalizeHost lower-cases a Host header value and strips its port and a
// trailing dot. It does not validate; an invalid host simply matches nothing.
func NormalizeHost(host string) string {
	host = strings.TrimSpace(host)
	if h, port, err := net.SplitHostPort(host); err == nil && isPort(port) {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	return strings.ToLower(host)
}

// isPort reports whether s is a decimal port number.
func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Store is the persistence the tenant package needs.
type Store interface {
	CreateTenant(ctx context.Context, t Tenant, domains []Domain) error
	EnsureTenant(ctx context.Context, t Tenant) (Tenant, error)
	TenantByID(ctx context.Context, id string) (Tenant, error)
	TenantBySlug(ctx context.Context, slug string) (Tenant, error)
	TenantByDomain(ctx context.Context, domain string) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	TenantDomains(ctx context.Context, tenantID string) ([]Domain, error)
	ListTenantsPage(ctx context.Context, afterSlug string, limit int) ([]Tenant, error)
	UpdateTenant(ctx context.Context, t Tenant) error
	DeleteTenant(ctx context.Context, id string) error
	AddDomain(ctx context.Context, d Domain) error
	RemoveDomain(ctx context.Context, tenantID, domain string) error
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
