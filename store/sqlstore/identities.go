package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

var (
	_ accounts.SSOStore = (*DB)(nil)
	_ tenant.IdPStore   = (*DB)(nil)
)

const identityColumns = `i.id, i.tenant_id, i.user_id, i.issuer, i.subject, i.email, i.linked_by, i.created_at`

func identityDest(i *accounts.Identity) []any {
	return []any{&i.ID, &i.TenantID, &i.UserID, &i.Issuer, &i.Subject, &i.Email, &i.LinkedBy, &i.CreatedAt}
}

func (d *DB) IdentityBySubject(ctx context.Context, tenantID, issuer, subject string) (accounts.Identity, error) {
	var i accounts.Identity
	err := d.queryRow(ctx, d.db, `SELECT `+identityColumns+` FROM external_identities i
		WHERE i.tenant_id = ? AND i.issuer = ? AND i.subject = ?`, tenantID, issuer, subject).Scan(identityDest(&i)...)
	return i, d.scanErr(err)
}

func (d *DB) UserIdentities(ctx context.Context, tenantID, userID string) ([]accounts.Identity, error) {
	rows, err := d.query(ctx, d.db, `SELECT `+identityColumns+` FROM external_identities i
		WHERE i.tenant_id = ? AND i.user_id = ? ORDER BY i.created_at`, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list identities: %w", err)
	}
	defer rows.Close()

	var out []accounts.Identity
	for rows.Next() {
		var i accounts.Identity
		if err := rows.Scan(identityDest(&i)...); err != nil {
			return nil, fmt.Errorf("sqlstore: scan identity: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// CreateUserWithIdentity inserts a user and its first identity together.
func (d *DB) CreateUserWithIdentity(ctx context.Context, u accounts.User, id accounts.Identity) (accounts.User, error) {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if err := d.insertUser(ctx, tx, &u); err != nil {
			return err
		}
		return d.insertIdentity(ctx, tx, id)
	})
	if err != nil {
		return accounts.User{}, err
	}

	// The row is the one just inserted, linked to id and without TOTP, so
	// it is not read back.
	u.OIDCLinked = true
	u.CreatedAt, u.UpdatedAt = ts(u.CreatedAt), ts(u.UpdatedAt)
	return u, nil
}

// LinkIdentity links id to an existing user and, in the same transaction,
// removes the user's TOTP secret and recovery codes, because an account
// that signs in through an identity provider leaves every factor to it.
// It reports whether a TOTP secret was removed.
func (d *DB) LinkIdentity(ctx context.Context, id accounts.Identity) (bool, error) {
	removed := false
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if err := d.insertIdentity(ctx, tx, id); err != nil {
			return err
		}

		res, err := d.exec(ctx, tx, `DELETE FROM totp_secrets WHERE tenant_id = ? AND user_id = ?`, id.TenantID, id.UserID)
		if err != nil {
			return fmt.Errorf("sqlstore: delete totp secret: %w", err)
		}
		n, _ := res.RowsAffected()
		removed = n > 0

		if _, err := d.exec(ctx, tx, `DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`, id.TenantID, id.UserID); err != nil {
			return fmt.Errorf("sqlstore: delete recovery codes: %w", err)
		}
		return nil
	})
	return removed, err
}

func (d *DB) insertIdentity(ctx context.Context, q querier, id accounts.Identity) error {
	_, err := d.exec(ctx, q, `
		INSERT INTO external_identities (id, tenant_id, user_id, issuer, subject, email, linked_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id.ID, id.TenantID, id.UserID, id.Issuer, id.Subject, id.Email, id.LinkedBy, ts(id.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert identity: %w", err)
	}
	return nil
}

func (d *DB) UnlinkIdentities(ctx context.Context, tenantID, userID string) (int64, error) {
	res, err := d.exec(ctx, d.db, `DELETE FROM external_identities WHERE tenant_id = ? AND user_id = ?`, tenantID, userID)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete identities: %w", err)
	}
	return res.RowsAffected()
}

func (d *DB) UpdateEmail(ctx context.Context, tenantID, userID, email string, now time.Time) error {
	res, err := d.exec(ctx, d.db, `UPDATE users SET email = ?, email_normalized = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		email, accounts.NormalizeEmail(email), ts(now), tenantID, userID)
	if err != nil {
		return fmt.Errorf("sqlstore: update email: %w", err)
	}
	return rowsAffected(res)
}

func (d *DB) TenantIdP(ctx context.Context, tenantID string) (tenant.IdPSettings, []byte, error) {
	var s tenant.IdPSettings
	var scopes string
	var sealed []byte
	err := d.queryRow(ctx, d.db, `
		SELECT enabled, issuer_url, client_id, client_secret_encrypted, redirect_url, scopes, insecure_trust_email, updated_at
		FROM tenant_oidc WHERE tenant_id = ?`, tenantID).
		Scan(&s.Enabled, &s.IssuerURL, &s.ClientID, &sealed, &s.RedirectURL, &scopes, &s.InsecureTrustEmail, &s.UpdatedAt)
	if err != nil {
		return tenant.IdPSettings{}, nil, d.scanErr(err)
	}
	s.Scopes = strings.Fields(scopes)
	return s, sealed, nil
}

func (d *DB) SetTenantIdP(ctx context.Context, tenantID string, s tenant.IdPSettings, sealedSecret []byte) error {
	_, err := d.exec(ctx, d.db, `
		INSERT INTO tenant_oidc (tenant_id, enabled, issuer_url, client_id, client_secret_encrypted, redirect_url, scopes, insecure_trust_email, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET
			enabled = excluded.enabled, issuer_url = excluded.issuer_url, client_id = excluded.client_id,
			client_secret_encrypted = excluded.client_secret_encrypted, redirect_url = excluded.redirect_url,
			scopes = excluded.scopes, insecure_trust_email = excluded.insecure_trust_email, updated_at = excluded.updated_at`,
		tenantID, s.Enabled, s.IssuerURL, s.ClientID, sealedSecret, s.RedirectURL, strings.Join(s.Scopes, " "),
		s.InsecureTrustEmail, ts(s.UpdatedAt))
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return err
		}
		return fmt.Errorf("sqlstore: upsert tenant identity provider: %w", err)
	}
	return nil
}

func (d *DB) DeleteTenantIdP(ctx context.Context, tenantID string) error {
	res, err := d.exec(ctx, d.db, `DELETE FROM tenant_oidc WHERE tenant_id = ?`, tenantID)
	if err != nil {
		return fmt.Errorf("sqlstore: delete tenant identity provider: %w", err)
	}
	return rowsAffected(res)
}
