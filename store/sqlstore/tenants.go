package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

var _ tenant.Store = (*DB)(nil)

const tenantColumns = `t.id, t.slug, t.name, t.registration_enabled, t.require_2fa, t.allowed_email_domains, t.created_at, t.updated_at`

func scanTenant(row interface{ Scan(...any) error }) (tenant.Tenant, error) {
	var t tenant.Tenant
	var domains string
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.RegistrationEnabled, &t.Require2FA, &domains, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return tenant.Tenant{}, err
	}
	t.AllowedEmailDomains = splitList(domains)
	return t, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (d *DB) CreateTenant(ctx context.Context, t tenant.Tenant, domains []tenant.Domain) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if err := d.insertTenant(ctx, tx, t); err != nil {
			return err
		}
		for _, dom := range domains {
			_, err := d.exec(ctx, tx,
				`INSERT INTO tenant_domains (domain, tenant_id, is_primary, created_at) VALUES (?, ?, ?, ?)`,
				dom.Domain, t.ID, dom.IsPrimary, ts(dom.CreatedAt))
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: domain %q belongs to another tenant", store.ErrConflict, dom.Domain)
			}
			if err != nil {
				return fmt.Errorf("sqlstore: insert domain: %w", err)
			}
		}
		return nil
	})
}

func (d *DB) insertTenant(ctx context.Context, q querier, t tenant.Tenant) error {
	_, err := d.exec(ctx, q, `
		INSERT INTO tenants (id, slug, name, registration_enabled, require_2fa, allowed_email_domains, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Slug, t.Name, t.RegistrationEnabled, t.Require2FA, strings.Join(t.AllowedEmailDomains, ","),
		ts(t.CreatedAt), ts(t.UpdatedAt))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: slug %q is taken", store.ErrConflict, t.Slug)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert tenant: %w", err)
	}
	return nil
}

// EnsureTenant inserts t unless a tenant with its slug exists, and returns
// the stored tenant either way.
func (d *DB) EnsureTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error) {
	_, err := d.exec(ctx, d.db, `
		INSERT INTO tenants (id, slug, name, registration_enabled, require_2fa, allowed_email_domains, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (slug) DO NOTHING`,
		t.ID, t.Slug, t.Name, t.RegistrationEnabled, t.Require2FA, strings.Join(t.AllowedEmailDomains, ","),
		ts(t.CreatedAt), ts(t.UpdatedAt))
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("sqlstore: insert tenant: %w", err)
	}
	return d.TenantBySlug(ctx, t.Slug)
}

func (d *DB) TenantByID(ctx context.Context, id string) (tenant.Tenant, error) {
	t, err := scanTenant(d.queryRow(ctx, d.db, `SELECT `+tenantColumns+` FROM tenants t WHERE t.id = ?`, id))
	return t, d.scanErr(err)
}

func (d *DB) TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	t, err := scanTenant(d.queryRow(ctx, d.db, `SELECT `+tenantColumns+` FROM tenants t WHERE t.slug = ?`, slug))
	return t, d.scanErr(err)
}

func (d *DB) TenantByDomain(ctx context.Context, domain string) (tenant.Tenant, error) {
	t, err := scanTenant(d.queryRow(ctx, d.db, `
		SELECT `+tenantColumns+` FROM tenants t
		JOIN tenant_domains td ON td.tenant_id = t.id
		WHERE td.domain = ?`, domain))
	return t, d.scanErr(err)
}

func (d *DB) ListTenants(ctx context.Context) ([]tenant.Tenant, error) {
	return d.queryTenants(ctx, `SELECT `+tenantColumns+` FROM tenants t ORDER BY t.slug`)
}

// queryTenants runs a query selecting tenantColumns and scans every row.
func (d *DB) queryTenants(ctx context.Context, query string, args ...any) ([]tenant.Tenant, error) {
	rows, err := d.query(ctx, d.db, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list tenants: %w", err)
	}
	defer rows.Close()

	var out []tenant.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: scan tenant: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (d *DB) TenantDomains(ctx context.Context, tenantID string) ([]tenant.Domain, error) {
	rows, err := d.query(ctx, d.db, `
		SELECT domain, tenant_id, is_primary, created_at FROM tenant_domains
		WHERE tenant_id = ? ORDER BY is_primary DESC, domain`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list domains: %w", err)
	}
	defer rows.Close()

	var out []tenant.Domain
	for rows.Next() {
		var dom tenant.Domain
		if err := rows.Scan(&dom.Domain, &dom.TenantID, &dom.IsPrimary, &dom.CreatedAt); err != nil {
			return nil, fmt.Errorf("sqlstore: scan domain: %w", err)
		}
		out = append(out, dom)
	}
	return out, rows.Err()
}
