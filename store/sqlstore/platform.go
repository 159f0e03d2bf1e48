package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/platform"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

var _ platform.TokenStore = (*DB)(nil)

func (d *DB) CreatePlatformToken(ctx context.Context, t platform.Token) error {
	_, err := d.exec(ctx, d.db, `INSERT INTO platform_tokens (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)`,
		t.ID, t.Name, t.Hash, ts(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert platform token: %w", err)
	}
	return nil
}

func (d *DB) PlatformTokenByHash(ctx context.Context, hash string) (platform.Token, error) {
	var t platform.Token
	var revoked sql.NullTime
	err := d.queryRow(ctx, d.db, `SELECT id, name, token_hash, created_at, revoked_at FROM platform_tokens WHERE token_hash = ?`, hash).
		Scan(&t.ID, &t.Name, &t.Hash, &t.CreatedAt, &revoked)
	if err != nil {
		return platform.Token{}, d.scanErr(err)
	}
	t.Revoked = revoked.Valid
	return t, nil
}

func (d *DB) ListPlatformTokens(ctx context.Context) ([]platform.Token, error) {
	rows, err := d.query(ctx, d.db, `SELECT id, name, token_hash, created_at, revoked_at FROM platform_tokens ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list platform tokens: %w", err)
	}
	defer rows.Close()

	var out []platform.Token
	for rows.Next() {
		var t platform.Token
		var revoked sql.NullTime
		if err := rows.Scan(&t.ID, &t.Name, &t.Hash, &t.CreatedAt, &revoked); err != nil {
			return nil, fmt.Errorf("sqlstore: scan platform token: %w", err)
		}
		t.Revoked = revoked.Valid
		out = append(out, t)
	}
	return out, rows.Err()
}

func (d *DB) RevokePlatformToken(ctx context.Context, id string, now time.Time) error {
	res, err := d.exec(ctx, d.db, `UPDATE platform_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ts(now), id)
	if err != nil {
		return fmt.Errorf("sqlstore: revoke platform token: %w", err)
	}
	return rowsAffected(res)
}

// ListTenantsPage returns tenants ordered by slug, after the cursor slug.
func (d *DB) ListTenantsPage(ctx context.Context, after string, limit int) ([]tenant.Tenant, error) {
	return d.queryTenants(ctx, `SELECT `+tenantColumns+` FROM tenants t WHERE t.slug > ? ORDER BY t.slug LIMIT ?`, after, limit)
}

func (d *DB) UpdateTenant(ctx context.Context, t tenant.Tenant) error {
	res, err := d.exec(ctx, d.db, `
		UPDATE tenants SET name = ?, registration_enabled = ?, require_2fa = ?, allowed_email_domains = ?, updated_at = ?
		WHERE id = ?`, t.Name, t.RegistrationEnabled, t.Require2FA, strings.Join(t.AllowedEmailDomains, ","), ts(t.UpdatedAt), t.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: update tenant: %w", err)
	}
	return rowsAffected(res)
}

// DeleteTenant removes a tenant; foreign keys cascade to all it owns.
func (d *DB) DeleteTenant(ctx context.Context, id string) error {
	res, err := d.exec(ctx, d.db, `DELETE FROM tenants WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete tenant: %w", err)
	}
	return rowsAffected(res)
}

// AddDomain adds a domain; primary makes it the only primary domain.
func (d *DB) AddDomain(ctx context.Context, dom tenant.Domain) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if dom.IsPrimary {
			if _, err := d.exec(ctx, tx, `UPDATE tenant_domains SET is_primary = ? WHERE tenant_id = ?`, false, dom.TenantID); err != nil {
				return fmt.Errorf("sqlstore: clear primary domain: %w", err)
			}
		}
		_, err := d.exec(ctx, tx, `INSERT INTO tenant_domains (domain, tenant_id, is_primary, created_at) VALUES (?, ?, ?, ?)`,
			dom.Domain, dom.TenantID, dom.IsPrimary, ts(dom.CreatedAt))
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: domain %q is already in use", store.ErrConflict, dom.Domain)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: insert domain: %w", err)
		}
		return nil
	})
}

// RemoveDomain deletes a domain of the tenant; when it was primary, the
// oldest remaining domain becomes primary.
func (d *DB) RemoveDomain(ctx context.Context, tenantID, domain string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := d.exec(ctx, tx, `DELETE FROM tenant_domains WHERE tenant_id = ? AND domain = ?`, tenantID, domain)
		if err != nil {
			return fmt.Errorf("sqlstore: delete domain: %w", err)
		}
		if err := rowsAffected(res); err != nil {
			return err
		}
		var primaries int
		if err := d.queryRow(ctx, tx, `SELECT COUNT(*) FROM tenant_domains WHERE tenant_id = ? AND is_primary`, tenantID).Scan(&primaries); err != nil {
			return err
		}
		if primaries > 0 {
			return nil
		}
		_, err = d.exec(ctx, tx, `UPDATE tenant_domains SET is_primary = ? WHERE domain = (
			SELECT domain FROM tenant_domains WHERE tenant_id = ? ORDER BY created_at, domain LIMIT 1)`, true, tenantID)
		return err
	})
}

// ListUsers returns a tenant's users ordered by creation, after the cursor.
func (d *DB) ListUsers(ctx context.Context, tenantID, cursor string, limit int) (accounts.Page[accounts.User], error) {
	var page accounts.Page[accounts.User]
	query := `SELECT ` + userColumns + ` FROM users u WHERE u.tenant_id = ?`
	args := []any{tenantID}
	if cursor != "" {
		after, id, err := decodeCursor(cursor)
		if err != nil {
			return page, err
		}
		query += ` AND (u.created_at > ? OR (u.created_at = ? AND u.id > ?))`
		args = append(args, after, after, id)
	}
	query += ` ORDER BY u.created_at, u.id LIMIT ?`
	args = append(args, limit+1)

	rows, err := d.query(ctx, d.db, query, args...)
	if err != nil {
		return page, fmt.Errorf("sqlstore: list users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u accounts.User
		if err := rows.Scan(userDest(&u)...); err != nil {
			return page, fmt.Errorf("sqlstore: scan user: %w", err)
		}
		page.Items = append(page.Items, u)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	return trimPage(page, limit, func(u accounts.User) (time.Time, string) { return u.CreatedAt, u.ID }), nil
}

func (d *DB) SetUserFlags(ctx context.Context, tenantID, userID string, isAdmin, disabled bool, now time.Time) error {
	res, err := d.exec(ctx, d.db, `UPDATE users SET is_admin = ?, disabled = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		isAdmin, disabled, ts(now), tenantID, userID)
	if err != nil {
		return fmt.Errorf("sqlstore: update user: %w", err)
	}
	return rowsAffected(res)
}

// AuditPage returns a tenant's events, newest first, after the cursor.
func (d *DB) AuditPage(ctx context.Context, tenantID, cursor string, limit int) (accounts.Page[audit.Event], error) {
	var page accounts.Page[audit.Event]
	query := `SELECT id, tenant_id, user_id, type, ip, request_id, details, created_at FROM audit_events WHERE tenant_id = ?`
	args := []any{tenantID}
	if cursor != "" {
		before, id, err := decodeCursor(cursor)
		if err != nil {
			return page, err
		}
		query += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, before, before, id)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := d.query(ctx, d.db, query, args...)
	if err != nil {
		return page, fmt.Errorf("sqlstore: list audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e audit.Event
		var userID sql.NullString
		var details string
		if err := rows.Scan(&e.ID, &e.TenantID, &userID, &e.Type, &e.IP, &e.RequestID, &details, &e.CreatedAt); err != nil {
			return page, fmt.Errorf("sqlstore: scan audit event: %w", err)
		}
		e.UserID = userID.String
		e.Details = audit.DecodeDetails(details)
		page.Items = append(page.Items, e)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	return trimPage(page, limit, func(e audit.Event) (time.Time, string) { return e.CreatedAt, e.ID }), nil
}
