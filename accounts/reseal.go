package accounts

import (
	"context"
	"fmt"

	"github.com/enlace-auth/enlace/secretbox"
)

// SealedTOTPSecret is one stored TOTP secret, enabled or pending, as the
// key rotation reads it.
type SealedTOTPSecret struct {
	TenantID string
	UserID   string
	Sealed   []byte
}

// SealedTOTPStore lists and replaces the sealed TOTP secrets of every
// tenant.
type SealedTOTPStore interface {
	SealedTOTPSecrets(ctx context.Context) ([]SealedTOTPSecret, error)
	// ReplaceSealedTOTPSecret writes resealed only while the stored value
	// is still old, and reports whether it did.
	ReplaceSealedTOTPSecret(ctx context.Context, tenantID, userID string, old, resealed []byte) (bool, error)
}

// Resealer seals a value again under the current key when an older key
// sealed it.
type Resealer interface {
	Reseal(sealed []byte, associatedData string) ([]byte, bool, error)
}

// ResealTOTPSecrets seals every stored TOTP secret under the current key,
// so that the previous keys can be retired. A secret that no key opens is
// left as it is and named in the report. A secret that changed meanwhile
// (re-enrolled or removed) was written under the current key and is
// skipped.
func ResealTOTPSecrets(ctx context.Context, store SealedTOTPStore, box Resealer) (secretbox.Report, error) {
	secrets, err := store.SealedTOTPSecrets(ctx)
	if err != nil {
		return secretbox.Report{}, fmt.Errorf("accounts: list totp secrets: %w", err)
	}

	var report secretbox.Report
	for _, s := range secrets {
		report.Checked++
		resealed, changed, err := box.Reseal(s.Sealed, totpRecord(s.UserID))
		if err != nil {
			report.Unreadable = append(report.Unreadable, secretbox.Owner{TenantID: s.TenantID, UserID: s.UserID})
			continue
		}
		if !changed {
			continue
		}

		replaced, err := store.ReplaceSealedTOTPSecret(ctx, s.TenantID, s.UserID, s.Sealed, resealed)
		if err != nil {
			return report, fmt.Errorf("accounts: replace totp secret of user %s: %w", s.UserID, err)
		}
		if replaced {
			report.Resealed++
		}
	}
	return report, nil
}
