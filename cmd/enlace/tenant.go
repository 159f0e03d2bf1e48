package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/oidc"
	"github.com/enlace-auth/enlace/store/sqlstore"
	"github.com/enlace-auth/enlace/tenant"
)

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func tenantCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "tenant needs a subcommand: create, list or oidc"}
	}

	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	// Other replicas learn of the change through Redis when it is configured;
	// with the in-process store a running server picks it up within a minute.
	var bus tenant.Publisher
	if cfg.RedisURL != "" {
		r, err := kv.NewRedis(cfg.RedisURL, redisKeyPrefix, log)
		if err != nil {
			return err
		}
		defer r.Close()
		bus = r
	}
	svc := tenant.NewService(db, bus, time.Now).ReserveBaseDomain(cfg.TenantBaseDomain)

	switch args[0] {
	case "create":
		return tenantCreate(ctx, svc, args[1:], stdout)
	case "list":
		return tenantList(ctx, svc, stdout)
	case "oidc":
		box, _, err := openSecretBox(cfg, log)
		if err != nil {
			return err
		}
		idp := tenant.NewIdPService(db, box, bus, nil, time.Now)
		providers := oidc.NewProviders(kv.NewMemory(time.Now), &http.Client{Timeout: 10 * time.Second}, time.Now, log)
		return tenantOIDC(ctx, db, idp, providers, args[1:], stdout)
	}
	return &usageError{msg: fmt.Sprintf("unknown tenant subcommand %q; use create, list or oidc", args[0])}
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
	stored, err := svc.Domains(ctx, t.ID)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(stored))
	for _, d := range stored {
		names = append(names, d.Domain)
	}
	if len(names) > 0 {
		fmt.Fprintf(stdout, " with domains %s", strings.Join(names, ", "))
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

// tenantOIDC sets, shows or deletes a tenant's identity provider.
func tenantOIDC(ctx context.Context, db *sqlstore.DB, idp *tenant.IdPService, providers *oidc.Providers, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "tenant oidc needs a subcommand: set, show or delete"}
	}

	fs := flag.NewFlagSet("tenant oidc "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("slug", "", "tenant slug")
	issuer := fs.String("issuer", "", "issuer URL, exactly as the provider's discovery document names it")
	clientID := fs.String("client-id", "", "OAuth client id")
	clientSecret := fs.String("client-secret", "", "OAuth client secret; omit to keep the stored one")
	redirectURL := fs.String("redirect-url", "", "callback URL registered at the provider (defaults to the tenant's own)")
	scopes := fs.String("scopes", strings.Join(tenant.DefaultScopes, " "), "space-separated scopes; must include openid")
	disabled := fs.Bool("disabled", false, "store the settings but keep SSO off")
	trustEmail := fs.Bool("insecure-trust-email", false,
		"link accounts by email even when the provider does not send email_verified (risky: see docs/oidc.md)")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{msg: err.Error()}
	}
	if *slug == "" {
		return &usageError{msg: "tenant oidc " + args[0] + " needs --slug"}
	}

	t, err := db.TenantBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("%w: no tenant with slug %q", tenant.ErrInvalid, *slug)
	}

	switch args[0] {
	case "set":
		// Discovery must succeed and name the same issuer before anything is stored.
		if _, err := providers.Discover(ctx, *issuer); err != nil {
			return fmt.Errorf("%w: %v", tenant.ErrInvalid, err)
		}
		err := idp.Set(ctx, t.ID, tenant.IdPSettings{
			Enabled: !*disabled, IssuerURL: *issuer, ClientID: *clientID, ClientSecret: *clientSecret,
			RedirectURL: *redirectURL, Scopes: strings.Fields(*scopes), InsecureTrustEmail: *trustEmail,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved identity provider %s for tenant %s\n", *issuer, t.Slug)
		return nil
	case "show":
		s, err := idp.Settings(ctx, &t)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enabled: %t\nissuer: %s\nclient_id: %s\nclient_secret: %s\nredirect_url: %s\nscopes: %s\ninsecure_trust_email: %t\n",
			s.Enabled, s.IssuerURL, s.ClientID, redacted(s.ClientSecret), s.RedirectURL, strings.Join(s.Scopes, " "), s.InsecureTrustEmail)
		return nil
	case "delete":
		if err := idp.Delete(ctx, t.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted identity provider of tenant %s\n", t.Slug)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown tenant oidc subcommand %q; use set, show or delete", args[0])}
}

// redacted shows whether a secret is set without showing it.
func redacted(secret string) string {
	if secret == "" {
		return "(none)"
	}
	return "(set)"
}
