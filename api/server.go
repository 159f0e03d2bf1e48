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
	"github.com/enlace-auth/enlace/oidc"
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
	Tenants  TenantResolver
	Domains  DomainLister
	Accounts *accounts.Service
	Sessions *accounts.Sessions
	SSO      *accounts.SSO
	IdP      IdPSettings
	RP       *oidc.RelyingParty
	Counter  Counter
	Now      func() time.Time
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
	limiter  *Limiter
	now      func() time.Time
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
		limiter:  NewLimiter(deps.Counter),
		now:      deps.Now,
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

	app.Use(s.resolveTenant, s.checkOrigin, s.loadSession)

	v1 := app.Group("/api/v1")
	v1.Get("/auth/config", s.authConfig)
	v1.Post("/auth/register", s.register)
	v1.Post("/auth/login", s.login)
	v1.Post("/auth/logout", s.logout)
	v1.Get("/auth/verify", s.verify)
	v1.Get("/auth/oidc/login", s.oidcLogin)
	v1.Get("/auth/oidc/callback", s.oidcCallback)

	me := v1.Group("/me", s.requireSession)
	me.Get("", s.me)
	me.Patch("", s.updateMe)
	me.Put("/password", s.changePassword)
	me.Get("/sessions", s.listSessions)
	me.Delete("/sessions/:id", s.revokeSession)
	me.Get("/oidc/link", s.oidcLink)
	me.Delete("/oidc", s.oidcUnlink)
}

// Sessions returns the session manager, for the pages.
func (s *Server) Sessions() *accounts.Sessions { return s.sessions }

// SSO returns the SSO service, for the pages.
func (s *Server) SSO() *accounts.SSO { return s.sso }

// Accounts returns the accounts service, for the pages.
func (s *Server) Accounts() *accounts.Service { return s.accounts }
