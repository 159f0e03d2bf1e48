package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/accounts"
)

var _ accounts.TwoFactorStore = (*DB)(nil)

// SavePendingTOTP stores a new secret that is not yet enabled, replacing
// an earlier unconfirmed one. It never replaces an enabled secret.
func (d *DB) SavePendingTOTP(ctx context.Context, tenantID, userID string, sealed []byte, now time.Time) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := d.exec(ctx, tx, `DELETE FROM totp_secrets WHERE tenant_id = ? AND user_id = ? AND NOT enabled`, tenantID, userID); err != nil {
			return fmt.Errorf("sqlstore: delete pending totp: %w", err)
		}
		_, err := d.exec(ctx, tx, `
			INSERT INTO totp_secrets (user_id, tenant_id, secret_encrypted, enabled, last_used_step, created_at)
			VALUES (?, ?, ?, ?, 0, ?)`, userID, tenantID, sealed, false, ts(now))
		if err != nil {
			return fmt.Errorf("sqlstore: insert totp secret: %w", err)
		}
		return nil
	})
}

func (d *DB) TOTPSecret(ctx context.Context, tenantID, userID string) (accounts.TOTPSecret, error) {
	var s accounts.TOTPSecret
	err := d.queryRow(ctx, d.db, `
		SELECT secret_encrypted, enabled, last_used_step FROM totp_secrets WHERE tenant_id = ? AND user_id = ?`,
		tenantID, userID).Scan(&s.Sealed, &s.Enabled, &s.LastStep)
	return s, d.scanErr(err)
}

// EnableTOTP turns the pending secret on, records the step of the code
// that confirmed it and replaces the recovery codes, in one transaction.
func (d *DB) EnableTOTP(ctx context.Context, tenantID, userID string, step int64, codeHashes []string, now time.Time) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := d.exec(ctx, tx, `
			UPDATE totp_secrets SET enabled = ?, last_used_step = ?, confirmed_at = ?
			WHERE tenant_id = ? AND user_id = ? AND NOT enabled`, true, step, ts(now), tenantID, userID)
		if err != nil {
			return fmt.Errorf("sqlstore: enable totp: %w", err)
		}
		if err := rowsAffected(res); err != nil {
			return err
		}
		return d.replaceRecoveryCodes(ctx, tx, tenantID, userID, codeHashes, now)
	})
}

// AdvanceTOTPStep records step as used if it is newer than the last used
// one. The conditional update makes a replayed code fail even when two
// replicas check it at the same moment.
func (d *DB) AdvanceTOTPStep(ctx context.Context, tenantID, userID string, step int64) (bool, error) {
	res, err := d.exec(ctx, d.db, `
		UPDATE totp_secrets SET last_used_step = ?
		WHERE tenant_id = ? AND user_id = ? AND enabled AND last_used_step < ?`, step, tenantID, userID, step)
	if err != nil {
		return false, fmt.Errorf("sqlstore: advance totp step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DisableTOTP removes the secret and the recovery codes together.
func (d *DB) DisableTOTP(ctx context.Context, tenantID, userID string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := d.exec(ctx, tx, `DELETE FROM totp_secrets WHERE tenant_id = ? AND user_id = ?`, tenantID, userID); err != nil {
			return fmt.Errorf("sqlstore: delete totp secret: %w", err)
		}
		if _, err := d.exec(ctx, tx, `DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`, tenantID, userID); err != nil {
			return fmt.Errorf("sqlstore: delete recovery codes: %w", err)
		}
		return nil
	})
}

func (d *DB) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, codeHashes []string, now time.Time) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		return d.replaceRecoveryCodes(ctx, tx, tenantID, userID, codeHashes, now)
	})
}

func (d *DB) replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, tenantID, userID string, codeHashes []string, now time.Time) error {
	if _, err := d.exec(ctx, tx, `DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`, tenantID, userID); err != nil {
		return fmt.Errorf("sqlstore: delete recovery codes: %w", err)
	}
	for _, h := range codeHashes {
		_, err := d.exec(ctx, tx, `INSERT INTO recovery_codes (id, tenant_id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			uuid.NewString(), tenantID, userID, h, ts(now))
		if err != nil {
			return fmt.Errorf("sqlstore: insert recovery code: %w", err)
		}
	}
	return nil
}

func (d *DB) UnusedRecoveryCodes(ctx context.Context, tenantID, userID string) ([]accounts.RecoveryCode, error) {
	rows, err := d.query(ctx, d.db, `SELECT id, code_hash FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL`,
		tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list recovery codes: %w", err)
	}
	defer rows.Close()

	var out []accounts.RecoveryCode
	for rows.Next() {
		var c accounts.RecoveryCode
		if err := rows.Scan(&c.ID, &c.Hash); err != nil {
			return nil, fmt.Errorf("sqlstore: scan recovery code: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UseRecoveryCode marks a code used unless it already was; of two
// concurrent uses only one succeeds.
func (d *DB) UseRecoveryCode(ctx context.Context, tenantID, userID, id string, now time.Time) (bool, error) {
	res, err := d.exec(ctx, d.db, `UPDATE recovery_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? AND id = ? AND used_at IS NULL`,
		ts(now), tenantID, userID, id)
	if err != nil {
		return false, fmt.Errorf("sqlstore: use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
