package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/audit"
)

var _ accounts.Store = (*DB)(nil)

const userColumns = `u.id, u.tenant_id, u.email, u.display_name, COALESCE(u.password_hash, ''), u.is_admin, u.disabled,
	EXISTS (SELECT 1 FROM external_identities ei WHERE ei.user_id = u.id),
	EXISTS (SELECT 1 FROM totp_secrets ts WHERE ts.user_id = u.id AND ts.enabled),
	u.created_at, u.updated_at`

func userDest(u *accounts.User) []any {
	return []any{&u.ID, &u.TenantID, &u.Email, &u.DisplayName, &u.PasswordHash, &u.IsAdmin, &u.Disabled,
		&u.OIDCLinked, &u.TOTPEnabled, &u.CreatedAt, &u.UpdatedAt}
}

// CreateUser inserts u and makes it admin when the tenant has no user yet.
func (d *DB) CreateUser(ctx context.Context, u accounts.User) (accounts.User, error) {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		return d.insertUser(ctx, tx, &u)
	})
	if err != nil {
		return accounts.User{}, err
	}
	return d.UserByID(ctx, u.TenantID, u.ID)
}

// insertUser inserts u inside tx, setting IsAdmin for a tenant's first
// user. The tenant row is locked so two first sign-ups cannot both become
// admin.
func (d *DB) insertUser(ctx context.Context, tx *sql.Tx, u *accounts.User) error {
	var id string
	err := d.queryRow(ctx, tx, `SELECT id FROM tenants WHERE id = ?`+d.dialect.forUpdate, u.TenantID).Scan(&id)
	if err != nil {
		return fmt.Errorf("sqlstore: lock tenant: %w", d.scanErr(err))
	}

	var hasUsers bool
	if err := d.queryRow(ctx, tx, `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = ?)`, u.TenantID).Scan(&hasUsers); err != nil {
		return fmt.Errorf("sqlstore: check for users: %w", err)
	}
	u.IsAdmin = !hasUsers

	_, err = d.exec(ctx, tx, `
		INSERT INTO users (id, tenant_id, email, email_normalized, display_name, password_hash, is_admin, disabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.TenantID, u.Email, accounts.NormalizeEmail(u.Email), u.DisplayName, nullString(u.PasswordHash),
		u.IsAdmin, u.Disabled, ts(u.CreatedAt), ts(u.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert user: %w", err)
	}
	return nil
}

func (d *DB) UserByID(ctx context.Context, tenantID, id string) (accounts.User, error) {
	var u accounts.User
	err := d.queryRow(ctx, d.db, `SELECT `+userColumns+` FROM users u WHERE u.tenant_id = ? AND u.id = ?`,
		tenantID, id).Scan(userDest(&u)...)
	return u, d.scanErr(err)
}

func (d *DB) UserByEmail(ctx context.Context, tenantID, email string) (accounts.User, error) {
	var u accounts.User
	err := d.queryRow(ctx, d.db, `SELECT `+userColumns+` FROM users u WHERE u.tenant_id = ? AND u.email_normalized = ?`,
		tenantID, accounts.NormalizeEmail(email)).Scan(userDest(&u)...)
	return u, d.scanErr(err)
}

func (d *DB) UpdateDisplayName(ctx context.Context, tenantID, id, displayName string, now time.Time) error {
	res, err := d.exec(ctx, d.db, `UPDATE users SET display_name = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		displayName, ts(now), tenantID, id)
	if err != nil {
		return fmt.Errorf("sqlstore: update display name: %w", err)
	}
	return rowsAffected(res)
}

func (d *DB) UpdatePasswordHash(ctx context.Context, tenantID, id, hash string, now time.Time) error {
	res, err := d.exec(ctx, d.db, `UPDATE users SET password_hash = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		hash, ts(now), tenantID, id)
	if err != nil {
		return fmt.Errorf("sqlstore: update password hash: %w", err)
	}
	return rowsAffected(res)
}

func (d *DB) AppendAuditEvent(ctx context.Context, e audit.Event) error {
	_, err := d.exec(ctx, d.db, `
		INSERT INTO audit_events (id, tenant_id, user_id, type, ip, request_id, details, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.TenantID, nullString(e.UserID), e.Type, e.IP, e.RequestID, audit.EncodeDetails(e.Details), ts(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert audit event: %w", err)
	}
	return nil
}

func (d *DB) AppendAuditEvents(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	var query strings.Builder
	query.WriteString(`INSERT INTO audit_events (id, tenant_id, user_id, type, ip, request_id, details, created_at) VALUES `)
	args := make([]any, 0, 8*len(events))
	for i, e := range events {
		if i > 0 {
			query.WriteString(", ")
		}
		query.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, e.ID, e.TenantID, nullString(e.UserID), e.Type, e.IP, e.RequestID, audit.EncodeDetails(e.Details), ts(e.CreatedAt))
	}
	if _, err := d.exec(ctx, d.db, query.String(), args...); err != nil {
		return fmt.Errorf("sqlstore: insert audit events: %w", err)
	}
	return nil
}
