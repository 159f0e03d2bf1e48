package tenant

import (
	"context"
	"fmt"

	"github.com/enlace-auth/enlace/secretbox"
)

// SealedClientSecret is one tenant's stored identity provider client
// secret, as the key rotation reads it.
type SealedClientSecret struct {
	TenantID string
	Sealed   []byte
}

// SealedClientSecretStore lists and replaces the sealed client secrets of
// every tenant.
type SealedClientSecretStore interface {
	SealedClientSecrets(ctx context.Context) ([]SealedClientSecret, error)
	// ReplaceSealedClientSecret writes resealed only while the stored
	// value is still old, and reports whether it did.
	ReplaceSealedClientSecret(ctx context.Context, tenantID string, old, resealed []byte) (bool, error)
}

// Resealer seals a value again under the current key when an older key
// sealed it.
type Resealer interface {
	Reseal(sealed []byte, associatedData string) ([]byte, bool, error)
}

// ResealClientSecrets seals every stored client secret under the current
// key, so that the previous keys can be retired. A secret that no key opens
// is left as it is and named in the report.
func ResealClientSecrets(ctx context.Context, store SealedClientSecretStore, box Resealer) (secretbox.Report, error) {
	secrets, err := store.SealedClientSecrets(ctx)
	if err != nil {
		return secretbox.Report{}, fmt.Errorf("tenant: list client secrets: %w", err)
	}

	var report secretbox.Report
	for _, s := range secrets {
		report.Checked++
		resealed, changed, err := box.Reseal(s.Sealed, secretRecord(s.TenantID))
		if err != nil {
			report.Unreadable = append(report.Unreadable, secretbox.Owner{TenantID: s.TenantID})
			continue
		}
		if !changed {
			continue
		}

		replaced, err := store.ReplaceSealedClientSecret(ctx, s.TenantID, s.Sealed, resealed)
		if err != nil {
			return report, fmt.Errorf("tenant: replace client secret of tenant %s: %w", s.TenantID, err)
		}
		if replaced {
			report.Resealed++
		}
	}
	return report, nil
}
