package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/oidc/oidctest"
	"github.com/enlace-auth/enlace/totp"
)

// code returns the TOTP code of secret at the fixture's current time.
func (f *fixture) code(secret string) string {
	f.t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// enrol turns 2FA on for client's user and returns the secret and codes.
func (f *fixture) enrol(client *http.Client) (string, []string) {
	f.t.Helper()
	setup := f.do(client, "POST", "/api/v1/me/2fa/setup", nil)
	if setup.Status != 200 || setup.Str("secret") == "" || setup.Str("qr_code") == "" || !strings.HasPrefix(setup.Str("provisioning_uri"), "otpauth://totp/") {
		f.t.Fatalf("setup: status %d, body %s", setup.Status, setup.Body)
	}
	secret := setup.Str("secret")
	confirm := f.do(client, "POST", "/api/v1/me/2fa/confirm", map[string]string{"code": f.code(secret)})
	if confirm.Status != 200 {
		f.t.Fatalf("confirm: status %d, body %s", confirm.Status, confirm.Body)
	}
	var codes []string
	for _, c := range confirm.JSON["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	return secret, codes
}

func (f *fixture) login(client *http.Client, email, password string) *apitest.Response {
	f.t.Helper()
	return f.do(client, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password})
}

func TestTwoFactorEnrolAndSignIn(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newFixture(t, b, nil)
		client := f.signUp("totp@example.com", "long enough password")

		t.Run("confirm before setup", func(t *testing.T) {
			r := f.do(client, "POST", "/api/v1/me/2fa/confirm", map[string]string{"code": "123456"})
			if r.Status != 400 || r.Str("code") != "2fa_no_enrolment" {
				t.Errorf("status %d, body %s", r.Status, r.Body)
			}
		})

		t.Run("wrong confirm code", func(t *testing.T) {
			f.do(client, "POST", "/api/v1/me/2fa/setup", nil)
			r := f.do(client, "POST", "/api/v1/me/2fa/confirm", map[string]string{"code": "000000"})
			if r.Status != 401 || r.Str("error") != "invalid 2FA code" {
				t.Errorf("status %d, body %s", r.Status, r.Body)
			}
		})

		secret, codes := f.enrol(client)
		if len(codes) != 10 {
			t.Fatalf("got %d recovery codes, want 10", len(codes))
		}

		t.Run("status", func(t *testing.T) {
			r := f.do(client, "GET", "/api/v1/me/2fa/status", nil)
			if r.JSON["enabled"] != true || r.JSON["available"] != true || r.JSON["require_2fa"] != false {
				t.Errorf("status body %s", r.Body)
			}
			if me := f.do(client, "GET", "/api/v1/me", nil); me.JSON["totp_enabled"] != true {
				t.Errorf("me totp_enabled = %v", me.JSON["totp_enabled"])
			}
		})

		t.Run("setup again", func(t *testing.T) {
			r := f.do(client, "POST", "/api/v1/me/2fa/setup", nil)
			if r.Status != 409 {
				t.Errorf("status %d, want 409; body %s", r.Status, r.Body)
			}
		})

		t.Run("login asks for code", func(t *testing.T) {
			c := testenv.Client()
			r := f.login(c, "totp@example.com", "long enough password")
			if r.Status != 200 || r.JSON["requires_2fa"] != true || r.JSON["user"] != nil {
				t.Fatalf("login: status %d, body %s", r.Status, r.Body)
			}
			if me := f.do(c, "GET", "/api/v1/me", nil); me.Status != 401 {
				t.Errorf("pending state reached /me: status %d", me.Status)
			}
			if st := f.do(c, "GET", "/api/v1/me/2fa/status", nil); st.Status != 401 {
				t.Errorf("verify-pending state reached 2fa status: status %d", st.Status)
			}
			if r := f.do(c, "POST", "/api/v1/auth/2fa/verify", map[string]string{"code": "000000"}); r.Status != 401 || r.Str("error") != "invalid 2FA code" {
				t.Errorf("wrong code: status %d, body %s", r.Status, r.Body)
			}

			f.clock.Advance(30 * time.Second)
			code := f.code(secret)
			r = f.do(c, "POST", "/api/v1/auth/2fa/verify", map[string]string{"code": code[:3] + " " + code[3:]})
			if r.Status != 200 || r.JSON["user"] == nil {
				t.Fatalf("verify: status %d, body %s", r.Status, r.Body)
			}
			if me := f.do(c, "GET", "/api/v1/me", nil); me.Status != 200 {
				t.Errorf("after verify: /me status %d", me.Status)
			}

			replay := testenv.Client()
			f.login(replay, "totp@example.com", "long enough password")
			if r := f.do(replay, "POST", "/api/v1/auth/2fa/verify", map[string]string{"code": code}); r.Status != 401 {
				t.Errorf("replayed code: status %d, want 401", r.Status)
			}
			f.clock.Advance(30 * time.Second)
			if r := f.do(replay, "POST", "/api/v1/auth/2fa/verify", map[string]string{"code": f.code(secret)}); r.Status != 200 {
				t.Errorf("next step's code: status %d, body %s", r.Status, r.Body)
			}
		})

		t.Run("recovery code once", func(t *testing.T) {
			variant := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
			for i, want := range []int{200, 401} {
				c := testenv.Client()
				f.login(c, "totp@example.com", "long enough password")
				r := f.do(c, "POST", "/api/v1/auth/2fa/recovery", map[string]string{"recovery_code": variant})
				if r.Status != want {
					t.Errorf("use %d: status %d, want %d; body %s", i+1, r.Status, want, r.Body)
				}
			}
		})

		t.Run("no pending sign-in", func(t *testing.T) {
			r := f.do(testenv.Client(), "POST", "/api/v1/auth/2fa/verify", map[string]string{"code": "123456"})
			if r.Status != 401 || r.Str("code") != "no_pending_sign_in" {
				t.Errorf("status %d, body %s", r.Status, r.Body)
			}
		})

		t.Run("regenerate codes", func(t *testing.T) {
			if r := f.do(client, "POST", "/api/v1/me/2fa/recovery-codes", map[string]string{"password": "wrong password"}); r.Status != 403 {
				t.Errorf("wrong password: status %d", r.Status)
			}
			r := f.do(client, "POST", "/api/v1/me/2fa/recovery-codes", map[string]string{"password": "long enough password"})
			fresh, _ := r.JSON["recovery_codes"].([]any)
			if r.Status != 200 || len(fresh) != 10 {
				t.Fatalf("regenerate: status %d, body %s", r.Status, r.Body)
			}
			c := testenv.Client()
			f.login(c, "totp@example.com", "long enough password")
			if r := f.do(c, "POST", "/api/v1/auth/2fa/recovery", map[string]string{"recovery_code": codes[1]}); r.Status != 401 {
				t.Errorf("old code after regenerate: status %d, want 401", r.Status)
			}
			if r := f.do(c, "POST", "/api/v1/auth/2fa/recovery", map[string]string{"recovery_code": fresh[0].(string)}); r.Status != 200 {
				t.Errorf("new code: status %d, body %s", r.Status, r.Body)
			}
		})

		t.Run("disable", func(t *testing.T) {
			if r := f.do(client, "POST", "/api/v1/me/2fa/disable", map[string]string{"password": "wrong password"}); r.Status != 403 || r.Str("code") != "wrong_password" {
				t.Errorf("wrong password: status %d, body %s", r.Status, r.Body)
			}
			if r := f.do(client, "POST", "/api/v1/me/2fa/disable", map[string]string{"password": "long enough password"}); r.Status != 204 {
				t.Fatalf("disable: status %d, body %s", r.Status, r.Body)
			}
			if r := f.login(testenv.Client(), "totp@example.com", "long enough password"); r.JSON["user"] == nil {
				t.Errorf("login after disable still asks for a code: %s", r.Body)
			}
			if r := f.do(client, "POST", "/api/v1/me/2fa/disable", map[string]string{"password": "long enough password"}); r.Status != 400 {
				t.Errorf("disable twice: status %d, want 400", r.Status)
			}
		})
	})
}

func TestTwoFactorRateLimit(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		f := newFixture(t, b, nil)
		client := f.signUp("limited@example.com", "long enough password")
		f.enrol(client)

		c := testenv.Client()
		f.login(c, "limited@example.com", "long enough password")
		for i := 1; i <= 6; i++ {
			r := f.do(c, "POST", "/api/v1/auth/2fa/verify", map[string]string{"code": "000000"})
			want := 401
			if i == 6 {
				want = 429
			}
			if r.Status != want {
				t.Fatalf("attempt %d: status %d, want %d; body %s", i, r.Status, want, r.Body)
			}
			if want == 429 && r.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		}
	})
}

func TestTwoFactorRequired(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		idp := oidctest.New(t)
		f := newFixture(t, b, map[string]string{
			"REQUIRE_2FA": "true", "OIDC_ENABLED": "true", "OIDC_ISSUER_URL": idp.Issuer,
			"OIDC_CLIENT_ID": idp.ClientID, "OIDC_CLIENT_SECRET": idp.ClientSecret,
		})
		f.server.URL = "http://localhost:" + itoa(f.server.Port)

		c := testenv.Client()
		if r := f.do(c, "POST", "/api/v1/auth/register", map[string]string{"email": "must@example.com", "password": "long enough password"}); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		r := f.login(c, "must@example.com", "long enough password")
		if r.JSON["requires_2fa_setup"] != true || r.JSON["user"] != nil {
			t.Fatalf("login: %s", r.Body)
		}

		for _, path := range []string{"/api/v1/me", "/api/v1/me/sessions"} {
			if r := f.do(c, "GET", path, nil); r.Status != 401 {
				t.Errorf("%s before enrolment: status %d, want 401", path, r.Status)
			}
		}
		if r := f.do(c, "POST", "/api/v1/me/2fa/disable", map[string]string{"password": "x"}); r.Status != 401 {
			t.Errorf("disable before enrolment: status %d, want 401", r.Status)
		}
		if r := f.do(c, "GET", "/api/v1/me/2fa/status", nil); r.Status != 200 || r.JSON["require_2fa"] != true || r.JSON["enabled"] != false {
			t.Errorf("status during set-up: %d %s", r.Status, r.Body)
		}

		setup := f.do(c, "POST", "/api/v1/me/2fa/setup", nil)
		if setup.Status != 200 {
			t.Fatalf("setup: %d %s", setup.Status, setup.Body)
		}
		confirm := f.do(c, "POST", "/api/v1/me/2fa/confirm", map[string]string{"code": f.code(setup.Str("secret"))})
		if confirm.Status != 200 || confirm.JSON["user"] == nil {
			t.Fatalf("confirm: %d %s", confirm.Status, confirm.Body)
		}
		if r := f.do(c, "GET", "/api/v1/me", nil); r.Status != 200 || r.JSON["totp_enabled"] != true {
			t.Errorf("/me after enrolment: %d %s", r.Status, r.Body)
		}

		t.Run("sso user goes straight in", func(t *testing.T) {
			sso := &ssoFixture{t: t, idp: idp, server: f.server, clock: f.clock, base: f.server.URL}
			idp.SetUser(verifiedUser("sub-required", "sso-required@example.com"))
			client := testenv.Client()
			if r := sso.signIn(client); r.Status != 302 || r.Header.Get("Location") != "/welcome" {
				t.Fatalf("sso sign-in: status %d, location %q", r.Status, r.Header.Get("Location"))
			}
			if me := f.do(client, "GET", "/api/v1/me", nil); me.Status != 200 {
				t.Errorf("sso user /me: status %d", me.Status)
			}

			if r := f.do(client, "PUT", "/api/v1/me/password", map[string]string{"new_password": "a password now"}); r.Status != 204 {
				t.Fatalf("set password: %d", r.Status)
			}
			r := f.login(testenv.Client(), "sso-required@example.com", "a password now")
			if r.Status != 403 || r.Str("code") != "sso_required" {
				t.Errorf("password login of linked account: status %d, body %s", r.Status, r.Body)
			}
		})
	})
}

func TestTwoFactorUnavailableForSSO(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		sso := newSSOFixture(t, b)
		pw := newFixtureOn(sso)

		// A password user with 2FA links SSO by verified email: the factor goes.
		client := pw.signUp("both@example.com", "long enough password")
		pw.enrol(client)
		sso.idp.SetUser(verifiedUser("sub-both", "both@example.com"))
		ssoClient := testenv.Client()
		if r := sso.signIn(ssoClient); r.Status != 302 || r.Header.Get("Location") != "/welcome" {
			t.Fatalf("sso sign-in: status %d, location %q", r.Status, r.Header.Get("Location"))
		}
		if me := pw.do(ssoClient, "GET", "/api/v1/me", nil); me.JSON["totp_enabled"] != false || me.JSON["oidc_linked"] != true {
			t.Errorf("after link: %s", me.Body)
		}
		if r := pw.login(testenv.Client(), "both@example.com", "long enough password"); r.JSON["requires_2fa"] == true {
			t.Errorf("password login still asks for the removed factor")
		}

		for _, path := range []string{"/api/v1/me/2fa/setup", "/api/v1/me/2fa/confirm", "/api/v1/me/2fa/disable", "/api/v1/me/2fa/recovery-codes"} {
			body := map[string]string{"code": "123456"}
			if strings.HasSuffix(path, "disable") || strings.HasSuffix(path, "recovery-codes") {
				body = map[string]string{"password": "long enough password"}
			}
			r := pw.do(ssoClient, "POST", path, body)
			if r.Status != 403 || r.Str("error") != "2FA is not available for SSO accounts" {
				t.Errorf("%s: status %d, body %s", path, r.Status, r.Body)
			}
		}
		if r := pw.do(ssoClient, "GET", "/api/v1/me/2fa/status", nil); r.Status != 200 || r.JSON["available"] != false {
			t.Errorf("status: %d %s", r.Status, r.Body)
		}
	})
}
