package api_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/enlace-auth/enlace/internal/apitest"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
)

const openAPIPath = "/api/v1/openapi.json"

// openAPIMethods are the keys of an OpenAPI 3.0 path item that name an
// operation. Other keys, such as summary and parameters, are skipped.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// fiberParam matches a Fiber path parameter such as ":id" or ":id?".
var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)\??`)

// fetchOpenAPI returns the served document, decoded.
func fetchOpenAPI(t *testing.T, srv *testenv.Server, host string) (*apitest.Response, map[string]any) {
	t.Helper()
	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: srv.URL + openAPIPath, Host: host})
	if r.Status != 200 {
		t.Fatalf("GET %s on host %q: status %d, body %s", openAPIPath, host, r.Status, r.Body)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", openAPIPath, err)
	}
	return r, doc
}

// servedOperations returns "METHOD /path" for every API route of the app,
// with Fiber's ":id" parameters written as OpenAPI's "{id}".
func servedOperations(srv *testenv.Server) map[string]bool {
	ops := map[string]bool{}
	for _, route := range srv.App.API.App().GetRoutes(true) {
		// Fiber adds HEAD for every GET, and "USE" marks middleware.
		if route.Method == "HEAD" || route.Method == "USE" {
			continue
		}
		if !strings.HasPrefix(route.Path, "/api/") && route.Path != "/healthz" && route.Path != "/readyz" {
			continue
		}
		ops[route.Method+" "+fiberParam.ReplaceAllString(route.Path, "{$1}")] = true
	}
	return ops
}

// documentedOperations returns "METHOD /path" for every operation of doc.
func documentedOperations(t *testing.T, doc map[string]any) map[string]bool {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatalf("document has no paths object")
	}
	ops := map[string]bool{}
	for path, item := range paths {
		methods, ok := item.(map[string]any)
		if !ok {
			t.Errorf("path %s: path item is not an object", path)
			continue
		}
		for key := range methods {
			if slices.Contains(openAPIMethods, key) {
				ops[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	return ops
}

// missingFrom returns the keys of want that are not in have, sorted.
func missingFrom(want, have map[string]bool) []string {
	var out []string
	for k := range want {
		if !have[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	srv := testenv.StartServer(t, testenv.SQLite(t), nil, app.Options{})
	_, doc := fetchOpenAPI(t, srv, "")

	served := servedOperations(srv)
	documented := documentedOperations(t, doc)
	if len(served) == 0 {
		t.Fatal("GetRoutes returned no API routes, so there is nothing to compare")
	}

	if missing := missingFrom(served, documented); len(missing) > 0 {
		t.Errorf("%d routes are not in api/openapi.json; document them:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if stale := missingFrom(documented, served); len(stale) > 0 {
		t.Errorf("%d operations in api/openapi.json have no route; remove or fix them:\n  %s", len(stale), strings.Join(stale, "\n  "))
	}
}

func TestOpenAPIServedDocument(t *testing.T) {
	srv := testenv.StartServer(t, testenv.SQLite(t), nil, app.Options{})
	r, doc := fetchOpenAPI(t, srv, "")

	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := r.Header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q, want public, max-age=300", got)
	}
	if got := doc["openapi"]; got != "3.0.3" {
		t.Errorf("openapi = %v, want 3.0.3", got)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "Enlace" || info["version"] != "1" {
		t.Errorf("info title and version = %v and %v, want Enlace and 1", info["title"], info["version"])
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	srv := testenv.StartServer(t, testenv.SQLite(t), nil, app.Options{})
	_, doc := fetchOpenAPI(t, srv, "")

	var broken []string
	count := 0
	walkRefs(doc, "#", func(at, ref string) {
		count++
		if err := resolvePointer(doc, ref); err != nil {
			broken = append(broken, fmt.Sprintf("%s: $ref %q: %v", at, ref, err))
		}
	})
	if count == 0 {
		t.Fatal("document has no $ref; the walk found nothing to check")
	}
	if len(broken) > 0 {
		sort.Strings(broken)
		t.Errorf("%d of %d $ref values do not resolve:\n  %s", len(broken), count, strings.Join(broken, "\n  "))
	}
}

func TestOpenAPIOnUnknownHost(t *testing.T) {
	vars := map[string]string{"MULTI_TENANT": "true", "TENANT_BASE_DOMAIN": "localhost"}
	srv := testenv.StartServer(t, testenv.SQLite(t), vars, app.Options{})

	// The same host gets 404 unknown_tenant on tenant routes.
	r := apitest.Do(t, testenv.Client(), apitest.Request{Method: "GET", URL: srv.URL + "/api/v1/auth/config", Host: "nobody.example.org"})
	if r.Status != 404 || r.Str("code") != "unknown_tenant" {
		t.Fatalf("GET /api/v1/auth/config on an unknown host: status %d, body %s; want 404 unknown_tenant", r.Status, r.Body)
	}

	_, doc := fetchOpenAPI(t, srv, "nobody.example.org")
	if got := doc["openapi"]; got != "3.0.3" {
		t.Errorf("openapi = %v, want 3.0.3", got)
	}
}

// walkRefs calls visit with the location and value of every "$ref" string
// in v.
func walkRefs(v any, at string, visit func(at, ref string)) {
	switch node := v.(type) {
	case map[string]any:
		for key, child := range node {
			if ref, ok := child.(string); ok && key == "$ref" {
				visit(at, ref)
				continue
			}
			walkRefs(child, at+"/"+escapePointer(key), visit)
		}
	case []any:
		for i, child := range node {
			walkRefs(child, at+"/"+strconv.Itoa(i), visit)
		}
	}
}

// resolvePointer checks that ref is a local JSON pointer (RFC 6901) that
// names a value in doc.
func resolvePointer(doc map[string]any, ref string) error {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return fmt.Errorf("not a local reference starting with #/")
	}
	var node any = doc
	for _, token := range strings.Split(pointer, "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		object, ok := node.(map[string]any)
		if !ok {
			return fmt.Errorf("%q is inside a value that is not an object", token)
		}
		if node, ok = object[token]; !ok {
			return fmt.Errorf("no member %q", token)
		}
	}
	return nil
}

func escapePointer(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
