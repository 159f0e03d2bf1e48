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

// Resealer seals stored values again under the current key where an older
// key sealed them.
type Resealer interface {
	ResealAll(values []secretbox.Stored, replace func(v secretbox.Stored, resealed []byte) (bool, error)) (secretbox.Report, error)
}

// ResealClientSecrets seals every stored client secret under the current
// key, so that the previous keys can be retired. A secret that no key opens
// is left as it is and named in the report.
func ResealClientSecrets(ctx context.Context, store SealedClientSecretStore, box Resealer) (secretbox.Report, error) {
	secrets, err := store.SealedClientSecrets(ctx)
	if err != nil {
		return secretbox.Report{}, fmt.Errorf("tenant: list client secrets: %w", err)
	}

	values := make([]secretbox.Stored, len(secrets))
	for i, s := range secrets {
		values[i] = secretbox.Stored{Owner: secretbox.Owner{TenantID: s.TenantID}, Record: secretRecord(s.TenantID), Value: s.Sealed}
	}
	return box.ResealAll(values, func(v secretbox.Stored, resealed []byte) (bool, error) {
		replaced, err := store.ReplaceSealedClientSecret(ctx, v.Owner.TenantID, v.Value, resealed)
		if err != nil {
			return false, fmt.Errorf("tenant: replace client secret of tenant %s: %w", v.Owner.TenantID, err)
		}
		return replaced, nil
	})
}
