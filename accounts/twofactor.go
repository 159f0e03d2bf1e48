package accounts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
	"github.com/enlace-auth/enlace/totp"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// Audit event types of two-factor authentication.
const (
	audit2FAEnabled      = "2fa.enabled"
	audit2FADisabled     = "2fa.disabled"
	audit2FARegenerated  = "2fa.recovery_codes_regenerated"
	audit2FARecoveryUsed = "2fa.recovery_code_used"
	audit2FAFailed       = "2fa.verify_failed"
)

var (
	// ErrTOTPUnavailable means the account is linked to an identity
	// provider, which owns every sign-in factor.
	ErrTOTPUnavailable = errors.New("2FA is not available for SSO accounts")
	// ErrTOTPEnabled means 2FA is already on.
	ErrTOTPEnabled = errors.New("2FA is already enabled; disable it first to enrol again")
	// ErrTOTPNotEnabled means 2FA is off.
	ErrTOTPNotEnabled = errors.New("2FA is not enabled")
	// ErrTOTPNoPending means confirm came before setup.
	ErrTOTPNoPending = errors.New("no 2FA enrolment in progress; call setup first")
	// ErrInvalidTOTPCode means the code is wrong or was already used.
	ErrInvalidTOTPCode = errors.New("invalid 2FA code")
	// ErrInvalidRecoveryCode means the recovery code is wrong or was already used.
	ErrInvalidRecoveryCode = errors.New("invalid recovery code")
	// ErrWrongPassword means the password given to confirm a change is wrong.
	ErrWrongPassword = errors.New("password is incorrect")
)

// TOTPSecret is a stored, sealed TOTP secret.
type TOTPSecret struct {
	Sealed   []byte
	Enabled  bool
	LastStep int64
}

// RecoveryCode is a stored, hashed recovery code.
type RecoveryCode struct {
	ID   string
	Hash string
}

// TwoFactorStore is the persistence of TOTP secrets and recovery codes.
type TwoFactorStore interface {
	SavePendingTOTP(ctx context.Context, tenantID, userID string, sealed []byte, now time.Time) error
	TOTPSecret(ctx context.Context, tenantID, userID string) (TOTPSecret, error)
	EnableTOTP(ctx context.Context, tenantID, userID string, step int64, codeHashes []string, now time.Time) error
	AdvanceTOTPStep(ctx context.Context, tenantID, userID string, step int64) (bool, error)
	DisableTOTP(ctx context.Context, tenantID, userID string) error
	ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, codeHashes []string, now time.Time) error
	UnusedRecoveryCodes(ctx context.Context, tenantID, userID string) ([]RecoveryCode, error)
	UseRecoveryCode(ctx context.Context, tenantID, userID, id string, now time.Time) (bool, error)
}

// Sealer encrypts TOTP secrets at rest.
type Sealer interface {
	Seal(plaintext []byte, associatedData string) ([]byte, error)
	Open(sealed []byte, associatedData string) ([]byte, error)
}

// TwoFactor runs TOTP enrolment and verification for password accounts.
type TwoFactor struct {
	// recoveryKeys key the recovery code hashes (see totp.HashRecoveryCode).
	// The first one hashes new codes, and the others match codes that were
	// made before ENLACE_SECRET_KEY was replaced.
	recoveryKeys []RecoveryKey
	store        Store
	factors      TwoFactorStore
	sealer       Sealer
	hasher       *Hasher
	sessions     *Sessions
	audit        *audit.Recorder
	now          func() time.Time
}

// NewTwoFactor returns a TwoFactor service. recoveryKeys comes from
// RecoveryKeys: the current key first, then those of previous secret keys.
func NewTwoFactor(store Store, factors TwoFactorStore, sealer Sealer, recoveryKeys []RecoveryKey, hasher *Hasher, sessions *Sessions, recorder *audit.Recorder, now func() time.Time) *TwoFactor {
	return &TwoFactor{store: store, factors: factors, sealer: sealer, recoveryKeys: recoveryKeys, hasher: hasher, sessions: sessions, audit: recorder, now: now}
}

func totpRecord(userID string) string { return "totp:" + userID }

// Enrolment is a new secret for the user to add to an authenticator app.
type Enrolment struct {
	Secret          string
	ProvisioningURI string
	QRCodePNG       string // base64
}

// fresh reads the user again, because a cached principal may predate a link.
func (f *TwoFactor) fresh(ctx context.Context, tenantID, userID string) (User, error) {
	u, err := f.store.UserByID(ctx, tenantID, userID)
	if err != nil {
		return User{}, fmt.Errorf("accounts: find user: %w", err)
	}
	if u.OIDCLinked {
		return User{}, ErrTOTPUnavailable
	}
	return u, nil
}

// Setup creates a pending secret; Confirm turns it on.
func (f *TwoFactor) Setup(ctx context.Context, t *tenant.Tenant, userID string) (Enrolment, error) {
	u, err := f.fresh(ctx, t.ID, userID)
	if err != nil {
		return Enrolment{}, err
	}
	if u.TOTPEnabled {
		return Enrolment{}, ErrTOTPEnabled
	}

	// An unconfirmed secret is shown again, so that reloading the set-up
	// page does not invalidate a QR code the user has just scanned.
	secret, err := f.pendingSecret(ctx, t.ID, u.ID)
	if err != nil {
		return Enrolment{}, err
	}
	if secret == "" {
		if secret, err = f.newPendingSecret(ctx, t.ID, u.ID); err != nil {
			return Enrolment{}, err
		}
	}

	uri := totp.ProvisioningURI(secret, t.Name, u.Email)
	png, err := totp.QRCodePNG(uri, 256)
	if err != nil {
		return Enrolment{}, fmt.Errorf("accounts: render QR code: %w", err)
	}
	return Enrolment{Secret: secret, ProvisioningURI: uri, QRCodePNG: base64.StdEncoding.EncodeToString(png)}, nil
}

// pendingSecret returns the user's unconfirmed secret, or "".
func (f *TwoFactor) pendingSecret(ctx context.Context, tenantID, userID string) (string, error) {
	stored, err := f.factors.TOTPSecret(ctx, tenantID, userID)
	if errors.Is(err, store.ErrNotFound) || err == nil && stored.Enabled {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("accounts: read totp secret: %w", err)
	}
	secret, err := f.sealer.Open(stored.Sealed, totpRecord(userID))
	if err != nil {
		return "", nil // unreadable, for example after a key change: start over
	}
	return string(secret), nil
}

func (f *TwoFactor) newPendingSecret(ctx context.Context, tenantID, userID string) (string, error) {
	secret, err := totp.NewSecret()
	if err != nil {
		return "", err
	}
	sealed, err := f.sealer.Seal([]byte(secret), totpRecord(userID))
	if err != nil {
		return "", err
	}
	if err := f.factors.SavePendingTOTP(ctx, tenantID, userID, sealed, f.now().UTC()); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", ErrTOTPEnabled
		}
		return "", fmt.Errorf("accounts: save totp secret: %w", err)
	}
	return secret, nil
}

// Confirm checks a code against the pending secret, turns 2FA on and
// returns the recovery codes, shown this once.
func (f *TwoFactor) Confirm(ctx context.Context, tenantID, userID, code string, client ClientInfo) ([]string, error) {
	u, err := f.fresh(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, ErrTOTPEnabled
	}

	stored, err := f.factors.TOTPSecret(ctx, tenantID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrTOTPNoPending
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: read totp secret: %w", err)
	}
	secret, err := f.sealer.Open(stored.Sealed, totpRecord(userID))
	if err != nil {
		return nil, fmt.Errorf("accounts: open totp secret of user %s: %w", userID, err)
	}

	step, err := totp.Verify(string(secret), code, f.now(), 0)
	if err != nil {
		return nil, ErrInvalidTOTPCode
	}

	plain, hashes, err := f.recoveryKeys[0].newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := f.factors.EnableTOTP(ctx, tenantID, userID, step, hashes, f.now().UTC()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrTOTPEnabled
		}
		return nil, fmt.Errorf("accounts: enable totp: %w", err)
	}
	f.sessions.InvalidateUser(ctx, userID)
	f.record(ctx, tenantID, userID, audit2FAEnabled, client)
	return plain, nil
}

// checkPassword verifies the password that guards a 2FA change.
func (f *TwoFactor) checkPassword(u User, password string) error {
	if !u.HasPassword() {
		return ErrWrongPassword
	}
	match, _, err := f.hasher.Verify(u.PasswordHash, password)
	if err != nil {
		return fmt.Errorf("accounts: verify password of user %s: %w", u.ID, err)
	}
	if !match {
		return ErrWrongPassword
	}
	return nil
}

// Disable turns 2FA off after checking the password.
func (f *TwoFactor) Disable(ctx context.Context, tenantID, userID, password string, client ClientInfo) error {
	u, err := f.fresh(ctx, tenantID, userID)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled {
		return ErrTOTPNotEnabled
	}
	if err := f.checkPassword(u, password); err != nil {
		return err
	}

	if err := f.factors.DisableTOTP(ctx, tenantID, userID); err != nil {
		return fmt.Errorf("accounts: disable totp: %w", err)
	}
	f.sessions.InvalidateUser(ctx, userID)
	f.record(ctx, tenantID, userID, audit2FADisabled, client)
	return nil
}

// RegenerateRecoveryCodes replaces every recovery code after checking the
// password; the old codes stop working at once.
func (f *TwoFactor) RegenerateRecoveryCodes(ctx context.Context, tenantID, userID, password string, client ClientInfo) ([]string, error) {
	u, err := f.fresh(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if !u.TOTPEnabled {
		return nil, ErrTOTPNotEnabled
	}
	if err := f.checkPassword(u, password); err != nil {
		return nil, err
	}

	plain, hashes, err := f.recoveryKeys[0].newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := f.factors.ReplaceRecoveryCodes(ctx, tenantID, userID, hashes, f.now().UTC()); err != nil {
		return nil, fmt.Errorf("accounts: replace recovery codes: %w", err)
	}
	f.record(ctx, tenantID, userID, audit2FARegenerated, client)
	return plain, nil
}

// VerifyCode checks a sign-in code; each time step is accepted once.
func (f *TwoFactor) VerifyCode(ctx context.Context, tenantID, userID, code string, client ClientInfo) error {
	stored, err := f.factors.TOTPSecret(ctx, tenantID, userID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !stored.Enabled {
		return ErrInvalidTOTPCode
	}
	if err != nil {
		return fmt.Errorf("accounts: read totp secret: %w", err)
	}
	secret, err := f.sealer.Open(stored.Sealed, totpRecord(userID))
	if err != nil {
		return fmt.Errorf("accounts: open totp secret of user %s: %w", userID, err)
	}

	step, err := totp.Verify(string(secret), code, f.now(), stored.LastStep)
	if err != nil {
		f.record(ctx, tenantID, userID, audit2FAFailed, client)
		return ErrInvalidTOTPCode
	}
	ok, err := f.factors.AdvanceTOTPStep(ctx, tenantID, userID, step)
	if err != nil {
		return err
	}
	if !ok {
		f.record(ctx, tenantID, userID, audit2FAFailed, client)
		return ErrInvalidTOTPCode
	}
	return nil
}

// UseRecoveryCode signs in with a recovery code, which then stops working.
func (f *TwoFactor) UseRecoveryCode(ctx context.Context, tenantID, userID, code string, client ClientInfo) error {
	codes, err := f.factors.UnusedRecoveryCodes(ctx, tenantID, userID)
	if err != nil {
		return fmt.Errorf("accounts: list recovery codes: %w", err)
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = c.Hash
	}

	i, ok := matchRecoveryCode(f.recoveryKeys, code, hashes)
	if !ok {
		f.record(ctx, tenantID, userID, audit2FAFailed, client)
		return ErrInvalidRecoveryCode
	}
	used, err := f.factors.UseRecoveryCode(ctx, tenantID, userID, codes[i].ID, f.now().UTC())
	if err != nil {
		return err
	}
	if !used {
		return ErrInvalidRecoveryCode
	}
	f.record(ctx, tenantID, userID, audit2FARecoveryUsed, client)
	return nil
}

func (f *TwoFactor) record(ctx context.Context, tenantID, userID, eventType string, client ClientInfo) {
	f.audit.Record(ctx, client.event(tenantID, userID, eventType, nil))
}
