package main

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/testenv"
)

// createdTokenPattern matches the output of `enlace platform-token create`
// and captures the token's name, id and value.
var createdTokenPattern = regexp.MustCompile(`(?m)^created platform token (\S+) \(id ([0-9a-f-]{36})\); it is shown only now:\n(\S+)\n\z`)

func TestPlatformTokenCLI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { platformTokenFlow(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(testenv.DatabaseURLEnv) == "" {
			testenv.Skip(t, "PostgreSQL not configured: set %s", testenv.DatabaseURLEnv)
		}
		platformTokenFlow(t, map[string]string{
			"DATABASE_URL":      freshSchema(t),
			"ENLACE_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		})
	})
}

// platformTokenFlow creates, lists and revokes a platform token with the
// enlace command under vars, and uses it on a server started with vars.
func platformTokenFlow(t *testing.T, vars map[string]string) {
	dir := t.TempDir()

	code, stdout, stderr := runCommand(t, dir, vars, "platform-token", "create", "--name", "ci")
	if code != 0 {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	m := createdTokenPattern.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("create output %q does not match %s", stdout, createdTokenPattern)
	}
	name, id, token := m[1], m[2], m[3]
	if name != "ci" {
		t.Errorf("token name = %q, want ci", name)
	}
	if !strings.HasPrefix(token, "enp_") || len(token) < 40 {
		t.Errorf("token = %q, want enp_ and at least 36 more characters", token)
	}

	t.Run("list", func(t *testing.T) {
		code, stdout, stderr := runCommand(t, dir, vars, "platform-token", "list")
		if code != 0 {
			t.Fatalf("list: exit %d, stderr %q", code, stderr)
		}
		if !strings.HasPrefix(stdout, "ID ") {
			t.Errorf("list output lacks the header line: %q", stdout)
		}
		row := tokenRow(stdout, id)
		if row == nil || row[1] != "ci" || row[3] != "false" {
			t.Errorf("list row of %s = %v, want name ci and revoked false; output %q", id, row, stdout)
		}
		if strings.Contains(stdout, token) {
			t.Errorf("list output shows the token itself")
		}
	})

	server := startServer(t, dir, vars)
	listTenants := func(t *testing.T) *apitest.Response {
		t.Helper()
		return apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: server.url() + "/api/v1/platform/tenants",
			Headers: map[string]string{"Authorization": "Bearer " + token}})
	}

	t.Run("token authenticates", func(t *testing.T) {
		r := listTenants(t)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d, body %s; want 200", r.Status, r.Body)
		}
		items, _ := r.JSON["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["slug"] != "default" {
			t.Errorf("tenants = %v, want only default", items)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		code, stdout, stderr := runCommand(t, dir, vars, "platform-token", "revoke", "--id", id)
		if code != 0 || !strings.Contains(stdout, "revoked platform token "+id) {
			t.Fatalf("revoke: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}

		r := listTenants(t)
		if r.Status != http.StatusUnauthorized || r.Str("code") != "platform_unauthorized" {
			t.Errorf("revoked token: status %d, body %s; want 401 platform_unauthorized", r.Status, r.Body)
		}

		_, stdout, _ = runCommand(t, dir, vars, "platform-token", "list")
		if row := tokenRow(stdout, id); row == nil || row[3] != "true" {
			t.Errorf("list row of %s after revoking = %v, want revoked true", id, row)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			name   string
			args   []string
			output string
		}{
			{"revoke unknown id", []string{"platform-token", "revoke", "--id", uuid.NewString()}, "not found"},
			{"revoke twice", []string{"platform-token", "revoke", "--id", id}, "not found"},
			{"revoke malformed id", []string{"platform-token", "revoke", "--id", "not-a-uuid"}, "not-a-uuid"},
			{"revoke without id", []string{"platform-token", "revoke"}, "needs --id"},
			{"create without name", []string{"platform-token", "create"}, "needs --name"},
			{"unknown subcommand", []string{"platform-token", "rotate"}, `unknown platform-token subcommand "rotate"`},
			{"no subcommand", []string{"platform-token"}, "needs a subcommand"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				code, stdout, stderr := runCommand(t, dir, vars, tc.args...)
				if code != 2 {
					t.Errorf("exit %d, want 2; stdout %q, stderr %q", code, stdout, stderr)
				}
				if !strings.Contains(stderr, "enlace: ") {
					t.Errorf("stderr %q, want a message starting with enlace:", stderr)
				}
				if !strings.Contains(stderr, tc.output) {
					t.Errorf("stderr %q, want it to contain %q", stderr, tc.output)
				}
			})
		}
	})
}

// tokenRow returns the fields of the `platform-token list` row of id:
// id, name, created time and revoked flag. It returns nil when no row has id.
func tokenRow(list, id string) []string {
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 4 && fields[0] == id {
			return fields
		}
	}
	return nil
}
