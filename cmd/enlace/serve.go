package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/store/sqlstore"
	"github.com/enlace-auth/enlace/tenant"
	"github.com/enlace-auth/enlace/web"
)

// shutdownTimeout bounds how long in-flight requests may finish on stop.
const shutdownTimeout = 15 * time.Second

// sessionSweepInterval is how often expired sessions are deleted.
const sessionSweepInterval = time.Hour

// serve runs the HTTP server until ctx ends, then drains it.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	store, err := openKV(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()

	// The key encrypts TOTP and client secrets; loading it now makes a bad
	// key file fail at start rather than at first use.
	if _, err := loadSecretKey(cfg, log); err != nil {
		return err
	}

	server, err := build(ctx, cfg, log, db, store)
	if err != nil {
		return err
	}

	var background sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer func() {
		stopBackground()
		background.Wait()
	}()
	server.start(bgCtx, &background)

	addr := net.JoinHostPort("", strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	log.Info("enlace listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(),
		"database", db.Dialect(), "redis", cfg.RedisURL != "", "multi_tenant", cfg.MultiTenant)

	served := make(chan error, 1)
	go func() { served <- server.api.App().Listener(ln) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", shutdownTimeout.String())
	if err := server.api.App().ShutdownWithTimeout(shutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// components is the wired application.
type components struct {
	log      *slog.Logger
	kv       kv.Store
	resolver *tenant.Resolver
	sessions *accounts.Sessions
	api      *api.Server
}

// build wires the services and the HTTP layer over db and store.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger, db *sqlstore.DB, store kv.Store) (*components, error) {
	now := time.Now

	tenants := tenant.NewService(db, store, now)
	if _, err := tenants.EnsureDefault(ctx); err != nil {
		return nil, err
	}
	resolver := tenant.NewResolver(db, cfg.MultiTenant, cfg.TenantBaseDomain, now)

	sessions := accounts.NewSessions(db, store, now, cfg.SessionIdleTimeout, cfg.SessionMaxAge)
	recorder := audit.NewRecorder(db, log, now)
	svc := accounts.NewService(db, accounts.NewHasher(accounts.OWASPParams), sessions, recorder, now)

	opts := api.Options{
		BaseURL:        cfg.BaseURL,
		TrustedProxies: cfg.TrustedProxies,
		Require2FA:     cfg.Require2FA,
		SecureCookies:  cfg.SecureCookies(),
		RateLimits:     api.DefaultRateLimits(),
		Readiness: []api.Checker{
			{Name: "database", Check: db.Ping},
			{Name: "kv", Check: store.Ping},
		},
	}
	pages := web.New(log)
	opts.RenderErrorPage = pages.RenderError
	server := api.New(log, opts, resolver, svc, sessions, store, now)
	pages.Mount(server)

	return &components{log: log, kv: store, resolver: resolver, sessions: sessions, api: server}, nil
}

// start runs the background work: cache invalidation listeners and the
// expired-session sweep. Each goroutine ends when ctx does.
func (c *components) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(3)
	go func() {
		defer wg.Done()
		_ = c.kv.Subscribe(ctx, tenant.InvalidationChannel,
			func(string) { c.resolver.Invalidate() }, c.resolver.Invalidate)
	}()
	go func() {
		defer wg.Done()
		_ = c.kv.Subscribe(ctx, accounts.SessionInvalidationChannel,
			c.sessions.HandleInvalidation, c.sessions.ResetCache)
	}()
	go func() {
		defer wg.Done()
		c.sweepSessions(ctx)
	}()
}

func (c *components) sweepSessions(ctx context.Context) {
	ticker := time.NewTicker(sessionSweepInterval)
	defer ticker.Stop()
	for {
		n, err := c.sessions.DeleteExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("expired sessions not deleted", "error", err)
		case n > 0:
			c.log.Info("deleted expired sessions", "count", n)
		}

		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
