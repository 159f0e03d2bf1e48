package sqlstore

import (
	"context"
	"fmt"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/tenant"
)

var (
	_ accounts.SealedTOTPStore       = (*DB)(nil)
	_ accounts.RecoveryCodeCounter   = (*DB)(nil)
	_ tenant.SealedClientSecretStore = (*DB)(nil)
)

// SealedTOTPSecrets returns every stored TOTP secret of every tenant, in a
// stable order.
func (d *DB) SealedTOTPSecrets(ctx context.Context) ([]accounts.SealedTOTPSecret, error) {
	rows, err := d.query(ctx, d.db, `
		SELECT tenant_id, user_id, secret_encrypted FROM totp_secrets ORDER BY tenant_id, user_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list totp secrets: %w", err)
	}
	defer rows.Close()

	var out []accounts.SealedTOTPSecret
	for rows.Next() {
		var s accounts.SealedTOTPSecret
		if err := rows.Scan(&s.TenantID, &s.UserID, &s.Sealed); err != nil {
			return nil, fmt.Errorf("sqlstore: scan totp secret: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ReplaceSealedTOTPSecret swaps old for resealed in one conditional update,
// so a secret that was replaced or removed meanwhile stays as it is.
func (d *DB) ReplaceSealedTOTPSecret(ctx context.Context, tenantID, userID string, old, resealed []byte) (bool, error) {
	res, err := d.exec(ctx, d.db, `
		UPDATE totp_secrets SET secret_encrypted = ?
		WHERE tenant_id = ? AND user_id = ? AND secret_encrypted = ?`, resealed, tenantID, userID, old)
	if err != nil {
		return false, fmt.Errorf("sqlstore: replace totp secret: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UsersWithRecoveryCodesNotPrefixed counts the users, over all tenants,
// with at least one unused recovery code whose hash does not start with
// prefix. The prefix is hex digits and a colon, with no LIKE wildcards.
func (d *DB) UsersWithRecoveryCodesNotPrefixed(ctx context.Context, prefix string) (int, error) {
	var n int
	err := d.queryRow(ctx, d.db, `
		SELECT COUNT(DISTINCT user_id) FROM recovery_codes
		WHERE used_at IS NULL AND code_hash NOT LIKE ?`, prefix+"%").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: count users with recovery codes: %w", err)
	}
	return n, nil
}

// SealedClientSecrets returns every stored identity provider client secret,
// in a stable order. Tenants without a stored secret are left out.
func (d *DB) SealedClientSecrets(ctx context.Context) ([]tenant.SealedClientSecret, error) {
	rows, err := d.query(ctx, d.db, `
		SELECT tenant_id, client_secret_encrypted FROM tenant_oidc
		WHERE client_secret_encrypted IS NOT NULL ORDER BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list client secrets: %w", err)
	}
	defer rows.Close()

	var out []tenant.SealedClientSecret
	for rows.Next() {
		var s tenant.SealedClientSecret
		if err := rows.Scan(&s.TenantID, &s.Sealed); err != nil {
			return nil, fmt.Errorf("sqlstore: scan client secret: %w", err)
		}
		if len(s.Sealed) > 0 {
			out = append(out, s)
		}
	}
	return out, rows.Err()
}

// ReplaceSealedClientSecret swaps old for resealed in one conditional
// update, so a secret that was changed meanwhile stays as it is.
func (d *DB) ReplaceSealedClientSecret(ctx context.Context, tenantID string, old, resealed []byte) (bool, error) {
	res, err := d.exec(ctx, d.db, `
		UPDATE tenant_oidc SET client_secret_encrypted = ?
		WHERE tenant_id = ? AND client_secret_encrypted = ?`, resealed, tenantID, old)
	if err != nil {
		return false, fmt.Errorf("sqlstore: replace client secret: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
