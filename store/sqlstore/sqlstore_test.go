package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/store/sqlstore"
	"github.com/enlace-auth/enlace/tenant"
)

// The conformance suite: every backend must behave the same for each case.
func TestStore(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, db *sqlstore.DB)
	}{
		{"tenant conflicts", testTenantConflicts},
		{"not found", testNotFound},
		{"email uniqueness ignores case", testEmailCase},
		{"link removes totp atomically", testLinkRemovesTOTP},
		{"failed link keeps totp", testFailedLinkKeepsTOTP},
		{"totp step advances once", testTOTPStepOnce},
		{"recovery code used once", testRecoveryCodeOnce},
		{"session pages", testSessionPages},
		{"expired sessions deleted", testExpiredSessions},
		{"tenant delete cascades", testTenantCascade},
		{"sealed totp secret replaced", testReplaceSealedTOTP},
		{"sealed client secret replaced", testReplaceSealedClientSecret},
		{"users with recovery codes under other keys", testUsersWithRecoveryCodes},
	}
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { tc.run(t, b.DB) })
		}
	})
}

var ctx = context.Background()

func newTenant(t *testing.T, db *sqlstore.DB, domains ...string) tenant.Tenant {
	t.Helper()
	now := time.Now().UTC()
	tn := tenant.Tenant{ID: uuid.NewString(), Slug: "t" + uuid.NewString()[:8], Name: "T", RegistrationEnabled: true, CreatedAt: now, UpdatedAt: now}
	var ds []tenant.Domain
	for i, d := range domains {
		ds = append(ds, tenant.Domain{Domain: d, TenantID: tn.ID, IsPrimary: i == 0, CreatedAt: now})
	}
	if err := db.CreateTenant(ctx, tn, ds); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return tn
}

func newUser(t *testing.T, db *sqlstore.DB, tenantID, email string) accounts.User {
	t.Helper()
	now := time.Now().UTC()
	u, err := db.CreateUser(ctx, accounts.User{ID: uuid.NewString(), TenantID: tenantID, Email: email, DisplayName: "U",
		PasswordHash: "$argon2id$placeholder", CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func enableTOTP(t *testing.T, db *sqlstore.DB, u accounts.User) {
	t.Helper()
	if err := db.SavePendingTOTP(ctx, u.TenantID, u.ID, []byte("sealed"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.EnableTOTP(ctx, u.TenantID, u.ID, 100, []string{"h1", "h2"}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func identity(u accounts.User, subject string) accounts.Identity {
	return accounts.Identity{ID: uuid.NewString(), TenantID: u.TenantID, UserID: u.ID, Issuer: "https://idp.example",
		Subject: subject, LinkedBy: accounts.LinkedBySettings, CreatedAt: time.Now()}
}

func testTenantConflicts(t *testing.T, db *sqlstore.DB) {
	a := newTenant(t, db, "login-"+uuid.NewString()[:8]+".example")
	now := time.Now()

	dupSlug := tenant.Tenant{ID: uuid.NewString(), Slug: a.Slug, Name: "x", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateTenant(ctx, dupSlug, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate slug: error %v, want ErrConflict", err)
	}

	domains, _ := db.TenantDomains(ctx, a.ID)
	other := tenant.Tenant{ID: uuid.NewString(), Slug: "o" + uuid.NewString()[:8], Name: "o", CreatedAt: now, UpdatedAt: now}
	err := db.CreateTenant(ctx, other, []tenant.Domain{{Domain: domains[0].Domain, TenantID: other.ID, CreatedAt: now}})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate domain: error %v, want ErrConflict", err)
	}
	if _, err := db.TenantByID(ctx, other.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant of a failed create exists: %v", err)
	}
}

func testNotFound(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	checks := map[string]error{}
	_, checks["tenant by id"] = db.TenantByID(ctx, uuid.NewString())
	_, checks["tenant by domain"] = db.TenantByDomain(ctx, "missing.example")
	_, checks["user by id"] = db.UserByID(ctx, tn.ID, uuid.NewString())
	_, checks["user by email"] = db.UserByEmail(ctx, tn.ID, "missing@example.com")
	_, _, checks["session"] = db.SessionByTokenHash(ctx, "missing")
	_, checks["identity"] = db.IdentityBySubject(ctx, tn.ID, "https://idp.example", "missing")
	_, checks["totp"] = db.TOTPSecret(ctx, tn.ID, uuid.NewString())
	checks["update missing user"] = db.UpdateDisplayName(ctx, tn.ID, uuid.NewString(), "x", time.Now())
	for name, err := range checks {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: error %v, want ErrNotFound", name, err)
		}
	}
}

func testEmailCase(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	first := newUser(t, db, tn.ID, "Ada@Example.com")
	if !first.IsAdmin {
		t.Errorf("first user is not admin")
	}
	now := time.Now()
	_, err := db.CreateUser(ctx, accounts.User{ID: uuid.NewString(), TenantID: tn.ID, Email: "ada@EXAMPLE.com", DisplayName: "x", CreatedAt: now, UpdatedAt: now})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("same email in other case: error %v, want ErrConflict", err)
	}
	other := newTenant(t, db)
	if u := newUser(t, db, other.ID, "ada@example.com"); !u.IsAdmin {
		t.Errorf("same email in another tenant: not its first admin")
	}
}

func testLinkRemovesTOTP(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	u := newUser(t, db, tn.ID, "link@example.com")
	enableTOTP(t, db, u)

	removed, err := db.LinkIdentity(ctx, identity(u, "sub-link"))
	if err != nil || !removed {
		t.Fatalf("link: removed %v, error %v", removed, err)
	}
	if _, err := db.TOTPSecret(ctx, tn.ID, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("totp secret after link: %v", err)
	}
	if codes, _ := db.UnusedRecoveryCodes(ctx, tn.ID, u.ID); len(codes) != 0 {
		t.Errorf("%d recovery codes after link", len(codes))
	}
	got, _ := db.UserByID(ctx, tn.ID, u.ID)
	if !got.OIDCLinked || got.TOTPEnabled {
		t.Errorf("user after link: linked %v, totp %v", got.OIDCLinked, got.TOTPEnabled)
	}
}

func testFailedLinkKeepsTOTP(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	owner := newUser(t, db, tn.ID, "owner@example.com")
	other := newUser(t, db, tn.ID, "other@example.com")
	if _, err := db.LinkIdentity(ctx, identity(owner, "sub-shared")); err != nil {
		t.Fatal(err)
	}
	enableTOTP(t, db, other)

	// The identity belongs to owner, so linking it to other must fail and
	// roll back: other keeps the factor.
	if _, err := db.LinkIdentity(ctx, identity(other, "sub-shared")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("link of a taken identity: error %v, want ErrConflict", err)
	}
	s, err := db.TOTPSecret(ctx, tn.ID, other.ID)
	if err != nil || !s.Enabled {
		t.Errorf("totp after a failed link: %+v, %v", s, err)
	}
	if codes, _ := db.UnusedRecoveryCodes(ctx, tn.ID, other.ID); len(codes) != 2 {
		t.Errorf("%d recovery codes after a failed link, want 2", len(codes))
	}
}

func testTOTPStepOnce(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	u := newUser(t, db, tn.ID, "step@example.com")
	enableTOTP(t, db, u)

	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.AdvanceTOTPStep(ctx, tn.ID, u.ID, 101)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("step 101 accepted %d times by concurrent callers, want 1", accepted)
	}
	if ok, _ := db.AdvanceTOTPStep(ctx, tn.ID, u.ID, 100); ok {
		t.Errorf("an older step was accepted")
	}
}

func testRecoveryCodeOnce(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	u := newUser(t, db, tn.ID, "recovery@example.com")
	enableTOTP(t, db, u)
	codes, _ := db.UnusedRecoveryCodes(ctx, tn.ID, u.ID)

	first, err := db.UseRecoveryCode(ctx, tn.ID, u.ID, codes[0].ID, time.Now())
	second, _ := db.UseRecoveryCode(ctx, tn.ID, u.ID, codes[0].ID, time.Now())
	if err != nil || !first || second {
		t.Errorf("uses: first %v, second %v, error %v; want true, false", first, second, err)
	}
	if left, _ := db.UnusedRecoveryCodes(ctx, tn.ID, u.ID); len(left) != 1 {
		t.Errorf("%d unused codes, want 1", len(left))
	}
}

func testSessionPages(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	u := newUser(t, db, tn.ID, "pages@example.com")
	base := time.Now().UTC()
	for i := 0; i < 5; i++ {
		created := base.Add(time.Duration(i) * time.Second)
		s := accounts.Session{ID: uuid.NewString(), TenantID: tn.ID, UserID: u.ID, TokenHash: uuid.NewString(),
			CreatedAt: created, LastSeenAt: created, ExpiresAt: created.Add(time.Hour)}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := db.ListSessions(ctx, tn.ID, u.ID, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Items {
			if seen[s.ID] {
				t.Errorf("session %s listed twice", s.ID)
			}
			seen[s.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = page.NextCursor
	}
	if len(seen) != 5 {
		t.Errorf("listed %d sessions over all pages, want 5", len(seen))
	}
	if _, err := db.ListSessions(ctx, tn.ID, u.ID, "not-a-cursor", 2); !errors.Is(err, store.ErrInvalidCursor) {
		t.Errorf("bad cursor: error %v, want ErrInvalidCursor", err)
	}
}

func testExpiredSessions(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	u := newUser(t, db, tn.ID, "expiry@example.com")
	now := time.Now().UTC()
	sessions := []accounts.Session{
		{ID: uuid.NewString(), TokenHash: "live-" + uuid.NewString(), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
		{ID: uuid.NewString(), TokenHash: "expired-" + uuid.NewString(), CreatedAt: now.Add(-2 * time.Hour), LastSeenAt: now, ExpiresAt: now.Add(-time.Minute)},
		{ID: uuid.NewString(), TokenHash: "idle-" + uuid.NewString(), CreatedAt: now.Add(-2 * time.Hour), LastSeenAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)},
	}
	for _, s := range sessions {
		s.TenantID, s.UserID = tn.ID, u.ID
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.DeleteExpiredSessions(ctx, now, now.Add(-time.Hour))
	if err != nil || n < 2 {
		t.Errorf("deleted %d, error %v; want at least the 2 expired ones", n, err)
	}
	if _, _, err := db.SessionByTokenHash(ctx, sessions[0].TokenHash); err != nil {
		t.Errorf("live session deleted: %v", err)
	}
}

func testTenantCascade(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db, "gone-"+uuid.NewString()[:8]+".example")
	u := newUser(t, db, tn.ID, "gone@example.com")
	enableTOTP(t, db, u)
	if err := db.DeleteTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByID(ctx, tn.ID, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user after tenant delete: %v", err)
	}
	if _, err := db.TOTPSecret(ctx, tn.ID, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("totp after tenant delete: %v", err)
	}
	if err := db.DeleteTenant(ctx, tn.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: error %v, want ErrNotFound", err)
	}
}

func testReplaceSealedTOTP(t *testing.T, db *sqlstore.DB) {
	tn := newTenant(t, db)
	u := newUser(t, db, tn.ID, "reseal@example.com")
	enableTOTP(t, db, u)

	secrets, err := db.SealedTOTPSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *accounts.SealedTOTPSecret
	for i := range secrets {
		if secrets[i].UserID == u.ID {
			found = &secrets[i]
		}
	}
	if found == nil {
		t.Fatalf("SealedTOTPSecrets lacks user %s", u.ID)
	}
	if found.TenantID != tn.ID || string(found.Sealed) != "sealed" {
		t.Errorf("SealedTOTPSecrets entry = %+v, want tenant %s and value %q", *found, tn.ID, "sealed")
	}

	replaced, err := db.ReplaceSealedTOTPSecret(ctx, tn.ID, u.ID, []byte("stale"), []byte("resealed"))
	if err != nil {
		t.Fatal(err)
	}
	if replaced {
		t.Error("ReplaceSealedTOTPSecret with a stale old value = true, want false")
	}

	replaced, err = db.ReplaceSealedTOTPSecret(ctx, tn.ID, u.ID, []byte("sealed"), []byte("resealed"))
	if err != nil {
		t.Fatal(err)
	}
	if !replaced {
		t.Error("ReplaceSealedTOTPSecret with the stored value = false, want true")
	}
	got, err := db.TOTPSecret(ctx, tn.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Sealed) != "resealed" {
		t.Errorf("stored secret = %q, want %q", got.Sealed, "resealed")
	}
	if !got.Enabled || got.LastStep != 100 {
		t.Errorf("after the replace: enabled = %v, last step = %d; want true and 100", got.Enabled, got.LastStep)
	}
}

func testReplaceSealedClientSecret(t *testing.T, db *sqlstore.DB) {
	withSecret := newTenant(t, db)
	withoutSecret := newTenant(t, db)
	settings := tenant.IdPSettings{Enabled: true, IssuerURL: "https://idp.example", ClientID: "c", Scopes: []string{"openid"}, UpdatedAt: time.Now()}
	if err := db.SetTenantIdP(ctx, withSecret.ID, settings, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTenantIdP(ctx, withoutSecret.ID, settings, nil); err != nil {
		t.Fatal(err)
	}

	secrets, err := db.SealedClientSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, s := range secrets {
		listed[s.TenantID] = string(s.Sealed)
	}
	if got := listed[withSecret.ID]; got != "sealed" {
		t.Errorf("SealedClientSecrets value of the tenant with a secret = %q, want %q", got, "sealed")
	}
	if _, ok := listed[withoutSecret.ID]; ok {
		t.Error("SealedClientSecrets lists a tenant without a secret")
	}

	replaced, err := db.ReplaceSealedClientSecret(ctx, withSecret.ID, []byte("stale"), []byte("resealed"))
	if err != nil {
		t.Fatal(err)
	}
	if replaced {
		t.Error("ReplaceSealedClientSecret with a stale old value = true, want false")
	}

	replaced, err = db.ReplaceSealedClientSecret(ctx, withSecret.ID, []byte("sealed"), []byte("resealed"))
	if err != nil {
		t.Fatal(err)
	}
	if !replaced {
		t.Error("ReplaceSealedClientSecret with the stored value = false, want true")
	}
	got, sealed, err := db.TenantIdP(ctx, withSecret.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(sealed) != "resealed" {
		t.Errorf("stored secret = %q, want %q", sealed, "resealed")
	}
	if got.ClientID != "c" || !got.Enabled {
		t.Errorf("settings after the replace = %+v, want them unchanged", got)
	}
}

func testUsersWithRecoveryCodes(t *testing.T, db *sqlstore.DB) {
	count := func(prefix string) int {
		t.Helper()
		n, err := db.UsersWithRecoveryCodesNotPrefixed(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	beforeOld, beforeNew := count("aa:"), count("bb:")

	// enableTOTP stores the hashes "h1" and "h2"; codes replaces them with
	// hashes under the key IDs aa and bb.
	tn := newTenant(t, db)
	u := newUser(t, db, tn.ID, "codes@example.com")
	enableTOTP(t, db, u)
	if err := db.ReplaceRecoveryCodes(ctx, tn.ID, u.ID, []string{"aa:1", "bb:2"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := count("aa:"); got != beforeOld+1 {
		t.Errorf("users with codes not under aa = %d, want %d", got, beforeOld+1)
	}

	codes, err := db.UnusedRecoveryCodes(ctx, tn.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if c.Hash != "bb:2" {
			continue
		}
		if _, err := db.UseRecoveryCode(ctx, tn.ID, u.ID, c.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := count("aa:"); got != beforeOld {
		t.Errorf("users with codes not under aa after the bb code was used = %d, want %d", got, beforeOld)
	}
	if got := count("bb:"); got != beforeNew+1 {
		t.Errorf("users with codes not under bb = %d, want %d", got, beforeNew+1)
	}
}
