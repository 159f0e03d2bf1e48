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
	BaseURL        *url.URL
	TrustedProxies []netip.Prefix
	Require2FA     bool
	SecureCookies  bool
	RateLimits     RateLimits
	Readiness      []Checker
	// RenderErrorPage writes an error for a page request (outside /api/).
	// When nil, pages get the JSON error body.
	RenderErrorPage func(c *fiber.Ctx, status int, message string) error
}

// Server holds the dependencies of the handlers.
type Server struct {
	app      *fiber.App
	log      *slog.Logger
	opts     Options
	tenants  TenantResolver
	accounts *accounts.Service
	sessions *accounts.Sessions
	limiter  *Limiter
	now      func() time.Time
}

// New builds the Fiber app with all middleware and API routes. Pages are
// mounted on App() by the web package.
func New(log *slog.Logger, opts Options, tenants TenantResolver, svc *accounts.Service,
	sessions *accounts.Sessions, counter Counter, now func() time.Time) *Server {
	s := &Server{
		log:      log,
		opts:     opts,
		tenants:  tenants,
		accounts: svc,
		sessions: sessions,
		limiter:  NewLimiter(counter),
		now:      now,
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

	me := v1.Group("/me", s.requireSession)
	me.Get("", s.me)
	me.Patch("", s.updateMe)
	me.Put("/password", s.changePassword)
	me.Get("/sessions", s.listSessions)
	me.Delete("/sessions/:id", s.revokeSession)
}

// Sessions returns the session manager, for the pages.
func (s *Server) Sessions() *accounts.Sessions { return s.sessions }
