package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/oidc"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

// AdminStore is the storage that the tenant admin API reads and changes directly.
type AdminStore interface {
	ListUsers(ctx context.Context, tenantID, cursor string, limit int) (accounts.Page[accounts.User], error)
	SetUserFlags(ctx context.Context, tenantID, userID string, isAdmin, disabled bool, now time.Time) error
	AuditPage(ctx context.Context, tenantID, cursor string, limit int) (accounts.Page[audit.Event], error)
}

// adminRoutes are the tenant admins' API, on the tenant's own host.
func (s *Server) adminRoutes(v1 fiber.Router) {
	a := v1.Group("/admin", s.requireSession, s.requireAdmin)
	a.Get("/oidc", func(c *fiber.Ctx) error { return s.respondIdP(c, currentTenant(c)) })
	a.Put("/oidc", func(c *fiber.Ctx) error { return s.putIdP(c, currentTenant(c)) })
	a.Delete("/oidc", func(c *fiber.Ctx) error { return s.deleteIdP(c, currentTenant(c)) })
	a.Post("/oidc/test", s.testIdP)
	a.Get("/settings", s.getSettings)
	a.Patch("/settings", s.patchSettings)
	a.Get("/audit", s.listAudit)
	a.Get("/users", s.listUsers)
	a.Patch("/users/:id", s.patchUser)
}

var errNotAdmin = newError(fiber.StatusForbidden, "admin_required", "this needs an admin of this organisation")

func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if err := CheckAdmin(c); err != nil {
		return err
	}
	return c.Next()
}

// canonicalUUID returns id in the lower-case hyphenated form that Enlace
// stores. uuid.Parse also accepts upper case, no hyphens, braces and a
// urn:uuid: prefix. Comparing ids in those forms as strings would let one
// user pass for another.
func canonicalUUID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// notFoundAs replaces store.ErrNotFound with a specific 404.
func notFoundAs(err error, notFound *Error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	return err
}

func encodeSlugCursor(slug string) string { return base64.RawURLEncoding.EncodeToString([]byte(slug)) }

func decodeSlugCursor(cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || tenant.ValidateSlug(string(raw)) != nil && string(raw) != tenant.DefaultSlug {
		return "", fmt.Errorf("%w: cursor", store.ErrInvalidCursor)
	}
	return string(raw), nil
}

type idpJSON struct {
	Configured         bool      `json:"configured"`
	Enabled            bool      `json:"enabled"`
	IssuerURL          string    `json:"issuer_url"`
	ClientID           string    `json:"client_id"`
	ClientSecretSet    bool      `json:"client_secret_set"`
	RedirectURL        string    `json:"redirect_url"`
	DefaultRedirectURL string    `json:"default_redirect_url"`
	Scopes             []string  `json:"scopes"`
	InsecureTrustEmail bool      `json:"insecure_trust_email"`
	UpdatedAt          time.Time `json:"updated_at,omitzero"`
}

// respondIdP writes the tenant's IdP settings with the secret left out.
func (s *Server) respondIdP(c *fiber.Ctx, t *tenant.Tenant) error {
	state, err := s.IdPState(c, t)
	if err != nil {
		return err
	}
	settings := state.Settings
	scopes := settings.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(idpJSON{
		Configured: state.Configured, Enabled: settings.Enabled, IssuerURL: settings.IssuerURL, ClientID: settings.ClientID,
		ClientSecretSet: state.ClientSecretSet, RedirectURL: settings.RedirectURL, DefaultRedirectURL: state.DefaultRedirectURL,
		Scopes: scopes, InsecureTrustEmail: settings.InsecureTrustEmail, UpdatedAt: settings.UpdatedAt,
	})
}

type putIdPRequest struct {
	Enabled            *bool    `json:"enabled"`
	IssuerURL          string   `json:"issuer_url"`
	ClientID           string   `json:"client_id"`
	ClientSecret       string   `json:"client_secret"`
	RedirectURL        string   `json:"redirect_url"`
	Scopes             []string `json:"scopes"`
	InsecureTrustEmail bool     `json:"insecure_trust_email"`
}

// putIdP validates the settings, checks the issuer by discovery and stores
// them. An empty client_secret keeps the stored one.
func (s *Server) putIdP(c *fiber.Ctx, t *tenant.Tenant) error {
	var req putIdPRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	settings := tenant.IdPSettings{
		Enabled: req.Enabled == nil || *req.Enabled, IssuerURL: req.IssuerURL, ClientID: req.ClientID,
		ClientSecret: req.ClientSecret, RedirectURL: req.RedirectURL, Scopes: req.Scopes,
		InsecureTrustEmail: req.InsecureTrustEmail,
	}
	if err := s.SaveIdP(c, t, settings); err != nil {
		return err
	}
	return s.respondIdP(c, t)
}

// discoveryError explains a failed discovery as a client error.
func discoveryError(err error) error {
	if errors.Is(err, oidc.ErrIssuerMismatch) {
		return newError(fiber.StatusBadRequest, "issuer_mismatch", "%s", strings.TrimPrefix(err.Error(), oidc.ErrIssuerMismatch.Error()+": "))
	}
	if errors.Is(err, oidc.ErrUnavailable) {
		return newError(fiber.StatusBadRequest, "issuer_unreachable", "identity provider discovery failed: %s",
			strings.TrimPrefix(err.Error(), oidc.ErrUnavailable.Error()+": "))
	}
	return err
}

func (s *Server) deleteIdP(c *fiber.Ctx, t *tenant.Tenant) error {
	if err := s.DeleteIdP(c, t); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type testIdPRequest struct {
	IssuerURL string `json:"issuer_url"`
}

type testIdPResponse struct {
	OK                    bool     `json:"ok"`
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint,omitempty"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI               string   `json:"jwks_uri,omitempty"`
	SigningAlgorithms     []string `json:"id_token_signing_alg_values_supported,omitempty"`
	Error                 string   `json:"error,omitempty"`
}

// testIdP runs discovery for the given issuer, or the stored one, and
// reports what the provider offers or what is wrong.
func (s *Server) testIdP(c *fiber.Ctx) error {
	var req testIdPRequest
	if len(c.Body()) > 0 {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	res, err := s.DiscoverIdP(c, req.IssuerURL)
	if err != nil {
		return err
	}
	return c.JSON(testIdPResponse{OK: res.OK, Issuer: res.Issuer, AuthorizationEndpoint: res.AuthorizationEndpoint,
		TokenEndpoint: res.TokenEndpoint, UserinfoEndpoint: res.UserinfoEndpoint, JWKSURI: res.JWKSURI,
		SigningAlgorithms: res.SigningAlgorithms, Error: res.Error})
}

func (s *Server) getSettings(c *fiber.Ctx) error {
	return c.JSON(settingsOf(*currentTenant(c)))
}

type patchSettingsRequest struct {
	RegistrationEnabled *bool     `json:"registration_enabled"`
	Require2FA          *bool     `json:"require_2fa"`
	AllowedEmailDomains *[]string `json:"allowed_email_domains"`
}

func (s *Server) patchSettings(c *fiber.Ctx) error {
	var req patchSettingsRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	t, err := s.UpdatePolicy(c, tenant.Update{
		RegistrationEnabled: req.RegistrationEnabled, Require2FA: req.Require2FA, AllowedEmailDomains: req.AllowedEmailDomains,
	})
	if err != nil {
		return err
	}
	return c.JSON(settingsOf(t))
}

type auditJSON struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	UserID    string            `json:"user_id,omitempty"`
	IP        string            `json:"ip"`
	RequestID string            `json:"request_id"`
	Details   map[string]string `json:"details,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	limit, err := pageSize(c)
	if err != nil {
		return err
	}
	page, err := s.AuditPage(c, c.Query("cursor"), limit)
	if err != nil {
		return err
	}
	out := listResponse[auditJSON]{Items: make([]auditJSON, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, e := range page.Items {
		out.Items = append(out.Items, auditJSON{ID: e.ID, Type: e.Type, UserID: e.UserID, IP: e.IP, RequestID: e.RequestID,
			Details: e.Details, CreatedAt: e.CreatedAt})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

type adminUserJSON struct {
	userResponse
	Disabled bool `json:"disabled"`
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	limit, err := pageSize(c)
	if err != nil {
		return err
	}
	page, err := s.adminStore.ListUsers(c.UserContext(), currentTenant(c).ID, c.Query("cursor"), limit)
	if err != nil {
		return err
	}
	out := listResponse[adminUserJSON]{Items: make([]adminUserJSON, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, u := range page.Items {
		out.Items = append(out.Items, adminUserJSON{userResponse: s.userJSON(c, u), Disabled: u.Disabled})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

type patchUserRequest struct {
	IsAdmin  *bool `json:"is_admin"`
	Disabled *bool `json:"disabled"`
}

func (s *Server) patchUser(c *fiber.Ctx) error {
	var req patchUserRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	t, p := currentTenant(c), Principal(c)
	errUser := newError(fiber.StatusNotFound, "user_not_found", "user not found in this organisation")
	id, ok := canonicalUUID(c.Params("id"))
	if !ok {
		return errUser
	}
	u, err := s.accounts.User(ctx, t.ID, id)
	if err != nil {
		return notFoundAs(errors.Unwrap(err), errUser)
	}

	isAdmin, disabled := u.IsAdmin, u.Disabled
	if req.IsAdmin != nil {
		isAdmin = *req.IsAdmin
	}
	if req.Disabled != nil {
		disabled = *req.Disabled
	}
	// Admins cannot lock themselves out; another admin must do it.
	if id == p.User.ID && (!isAdmin || disabled) {
		return newError(fiber.StatusBadRequest, "self_lockout", "you cannot remove your own admin rights or disable yourself")
	}

	if err := s.adminStore.SetUserFlags(ctx, t.ID, id, isAdmin, disabled, s.now().UTC()); err != nil {
		return notFoundAs(err, errUser)
	}
	if disabled {
		if err := s.sessions.RevokeOthers(ctx, t.ID, id, ""); err != nil {
			return err
		}
	}
	s.sessions.InvalidateUser(ctx, id)
	s.recordSettings(c, t.ID, "user.updated", map[string]string{"target_user_id": id, "is_admin": fmt.Sprint(isAdmin), "disabled": fmt.Sprint(disabled)})

	u, err = s.accounts.User(ctx, t.ID, id)
	if err != nil {
		return err
	}
	return c.JSON(adminUserJSON{userResponse: s.userJSON(c, u), Disabled: u.Disabled})
}

// recordSettings stores an audit event of an admin change.
func (s *Server) recordSettings(c *fiber.Ctx, tenantID, eventType string, details map[string]string) {
	userID := ""
	if p := Principal(c); p != nil {
		userID = p.User.ID
	} else if name, ok := c.Locals(keyPlatformToken).(string); ok {
		details = withDetail(details, "platform_token", name)
	}
	s.audit.Record(c.UserContext(), audit.Event{TenantID: tenantID, UserID: userID, Type: eventType,
		IP: client(c).IP, RequestID: client(c).RequestID, Details: details})
}

func withDetail(details map[string]string, k, v string) map[string]string {
	if details == nil {
		details = map[string]string{}
	}
	details[k] = v
	return details
}
