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

// Resealer seals stored values again under the current key where an older
// key sealed them.
type Resealer interface {
	ResealAll(values []secretbox.Stored, replace func(v secretbox.Stored, resealed []byte) (bool, error)) (secretbox.Report, error)
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

	values := make([]secretbox.Stored, len(secrets))
	for i, s := range secrets {
		values[i] = secretbox.Stored{
			Owner:  secretbox.Owner{TenantID: s.TenantID, UserID: s.UserID},
			Record: totpRecord(s.UserID),
			Value:  s.Sealed,
		}
	}
	return box.ResealAll(values, func(v secretbox.Stored, resealed []byte) (bool, error) {
		replaced, err := store.ReplaceSealedTOTPSecret(ctx, v.Owner.TenantID, v.Owner.UserID, v.Value, resealed)
		if err != nil {
			return false, fmt.Errorf("accounts: replace totp secret of user %s: %w", v.Owner.UserID, err)
		}
		return replaced, nil
	})
}
