package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/oidc/oidctest"
	"github.com/enlace-auth/enlace/totp"
)

// TestSecretKeyRotate enrols TOTP and stores a client secret under one key,
// rotates to a second key and checks that everything still works with the
// second key alone, except recovery codes, which need the old key listed.
func TestSecretKeyRotate(t *testing.T) {
	oldKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	strayKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	oldOnly := map[string]string{"ENLACE_SECRET_KEY": oldKey}
	rotated := map[string]string{"ENLACE_SECRET_KEY": newKey, "ENLACE_SECRET_KEY_PREVIOUS": oldKey}
	newOnly := map[string]string{"ENLACE_SECRET_KEY": newKey}
	dir := t.TempDir()
	idp := oidctest.New(t)

	// Under the old key: a TOTP user with recovery codes and a stored
	// client secret.
	server := startServer(t, dir, oldOnly)
	secret, codes, userID := enrolTOTP(t, server.url(), "rotate@example.com")
	server.stop(t)
	setIdP := []string{"tenant", "oidc", "set", "--slug", "default", "--issuer", idp.Issuer,
		"--client-id", idp.ClientID, "--client-secret", idp.ClientSecret}
	if code, stdout, stderr := runCommand(t, dir, oldOnly, setIdP...); code != 0 {
		t.Fatalf("tenant oidc set: exit %d; stdout %q, stderr %q", code, stdout, stderr)
	}

	// A new key without the old one listed cannot read what the old one sealed.
	if code, _, stderr := runCommand(t, dir, newOnly, "tenant", "oidc", "show", "--slug", "default"); code == 0 || !strings.Contains(stderr, "cannot decrypt") {
		t.Errorf("oidc show under the new key alone before the rotation: exit %d, stderr %q; want a decrypt error", code, stderr)
	}

	steps := []struct {
		name   string
		vars   map[string]string
		code   int
		output []string
	}{
		{"unknown key", map[string]string{"ENLACE_SECRET_KEY": strayKey}, 1, []string{
			"TOTP secrets: 1 checked, 0 sealed again under the current key, 1 do not decrypt under any configured key:",
			"user " + userID + " in tenant default: reset it with `enlace user reset-2fa --slug default --user-id " + userID + "`",
			"identity provider client secrets: 1 checked, 0 sealed again under the current key, 1 do not decrypt",
			"tenant default: set it again with `enlace tenant oidc set --slug default",
			"add the key that sealed them to ENLACE_SECRET_KEY_PREVIOUS",
		}},
		{"rotate", rotated, 0, []string{
			"TOTP secrets: 1 checked, 1 sealed again under the current key\n",
			"identity provider client secrets: 1 checked, 1 sealed again under the current key\n",
			"recovery codes: 1 user has unused codes made under an older key",
		}},
		{"second run", rotated, 0, []string{
			"TOTP secrets: 1 checked, 0 sealed again under the current key\n",
			"identity provider client secrets: 1 checked, 0 sealed again under the current key\n",
		}},
		{"new key alone", newOnly, 0, []string{"TOTP secrets: 1 checked, 0 sealed again under the current key\n"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, dir, s.vars, "secret-key", "rotate")
			if code != s.code {
				t.Errorf("exit %d, want %d; stdout %q, stderr %q", code, s.code, stdout, stderr)
			}
			for _, want := range s.output {
				if !strings.Contains(stdout+stderr, want) {
					t.Errorf("output lacks %q; stdout %q, stderr %q", want, stdout, stderr)
				}
			}
		})
	}

	if code, stdout, stderr := runCommand(t, dir, newOnly, "tenant", "oidc", "show", "--slug", "default"); code != 0 || !strings.Contains(stdout, "client_secret: (set)") {
		t.Errorf("oidc show under the new key alone after the rotation: exit %d; stdout %q, stderr %q", code, stdout, stderr)
	}

	// The TOTP secret now opens under the new key alone. Recovery codes are
	// hashes keyed by the old key, so they match only while it is listed.
	server = startServer(t, dir, newOnly)
	if status := signInWithTOTP(t, server.url(), "rotate@example.com", secret); status != http.StatusOK {
		t.Errorf("TOTP sign-in under the new key alone: status %d, want 200", status)
	}
	if status := signInWithRecoveryCode(t, server.url(), "rotate@example.com", codes[0]); status == http.StatusOK {
		t.Error("recovery code from before the rotation accepted without the old key, want it rejected")
	}
	server.stop(t)

	server = startServer(t, dir, rotated)
	if status := signInWithRecoveryCode(t, server.url(), "rotate@example.com", codes[0]); status != http.StatusOK {
		t.Errorf("recovery code from before the rotation with the old key listed: status %d, want 200", status)
	}

	// New codes are made under the new key, so none needs the old one.
	client := testenv.Client()
	if status := signInWithRecoveryCodeAs(t, client, server.url(), "rotate@example.com", codes[1]); status != http.StatusOK {
		t.Fatalf("second recovery code with the old key listed: status %d, want 200", status)
	}
	regenerated := apitest.Do(t, client, apitest.Request{Method: "POST", URL: server.url() + "/api/v1/me/2fa/recovery-codes",
		Body: map[string]string{"password": rotatePassword}})
	if regenerated.Status != http.StatusOK {
		t.Fatalf("regenerate recovery codes: status %d, body %s", regenerated.Status, regenerated.Body)
	}
	code, stdout, stderr := runCommand(t, dir, newOnly, "secret-key", "rotate")
	if code != 0 || !strings.Contains(stdout, "recovery codes: every unused code is under the current key") {
		t.Errorf("rotate after the codes were regenerated: exit %d; stdout %q, stderr %q", code, stdout, stderr)
	}
}

const rotatePassword = "long enough password"

// enrolTOTP registers email with TOTP and returns the TOTP secret, the
// recovery codes and the user's id.
func enrolTOTP(t *testing.T, base, email string) (secret string, codes []string, userID string) {
	t.Helper()
	client := testenv.Client()
	do := func(path string, body any) *apitest.Response {
		return apitest.Do(t, client, apitest.Request{Method: "POST", URL: base + path, Body: body})
	}

	register := do("/api/v1/auth/register", map[string]string{"email": email, "password": rotatePassword})
	if userID = register.Str("id"); userID == "" {
		t.Fatalf("register: status %d, body %s; want a user id", register.Status, register.Body)
	}
	do("/api/v1/auth/login", map[string]string{"email": email, "password": rotatePassword})
	setup := do("/api/v1/me/2fa/setup", nil)
	code, err := totp.GenerateCode(setup.Str("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	confirm := do("/api/v1/me/2fa/confirm", map[string]string{"code": code})
	if confirm.Status != http.StatusOK {
		t.Fatalf("confirm: status %d, body %s", confirm.Status, confirm.Body)
	}

	list, _ := confirm.JSON["recovery_codes"].([]any)
	for _, c := range list {
		codes = append(codes, c.(string))
	}
	if len(codes) == 0 {
		t.Fatalf("confirm returned no recovery codes: %s", confirm.Body)
	}
	return setup.Str("secret"), codes, userID
}

// signInWithTOTP signs in with the password and a TOTP code and returns
// the status of the code step. The code is the next time step's, which the
// window accepts, because the current one was used at enrolment and a
// replay is rejected.
func signInWithTOTP(t *testing.T, base, email, secret string) int {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return secondFactor(t, testenv.Client(), base, email, "/api/v1/auth/2fa/verify", map[string]string{"code": code})
}

// signInWithRecoveryCode signs in with the password and a recovery code and
// returns the status of the recovery code step.
func signInWithRecoveryCode(t *testing.T, base, email, recoveryCode string) int {
	t.Helper()
	return signInWithRecoveryCodeAs(t, testenv.Client(), base, email, recoveryCode)
}

// signInWithRecoveryCodeAs is signInWithRecoveryCode with the caller's
// client, which keeps the session cookie.
func signInWithRecoveryCodeAs(t *testing.T, client *http.Client, base, email, recoveryCode string) int {
	t.Helper()
	return secondFactor(t, client, base, email, "/api/v1/auth/2fa/recovery", map[string]string{"recovery_code": recoveryCode})
}

func secondFactor(t *testing.T, client *http.Client, base, email, path string, body map[string]string) int {
	t.Helper()
	login := apitest.Do(t, client, apitest.Request{Method: "POST", URL: base + "/api/v1/auth/login",
		Body: map[string]string{"email": email, "password": rotatePassword}})
	if login.Status != http.StatusOK || login.JSON["requires_2fa"] != true {
		t.Fatalf("login: status %d, body %s; want a pending sign-in", login.Status, login.Body)
	}
	return apitest.Do(t, client, apitest.Request{Method: "POST", URL: base + path, Body: body}).Status
}

func TestSecretKeyFileIgnoredWarning(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{4}, 32))

	// The first run generates data/secret.key.
	if code, stdout, stderr := runCommand(t, dir, nil, "secret-key", "rotate"); code != 0 {
		t.Fatalf("rotate with a generated key: exit %d; stdout %q, stderr %q", code, stdout, stderr)
	}

	code, stdout, stderr := runCommand(t, dir, map[string]string{"ENLACE_SECRET_KEY": key}, "secret-key", "rotate")
	if code != 0 {
		t.Fatalf("rotate with ENLACE_SECRET_KEY set: exit %d; stdout %q, stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "the key file in the data folder is not used") {
		t.Errorf("stderr lacks the warning about the unused key file: %q", stderr)
	}
}
