package api

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/tenant"
)

// The tenant admin operations in this file back both the JSON handlers in
// admin.go and the /admin pages, so both apply the same checks.

// CheckAdmin returns a 403 error unless the request's user is an admin of
// the request's tenant.
func CheckAdmin(c *fiber.Ctx) error {
	if p := Principal(c); p == nil || !p.User.IsAdmin {
		return errNotAdmin
	}
	return nil
}

// IdPState is a tenant's identity provider settings as admins see them.
type IdPState struct {
	// Configured is false when the tenant has no settings, and then
	// Settings is the zero value.
	Configured bool
	// Settings has an empty ClientSecret, because the secret is
	// write-only towards clients.
	Settings        tenant.IdPSettings
	ClientSecretSet bool
	// DefaultRedirectURL is the callback URL in force when
	// Settings.RedirectURL is empty.
	DefaultRedirectURL string
}

// IdPState reads t's identity provider settings without the client secret.
func (s *Server) IdPState(c *fiber.Ctx, t *tenant.Tenant) (IdPState, error) {
	settings, err := s.idpAdmin.Settings(c.UserContext(), t)
	if err != nil && !errors.Is(err, tenant.ErrNoIdP) {
		return IdPState{}, err
	}
	redirect, err2 := s.defaultRedirectURL(c, t)
	if err2 != nil {
		return IdPState{}, err2
	}

	state := IdPState{Configured: err == nil, ClientSecretSet: settings.ClientSecret != "", DefaultRedirectURL: redirect}
	settings.ClientSecret = ""
	state.Settings = settings
	return state, nil
}

// SaveIdP validates settings, checks that the issuer's discovery document
// loads and names the same issuer, and stores the settings for t. An empty
// ClientSecret keeps the stored one, and empty Scopes mean
// tenant.DefaultScopes. Invalid settings and failed discovery return a 400
// error.
func (s *Server) SaveIdP(c *fiber.Ctx, t *tenant.Tenant, settings tenant.IdPSettings) error {
	settings.IssuerURL = strings.TrimSpace(settings.IssuerURL)
	settings.ClientID = strings.TrimSpace(settings.ClientID)
	settings.RedirectURL = strings.TrimSpace(settings.RedirectURL)
	if len(settings.Scopes) == 0 {
		settings.Scopes = append([]string(nil), tenant.DefaultScopes...)
	}
	if err := tenant.ValidateIdP(settings); err != nil {
		return newError(fiber.StatusBadRequest, "invalid_idp_settings", "%s", strings.TrimPrefix(err.Error(), tenant.ErrInvalid.Error()+": "))
	}

	if _, err := s.rp.Providers().Discover(c.UserContext(), settings.IssuerURL); err != nil {
		return discoveryError(err)
	}

	if err := s.idpAdmin.Set(c.UserContext(), t.ID, settings); err != nil {
		return err
	}
	s.recordSettings(c, t.ID, "idp.updated", map[string]string{"issuer": settings.IssuerURL})
	return nil
}

// DeleteIdP removes t's stored identity provider settings, or returns a
// 404 error when it has none.
func (s *Server) DeleteIdP(c *fiber.Ctx, t *tenant.Tenant) error {
	if err := s.idpAdmin.Delete(c.UserContext(), t.ID); err != nil {
		return notFoundAs(err, newError(fiber.StatusNotFound, "idp_not_found", "this tenant has no stored identity provider settings"))
	}
	s.recordSettings(c, t.ID, "idp.deleted", nil)
	return nil
}

// IdPTestResult is the outcome of discovery at an issuer. A provider that
// fails discovery gives OK false and Error, not a Go error.
type IdPTestResult struct {
	OK                    bool
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	UserinfoEndpoint      string
	JWKSURI               string
	SigningAlgorithms     []string
	Error                 string
}

// DiscoverIdP runs discovery for issuer, or for the request tenant's
// stored issuer when issuer is empty, and reports what the provider offers
// or what is wrong. It returns a 400 error when issuer is empty and the
// tenant has no settings.
func (s *Server) DiscoverIdP(c *fiber.Ctx, issuer string) (IdPTestResult, error) {
	issuer = strings.TrimSpace(issuer)
	if issuer == "" {
		settings, err := s.idpAdmin.Settings(c.UserContext(), currentTenant(c))
		if err != nil {
			return IdPTestResult{}, newError(fiber.StatusBadRequest, "issuer_required", "send issuer_url, or save identity provider settings first")
		}
		issuer = settings.IssuerURL
	}

	cfg, err := s.rp.Providers().Discover(c.UserContext(), issuer)
	if err != nil {
		e, ok := ClientError(discoveryError(err))
		if !ok {
			return IdPTestResult{}, err
		}
		return IdPTestResult{Issuer: issuer, Error: e.Message}, nil
	}
	return IdPTestResult{OK: true, Issuer: cfg.IssuerURL, AuthorizationEndpoint: cfg.AuthURL, TokenEndpoint: cfg.TokenURL,
		UserinfoEndpoint: cfg.UserInfoURL, JWKSURI: cfg.JWKSURL, SigningAlgorithms: cfg.Algorithms}, nil
}

// UpdatePolicy changes the sign-in policy of the request's tenant: the
// non-nil fields of u except Name, because only platform operators rename
// tenants. An invalid allowed email domain returns an error that wraps
// tenant.ErrInvalid.
func (s *Server) UpdatePolicy(c *fiber.Ctx, u tenant.Update) (tenant.Tenant, error) {
	u.Name = nil
	t, err := s.tenantAdmin.Apply(c.UserContext(), currentTenant(c).ID, u)
	if err != nil {
		return tenant.Tenant{}, err
	}
	s.recordSettings(c, t.ID, "settings.updated", nil)
	return t, nil
}

// ReloadTenant reads the request's tenant from the store. The tenant that
// CurrentTenant returns comes from the resolver's cache, which can lag
// behind a change that this request's user just saved.
func (s *Server) ReloadTenant(c *fiber.Ctx) (tenant.Tenant, error) {
	return s.tenantAdmin.Get(c.UserContext(), currentTenant(c).ID)
}

// AuditPage returns up to limit audit events of the request's tenant,
// newest first, after cursor. A malformed cursor returns a 400 error.
func (s *Server) AuditPage(c *fiber.Ctx, cursor string, limit int) (accounts.Page[audit.Event], error) {
	return s.adminStore.AuditPage(c.UserContext(), currentTenant(c).ID, cursor, limit)
}

// ServerRequires2FA reports whether REQUIRE_2FA makes every tenant
// require two-factor sign-in, whatever its own setting.
func (s *Server) ServerRequires2FA() bool { return s.opts.Require2FA }
