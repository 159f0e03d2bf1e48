// Package app wires Enlace's services and HTTP layer together. The enlace
// command and the tests build the same App.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/oidc"
	"github.com/enlace-auth/enlace/platform"
	"github.com/enlace-auth/enlace/secretbox"
	"github.com/enlace-auth/enlace/store/sqlstore"
	"github.com/enlace-auth/enlace/tenant"
	"github.com/enlace-auth/enlace/web"
)

// sessionSweepInterval is how often expired sessions are deleted.
const sessionSweepInterval = time.Hour

// Options override defaults that tests need to change.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RateLimits replaces api.DefaultRateLimits when non-nil.
	RateLimits *api.RateLimits
	// HashParams replaces accounts.OWASPParams when non-nil.
	HashParams *accounts.HashParams
}

// App is the wired application.
type App struct {
	API      *api.Server
	IdP      *tenant.IdPService
	SSO      *accounts.SSO
	Tenants  *tenant.Service
	Resolver *tenant.Resolver
	Sessions *accounts.Sessions
	Accounts *accounts.Service
	DB       *sqlstore.DB
	KV       kv.Store

	log *slog.Logger
}

// Build wires the services and the HTTP layer over db and store, and makes
// sure the built-in default tenant exists.
func Build(ctx context.Context, cfg *config.Config, log *slog.Logger, db *sqlstore.DB, store kv.Store, secretKey []byte, opts Options) (*App, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	limits := api.DefaultRateLimits()
	if opts.RateLimits != nil {
		limits = *opts.RateLimits
	}
	params := accounts.OWASPParams
	if opts.HashParams != nil {
		params = *opts.HashParams
	}

	tenants := tenant.NewService(db, store, now).ReserveBaseDomain(cfg.TenantBaseDomain)
	if _, err := tenants.EnsureDefault(ctx); err != nil {
		return nil, err
	}
	resolver := tenant.NewResolver(db, cfg.MultiTenant, cfg.TenantBaseDomain, now)

	sessions := accounts.NewSessions(db, store, now, cfg.SessionIdleTimeout, cfg.SessionMaxAge)
	recorder := audit.NewRecorder(db, log, now)
	hasher, err := accounts.NewHasher(params)
	if err != nil {
		return nil, err
	}
	svc := accounts.NewService(db, hasher, sessions, recorder, now)
	sso := accounts.NewSSO(db, db, sessions, recorder, now)

	box, err := secretbox.New(secretKey, cfg.PreviousSecretKeys...)
	if err != nil {
		return nil, err
	}
	idp := tenant.NewIdPService(db, box, store, envIdP(cfg), now)
	factors := accounts.NewTwoFactor(db, db, box, accounts.RecoveryKeys(secretKey, cfg.PreviousSecretKeys), hasher, sessions, recorder, now)
	httpClient := &http.Client{Timeout: 10 * time.Second}
	rp := oidc.NewRelyingParty(oidc.NewProviders(store, httpClient, now, log), store, httpClient, now)

	pages := web.New(log)
	server := api.New(log, api.Options{
		BaseURL:          cfg.BaseURL,
		MultiTenant:      cfg.MultiTenant,
		TenantBaseDomain: cfg.TenantBaseDomain,
		TrustedProxies:   cfg.TrustedProxies,
		Require2FA:       cfg.Require2FA,
		SecureCookies:    cfg.SecureCookies(),
		RateLimits:       limits,
		RenderErrorPage:  pages.RenderError,
		Readiness: []api.Checker{
			{Name: "database", Check: db.Ping},
			{Name: "kv", Check: store.Ping},
		},
	}, api.Deps{
		Tenants:   resolver,
		Domains:   tenants,
		Accounts:  svc,
		Sessions:  sessions,
		SSO:       sso,
		IdP:       idp,
		RP:        rp,
		TwoFactor: factors,
		Platform:  platform.NewTokens(db, cfg.PlatformToken, now),

		TenantAdmin: tenants,
		IdPAdmin:    idp,
		AdminStore:  db,
		Audit:       recorder,

		Counter: store,
		Pending: store,
		Now:     now,
	})
	pages.Mount(server)

	return &App{
		API:      server,
		IdP:      idp,
		SSO:      sso,
		Tenants:  tenants,
		Resolver: resolver,
		Sessions: sessions,
		Accounts: svc,
		DB:       db,
		KV:       store,
		log:      log,
	}, nil
}

// envIdP returns the OIDC_* settings for the default tenant, or nil.
func envIdP(cfg *config.Config) *tenant.IdPSettings {
	if cfg.OIDC.IssuerURL == "" && !cfg.OIDC.Enabled {
		return nil
	}
	return &tenant.IdPSettings{
		Enabled:      cfg.OIDC.Enabled,
		IssuerURL:    cfg.OIDC.IssuerURL,
		ClientID:     cfg.OIDC.ClientID,
		ClientSecret: cfg.OIDC.ClientSecret,
		RedirectURL:  cfg.OIDC.RedirectURL,
		Scopes:       cfg.OIDC.Scopes,
	}
}

// Start runs the background work until ctx ends: the cache invalidation
// listeners and the expired-session sweep. Wait on wg after cancelling ctx.
func (a *App) Start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(3)
	go func() {
		defer wg.Done()
		_ = a.KV.Subscribe(ctx, tenant.InvalidationChannel,
			func(string) { a.Resolver.Invalidate() }, a.Resolver.Invalidate)
	}()
	go func() {
		defer wg.Done()
		_ = a.KV.Subscribe(ctx, accounts.SessionInvalidationChannel,
			a.Sessions.HandleInvalidation, a.Sessions.ResetCache)
	}()
	go func() {
		defer wg.Done()
		a.sweepSessions(ctx)
	}()
}

func (a *App) sweepSessions(ctx context.Context) {
	ticker := time.NewTicker(sessionSweepInterval)
	defer ticker.Stop()
	for {
		n, err := a.Sessions.DeleteExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("expired sessions not deleted", "error", err)
		case n > 0:
			a.log.Info("deleted expired sessions", "count", n)
		}

		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
