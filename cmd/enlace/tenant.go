package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/tenant"
)

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func tenantCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "tenant needs a subcommand: create or list"}
	}

	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	// Other replicas learn of the change through Redis when it is configured;
	// with the in-process store a running server sees it within a minute.
	var bus tenant.Publisher
	if cfg.RedisURL != "" {
		r, err := kv.NewRedis(cfg.RedisURL, redisKeyPrefix, log)
		if err != nil {
			return err
		}
		defer r.Close()
		bus = r
	}
	svc := tenant.NewService(db, bus, time.Now)

	switch args[0] {
	case "create":
		return tenantCreate(ctx, svc, args[1:], stdout)
	case "list":
		return tenantList(ctx, svc, stdout)
	}
	return &usageError{msg: fmt.Sprintf("unknown tenant subcommand %q; use create or list", args[0])}
}

func tenantCreate(ctx context.Context, svc *tenant.Service, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("slug", "", "tenant slug: a lower-case DNS label, also its host under TENANT_BASE_DOMAIN")
	name := fs.String("name", "", "display name (defaults to the slug)")
	var domains listFlag
	fs.Var(&domains, "domain", "custom domain serving the tenant; repeat for several, the first is primary")
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error()}
	}
	if *slug == "" {
		return &usageError{msg: "tenant create needs --slug"}
	}

	t, err := svc.Create(ctx, tenant.CreateInput{Slug: *slug, Name: *name, Domains: domains})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created tenant %s (id %s)", t.Slug, t.ID)
	if len(domains) > 0 {
		fmt.Fprintf(stdout, " with domains %s", strings.Join(domains, ", "))
	}
	fmt.Fprintln(stdout)
	return nil
}

func tenantList(ctx context.Context, svc *tenant.Service, stdout io.Writer) error {
	tenants, err := svc.List(ctx)
	if err != nil {
		return err
	}

	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SLUG\tNAME\tID\tDOMAINS")
	for _, t := range tenants {
		domains, err := svc.Domains(ctx, t.ID)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(domains))
		for _, d := range domains {
			names = append(names, d.Domain)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Slug, t.Name, t.ID, strings.Join(names, ","))
	}
	return w.Flush()
}
