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

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/internal/app"
)

// shutdownTimeout bounds how long in-flight requests may finish on stop.
const shutdownTimeout = 15 * time.Second

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

	// The key encrypts TOTP and identity provider client secrets.
	key, err := loadSecretKey(cfg, log)
	if err != nil {
		return err
	}

	server, err := app.Build(ctx, cfg, log, db, store, key, app.Options{})
	if err != nil {
		return err
	}

	var background sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer func() {
		stopBackground()
		background.Wait()
	}()
	server.Start(bgCtx, &background)

	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	log.Info("enlace listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(),
		"database", db.Dialect(), "redis", cfg.RedisURL != "", "multi_tenant", cfg.MultiTenant)

	served := make(chan error, 1)
	go func() { served <- server.API.App().Listener(ln) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", shutdownTimeout.String())
	if err := server.API.App().ShutdownWithTimeout(shutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
