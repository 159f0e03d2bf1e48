// Package api is Enlace's HTTP layer: the Fiber app, its middleware, the
// JSON endpoints and the one place that maps errors to status codes.
package api

import (
	"context"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/oidc"
	"github.com/enlace-auth/enlace/platform"
	"github.com/enlace-auth/enlace/tenant"
)

// TenantResolver maps a request host to its tenant.
type TenantResolver interface {
	Resolve(ctx context.Context, host string) (*tenant.Tenant, error)
}

// Checker is a dependency that /readyz checks, such as the database.
type Checker struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options are the settings of the HTTP layer.
type Options struct {
	BaseURL          *url.URL
	MultiTenant      bool
	TenantBaseDomain string
	TrustedProxies   []netip.Prefix
	Require2FA       bool
	SecureCookies    bool
	RateLimits       RateLimits
	Readiness        []Checker
	// RenderErrorPage writes an error for a page request (outside /api/).
	// When nil, pages get the JSON error body.
	RenderErrorPage func(c *fiber.Ctx, status int, message string) error
}

// Deps are the services behind the handlers.
type Deps struct {
	Tenants   TenantResolver
	Domains   DomainLister
	Accounts  *accounts.Service
	Sessions  *accounts.Sessions
	SSO       *accounts.SSO
	IdP       IdPSettings
	RP        *oidc.RelyingParty
	TwoFactor *accounts.TwoFactor
	Platform  *platform.Tokens
	// TenantAdmin and IdPAdmin change tenants and their providers.
	TenantAdmin *tenant.Service
	IdPAdmin    *tenant.IdPService
	AdminStore  AdminStore
	Audit       *audit.Recorder
	Counter     Counter
	Pending     PendingStore
	Now         func() time.Time
}

// PendingStore keeps sign-ins that wait for a second factor.
type PendingStore interface {
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Get(ctx context.Context, key string) ([]byte, error)
	Take(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
}

// DomainLister returns a tenant's custom domains, primary first.
type DomainLister interface {
	Domains(ctx context.Context, tenantID string) ([]tenant.Domain, error)
}

// IdPSettings returns the identity provider settings of a tenant.
type IdPSettings interface {
	Settings(ctx context.Context, t *tenant.Tenant) (tenant.IdPSettings, error)
}

// Server holds the dependencies of the handlers.
type Server struct {
	app      *fiber.App
	log      *slog.Logger
	opts     Options
	tenants  TenantResolver
	domains  DomainLister
	accounts *accounts.Service
	sessions *accounts.Sessions
	sso      *accounts.SSO
	idp      IdPSettings
	rp       *oidc.RelyingParty
	factors  *accounts.TwoFactor
	pending  PendingStore

	platform    *platform.Tokens
	tenantAdmin *tenant.Service
	idpAdmin    *tenant.IdPService
	adminStore  AdminStore
	audit       *audit.Recorder
	limiter     *Limiter
	now         func() time.Time
	requests    requestCounts
}

// New builds the Fiber app with all middleware and API routes. Pages are
// mounted on App() by the web package.
func New(log *slog.Logger, opts Options, deps Deps) *Server {
	s := &Server{
		log:      log,
		opts:     opts,
		tenants:  deps.Tenants,
		domains:  deps.Domains,
		accounts: deps.Accounts,
		sessions: deps.Sessions,
		sso:      deps.SSO,
		idp:      deps.IdP,
		rp:       deps.RP,
		factors:  deps.TwoFactor,
		pending:  deps.Pending,

		platform:    deps.Platform,
		tenantAdmin: deps.TenantAdmin,
		idpAdmin:    deps.IdPAdmin,
		adminStore:  deps.AdminStore,
		audit:       deps.Audit,
		limiter:     NewLimiter(deps.Counter),
		now:         deps.Now,
	}

	s.app = fiber.New(fiber.Config{
		AppName:               "enlace",
		BodyLimit:             maxBodyBytes,
		ErrorHandler:          s.handleError,
		DisableStartupMessage: true,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           120 * time.Second,
		// The Server header would only tell attackers what runs here.
		ServerHeader: "",
	})
	s.routes()
	return s
}

// App returns the Fiber app, to mount pages on and to serve.
func (s *Server) App() *fiber.App { return s.app }

func (s *Server) routes() {
	app := s.app
	app.Use(s.recoverPanics, s.requestContext, s.accessLog, s.securityHeaders)

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metrics)
	app.Get("/api/v1/openapi.json", s.openAPI)
	s.platformRoutes()

	app.Use(s.resolveTenant, s.checkOrigin, s.loadSession)

	v1 := app.Group("/api/v1")
	v1.Get("/auth/config", s.authConfig)
	v1.Post("/auth/register", s.register)
	v1.Post("/auth/login", s.login)
	v1.Post("/auth/logout", s.logout)
	v1.Get("/auth/verify", s.verify)
	v1.Get("/auth/oidc/login", s.oidcLogin)
	v1.Get("/auth/oidc/callback", s.oidcCallback)

	v1.Post("/auth/2fa/verify", s.verifyTwoFactor)
	v1.Post("/auth/2fa/recovery", s.verifyRecoveryCode)

	// A pending 2FA set-up reaches only status, setup and confirm; every
	// other /me route needs a full session.
	v1.Get("/me/2fa/status", s.requireSessionOrSetup, s.twoFactorStatus)
	v1.Post("/me/2fa/setup", s.requireSessionOrSetup, s.twoFactorSetup)
	v1.Post("/me/2fa/confirm", s.requireSessionOrSetup, s.twoFactorConfirm)
	v1.Post("/me/2fa/disable", s.requireSession, s.twoFactorDisable)
	v1.Post("/me/2fa/recovery-codes", s.requireSession, s.twoFactorRecoveryCodes)

	v1.Get("/me", s.requireSession, s.me)
	v1.Patch("/me", s.requireSession, s.updateMe)
	v1.Put("/me/password", s.requireSession, s.changePassword)
	v1.Get("/me/sessions", s.requireSession, s.listSessions)
	v1.Delete("/me/sessions/:id", s.requireSession, s.revokeSession)
	v1.Get("/me/oidc/link", s.requireSession, s.oidcLink)
	v1.Delete("/me/oidc", s.requireSession, s.oidcUnlink)

	s.adminRoutes(v1)
}

// Sessions returns the session manager, for the pages.
func (s *Server) Sessions() *accounts.Sessions { return s.sessions }

// SSO returns the SSO service, for the pages.
func (s *Server) SSO() *accounts.SSO { return s.sso }

// Accounts returns the accounts service, for the pages.
func (s *Server) Accounts() *accounts.Service { return s.accounts }

// TwoFactor returns the 2FA service, for the pages.
func (s *Server) TwoFactor() *accounts.TwoFactor { return s.factors }
