package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/oidc/oidctest"
	"github.com/enlace-auth/enlace/totp"
)

// binary is the enlace command built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "enlace-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "enlace")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build enlace:", err)
		os.Exit(1)
	}

	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is one running enlace command.
type process struct {
	cmd  *exec.Cmd
	port int
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// environment returns a clean environment holding only vars, so that a
// developer's own settings cannot leak into the tests.
func environment(vars map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runCommand runs enlace to completion and returns its exit code and output.
func runCommand(t *testing.T, dir string, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = environment(vars)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if exitErr, ok := err.(*exec.ExitError); ok {
		return exitErr.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		t.Fatalf("run enlace %v: %v", args, err)
	}
	return 0, stdout.String(), stderr.String()
}

// startServer runs `enlace serve` in dir and waits until /healthz returns 200.
func startServer(t *testing.T, dir string, vars map[string]string) *process {
	t.Helper()
	p := &process{port: freePort(t)}
	all := map[string]string{"PORT": strconv.Itoa(p.port), "LOG_FORMAT": "json"}
	for k, v := range vars {
		all[k] = v
	}

	p.cmd = exec.Command(binary, "serve")
	p.cmd.Dir = dir
	p.cmd.Env = environment(all)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start enlace: %v", err)
	}
	t.Cleanup(func() { p.stop(t) })

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("enlace did not answer /healthz within 30s; output:\n%s", p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) url() string { return "http://127.0.0.1:" + strconv.Itoa(p.port) }

// stop sends SIGTERM and expects a clean exit.
func (p *process) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("enlace exited with %v after SIGTERM; output:\n%s", err, p.output())
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("enlace did not stop within 20s of SIGTERM; output:\n%s", p.output())
	}
}

// accountFlow registers, signs in, reads /me, changes the password and
// signs out through the public API, the way the README shows with curl.
func accountFlow(t *testing.T, base, host string) {
	t.Helper()
	client := testenv.Client()
	do := func(method, path string, body any) *apitest.Response {
		return apitest.Do(t, client, apitest.Request{Method: method, URL: base + path, Body: body, Host: host})
	}

	steps := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"register", "POST", "/api/v1/auth/register", map[string]string{"email": "ada@example.com", "password": "first password", "display_name": "Ada"}, 201},
		{"login", "POST", "/api/v1/auth/login", map[string]string{"email": "ada@example.com", "password": "first password"}, 200},
		{"me", "GET", "/api/v1/me", nil, 200},
		{"change password", "PUT", "/api/v1/me/password", map[string]string{"current_password": "first password", "new_password": "second password"}, 204},
		{"logout", "POST", "/api/v1/auth/logout", nil, 204},
		{"me after logout", "GET", "/api/v1/me", nil, 401},
	}
	for _, s := range steps {
		if r := do(s.method, s.path, s.body); r.Status != s.status {
			t.Fatalf("%s: status %d, want %d; body %s", s.name, r.Status, s.status, r.Body)
		}
	}
}

func login(t *testing.T, base, host, email, password string) int {
	t.Helper()
	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "POST", URL: base + "/api/v1/auth/login", Host: host,
		Body: map[string]string{"email": email, "password": password}})
	return r.Status
}

func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()

	first := startServer(t, dir, nil)
	accountFlow(t, first.url(), "")
	first.stop(t)

	for _, want := range []string{`"msg":"database migrated"`, "REDIS_URL is not set", "ENLACE_SECRET_KEY is not set"} {
		if !strings.Contains(first.output(), want) {
			t.Errorf("first start output lacks %q:\n%s", want, first.output())
		}
	}
	for _, file := range []string{"data/enlace.db", "data/secret.key"} {
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}

	second := startServer(t, dir, nil)
	if got := login(t, second.url(), "", "ada@example.com", "second password"); got != 200 {
		t.Errorf("login after restart: status %d, want 200", got)
	}
	if strings.Contains(second.output(), `"msg":"database migrated"`) {
		t.Errorf("second start migrated again:\n%s", second.output())
	}
	if strings.Contains(second.output(), "ENLACE_SECRET_KEY is not set") {
		t.Errorf("second start generated a new secret key:\n%s", second.output())
	}
}

func TestPostgresRedis(t *testing.T) {
	b := testenv.Postgres(t)
	dir := t.TempDir()
	vars := map[string]string{
		"DATABASE_URL":      freshSchema(t),
		"REDIS_URL":         b.RedisURL,
		"ENLACE_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}

	code, stdout, stderr := runCommand(t, dir, vars, "migrate")
	if code != 0 || !strings.Contains(stdout, "postgres schema is at version") {
		t.Fatalf("migrate: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "database migrated") {
		t.Errorf("first migrate did not report applying migrations: %q", stderr)
	}

	code, _, stderr = runCommand(t, dir, vars, "migrate")
	if code != 0 || !strings.Contains(stderr, "database schema is up to date") || strings.Contains(stderr, "database migrated") {
		t.Errorf("second migrate: exit %d, stderr %q; want up to date without migrating", code, stderr)
	}

	server := startServer(t, dir, vars)
	accountFlow(t, server.url(), "")
	if strings.Contains(server.output(), `"msg":"database migrated"`) {
		t.Errorf("serve re-ran migrations:\n%s", server.output())
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Errorf("serve on PostgreSQL created a data folder")
	}
}

// freshSchema returns a PostgreSQL URL using a new empty schema.
func freshSchema(t *testing.T) string {
	return testenv.NewPostgresSchema(t, os.Getenv(testenv.DatabaseURLEnv))
}

func TestInvalidConfig(t *testing.T) {
	cases := []struct {
		name  string
		vars  map[string]string
		names []string
	}{
		{"several at once", map[string]string{
			"PORT": "abc", "BASE_URL": "ftp://example.com", "MULTI_TENANT": "maybe", "ENLACE_SECRET_KEY": "c2hvcnQ=",
		}, []string{"PORT", "BASE_URL", "MULTI_TENANT", "ENLACE_SECRET_KEY"}},
		{"key required with postgres", map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1/db"}, []string{"ENLACE_SECRET_KEY"}},
		{"port out of range", map[string]string{"PORT": "70000"}, []string{"PORT"}},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCommand(t, t.TempDir(), tc.vars, "serve")
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			for _, name := range tc.names {
				if !strings.Contains(stderr, "  - "+name+": ") {
					t.Errorf("stderr does not list %s:\n%s", name, stderr)
				}
			}
		})
	}
}

func TestMultiTenantCLI(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"MULTI_TENANT": "true", "TENANT_BASE_DOMAIN": "localhost"}

	for _, args := range [][]string{
		{"tenant", "create", "--slug", "a", "--name", "Tenant A", "--domain", "a.localhost"},
		{"tenant", "create", "--slug", "b", "--domain", "B.Localhost."},
	} {
		if code, stdout, stderr := runCommand(t, dir, vars, args...); code != 0 || !strings.Contains(stdout, "created tenant") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}

	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"tenant", "create", "--slug", "Bad_Slug"},
			{"tenant", "create", "--slug", "c", "--domain", "a.localhost"},
			{"tenant", "create"},
		} {
			code, _, stderr := runCommand(t, dir, vars, args...)
			if code != 2 || !strings.Contains(stderr, "enlace: ") {
				t.Errorf("%v: exit %d, stderr %q; want exit 2 with a message", args, code, stderr)
			}
		}
	})

	code, stdout, _ := runCommand(t, dir, vars, "tenant", "list")
	if code != 0 || !strings.Contains(stdout, "a.localhost") || !strings.Contains(stdout, "b.localhost") {
		t.Errorf("tenant list: exit %d, output %q", code, stdout)
	}

	server := startServer(t, dir, vars)
	port := strconv.Itoa(server.port)
	accountFlow(t, server.url(), "a.localhost:"+port)
	accountFlow(t, server.url(), "b.localhost:"+port)

	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: server.url() + "/api/v1/auth/config", Host: "c.localhost:" + port})
	if r.Status != 404 || r.Str("error") != "unknown tenant" {
		t.Errorf("unknown host: status %d, body %s", r.Status, r.Body)
	}
}

func TestTenantOIDCCLI(t *testing.T) {
	idp := oidctest.New(t)
	dir := t.TempDir()
	vars := map[string]string{"MULTI_TENANT": "true", "TENANT_BASE_DOMAIN": "localhost"}
	if code, _, stderr := runCommand(t, dir, vars, "tenant", "create", "--slug", "acme"); code != 0 {
		t.Fatalf("create: exit %d, %s", code, stderr)
	}

	cases := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"show before set", []string{"tenant", "oidc", "show", "--slug", "acme"}, 2, "no identity provider configured"},
		{"issuer mismatch", []string{"tenant", "oidc", "set", "--slug", "acme", "--issuer", idp.Issuer + "/", "--client-id", idp.ClientID}, 2, "discovery says"},
		{"unreachable issuer", []string{"tenant", "oidc", "set", "--slug", "acme", "--issuer", "http://127.0.0.1:1", "--client-id", "x"}, 2, "cannot be reached"},
		{"unknown tenant", []string{"tenant", "oidc", "set", "--slug", "nope", "--issuer", idp.Issuer, "--client-id", "x"}, 2, `no tenant with slug "nope"`},
		{"set", []string{"tenant", "oidc", "set", "--slug", "acme", "--issuer", idp.Issuer, "--client-id", idp.ClientID, "--client-secret", idp.ClientSecret}, 0, "saved identity provider"},
		{"show redacts secret", []string{"tenant", "oidc", "show", "--slug", "acme"}, 0, "client_secret: (set)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, dir, vars, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stdout %q, stderr %q", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tc.output) {
				t.Errorf("output lacks %q: stdout %q, stderr %q", tc.output, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, idp.ClientSecret) {
				t.Errorf("output shows the client secret")
			}
		})
	}

	server := startServer(t, dir, vars)
	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: server.url() + "/api/v1/auth/oidc/login",
		Host: "acme.localhost:" + strconv.Itoa(server.port)})
	if r.Status != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), idp.Issuer+"/authorize?") {
		t.Fatalf("SSO start on acme: status %d, location %q", r.Status, r.Header.Get("Location"))
	}
	loc, _ := url.Parse(r.Header.Get("Location"))
	if got, want := loc.Query().Get("redirect_uri"), "http://acme.localhost:"+strconv.Itoa(server.port)+"/api/v1/auth/oidc/callback"; got != want {
		t.Errorf("redirect_uri = %q, want %q", got, want)
	}
}

func TestUserResetTwoFactor(t *testing.T) {
	dir := t.TempDir()
	server := startServer(t, dir, nil)
	client := testenv.Client()
	do := func(method, path string, body any) *apitest.Response {
		return apitest.Do(t, client, apitest.Request{Method: method, URL: server.url() + path, Body: body})
	}
	do("POST", "/api/v1/auth/register", map[string]string{"email": "lost@example.com", "password": "long enough password"})
	do("POST", "/api/v1/auth/login", map[string]string{"email": "lost@example.com", "password": "long enough password"})
	setup := do("POST", "/api/v1/me/2fa/setup", nil)
	code, err := totp.GenerateCode(setup.Str("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := do("POST", "/api/v1/me/2fa/confirm", map[string]string{"code": code}); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}

	cases := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"missing email", []string{"user", "reset-2fa"}, 2, "needs --email or --user-id"},
		{"email and id", []string{"user", "reset-2fa", "--email", "a@example.com", "--user-id", "b"}, 2, "needs --email or --user-id"},
		{"unknown user", []string{"user", "reset-2fa", "--email", "nobody@example.com"}, 2, "no user with email"},
		{"invalid id", []string{"user", "reset-2fa", "--user-id", "nobody"}, 2, `--user-id "nobody" is not a user id`},
		{"unknown id", []string{"user", "reset-2fa", "--user-id", "00000000-0000-4000-8000-000000000000"}, 2, "no user with id"},
		{"reset", []string{"user", "reset-2fa", "--email", "LOST@example.com"}, 0, "removed the TOTP secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, dir, nil, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.output) {
				t.Errorf("exit %d, want %d; stdout %q, stderr %q", code, tc.code, stdout, stderr)
			}
		})
	}

	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "POST", URL: server.url() + "/api/v1/auth/login",
		Body: map[string]string{"email": "lost@example.com", "password": "long enough password"}})
	if r.Status != 200 || r.JSON["user"] == nil {
		t.Errorf("login after reset still asks for a code: %d %s", r.Status, r.Body)
	}
}

func TestListenHost(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback to tell the listen addresses apart: %v", err)
	} else {
		ln.Close()
	}

	cases := []struct {
		name      string
		vars      map[string]string
		reachable bool
	}{
		{"every interface", nil, true},
		{"ipv4 loopback only", map[string]string{"HOST": "127.0.0.1"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := startServer(t, t.TempDir(), tc.vars)

			conn, err := net.DialTimeout("tcp", net.JoinHostPort("::1", strconv.Itoa(server.port)), 5*time.Second)
			if err == nil {
				conn.Close()
			}
			if reachable := err == nil; reachable != tc.reachable {
				t.Errorf("[::1]:%d reachable = %v, want %v (dial error: %v)", server.port, reachable, tc.reachable, err)
			}
		})
	}
}
