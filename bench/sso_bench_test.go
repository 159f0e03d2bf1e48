package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/oidc/oidctest"
	"github.com/enlace-auth/enlace/tenant"
)

// BenchmarkSSOSignIn measures the wall time that Enlace itself adds to one
// SSO sign-in through a test provider in this process. Each iteration is a
// new browser (a new cookie jar) that sends GET /api/v1/auth/oidc/login,
// goes through the provider's /authorize and sends GET
// /api/v1/auth/oidc/callback. Enlace's own time is the wall time of the
// two Enlace requests minus the time the provider's handlers spent while
// they ran (the code exchange at /token, and /userinfo or discovery if
// called). ns/op is the whole iteration, including the /authorize hop.
//
// Sub-benchmarks: existing-user signs in the same provider user every
// time, so Enlace finds the linked identity (rule 1). new-user signs in a
// new subject and email every time, so Enlace creates the user (rule 3).
func BenchmarkSSOSignIn(b *testing.B) {
	b.Run("sqlite+memory", func(b *testing.B) {
		backend, err := OpenSQLite(context.Background(), testenv.Logger())
		if err != nil {
			b.Fatal(err)
		}
		benchmarkSSOSignIn(b, backend)
	})
	b.Run("postgres+redis", func(b *testing.B) {
		databaseURL, redisURL := os.Getenv(testenv.DatabaseURLEnv), os.Getenv(testenv.RedisURLEnv)
		if databaseURL == "" || redisURL == "" {
			testenv.Skip(b, "PostgreSQL+Redis backend not configured: set %s and %s", testenv.DatabaseURLEnv, testenv.RedisURLEnv)
		}
		backend, err := OpenPostgres(context.Background(), databaseURL, redisURL, testenv.Logger())
		if err != nil {
			b.Fatal(err)
		}
		benchmarkSSOSignIn(b, backend)
	})
}

// ssoWarmupSignIns is the number of unmeasured sign-ins before each
// measurement. The first one fetches the provider's discovery document
// and keys and opens the keep-alive connections.
const ssoWarmupSignIns = 3

// ssoReturnPath is the return_to of every sign-in, and so the Location
// of every successful callback.
const ssoReturnPath = "/welcome"

// ssoRig is Enlace with the default tenant's identity provider set to a
// test provider, plus a hello-world server to time a bare loopback round
// trip with the same client.
type ssoRig struct {
	backend   *Backend
	tenantID  string
	idp       *oidctest.Provider
	enlace    *Server
	hello     *Server
	transport *http.Transport
	idpClient *http.Client
	// newUsers counts the users that new-user has signed in, across the
	// runs of that sub-benchmark, so that every subject is new.
	newUsers int
}

func benchmarkSSOSignIn(b *testing.B, backend *Backend) {
	rig := startSSORig(b, backend)

	b.Run("existing-user", func(b *testing.B) {
		user := ssoUser("bench-existing")
		rig.idp.SetUser(user)
		rig.measure(b, nil)
		rig.requireIdentity(b, user.Subject)
	})
	b.Run("new-user", func(b *testing.B) {
		var last oidctest.User
		rig.measure(b, func() {
			rig.newUsers++
			last = ssoUser(fmt.Sprintf("bench-new-%d", rig.newUsers))
			rig.idp.SetUser(last)
		})
		rig.requireIdentity(b, last.Subject)
	})
}

func startSSORig(b *testing.B, backend *Backend) *ssoRig {
	b.Cleanup(func() {
		if err := backend.Close(); err != nil {
			b.Error(err)
		}
	})
	idp := oidctest.New(b)
	env := map[string]string{
		"OIDC_ENABLED":       "true",
		"OIDC_ISSUER_URL":    idp.Issuer,
		"OIDC_CLIENT_ID":     idp.ClientID,
		"OIDC_CLIENT_SECRET": idp.ClientSecret,
	}
	// Every start comes from 127.0.0.1, so the default limit of 60 starts
	// per IP a minute would reject most of a 200-sign-in run. The limiter
	// still counts each start in the kv store, as in production.
	limits := api.DefaultRateLimits()
	limits.OIDCStartPerIP.Limit = 1 << 40

	enlace, err := StartEnlaceWith(backend.DB, backend.KV, os.Stderr, env, app.Options{RateLimits: &limits})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := enlace.Stop(); err != nil {
			b.Error(err)
		}
	})
	hello, err := StartHello()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := hello.Stop(); err != nil {
			b.Error(err)
		}
	})

	// Build created the default tenant.
	tn, err := backend.DB.TenantBySlug(context.Background(), tenant.DefaultSlug)
	if err != nil {
		b.Fatalf("find the default tenant: %v", err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	b.Cleanup(transport.CloseIdleConnections)

	return &ssoRig{
		backend:   backend,
		tenantID:  tn.ID,
		idp:       idp,
		enlace:    enlace,
		hello:     hello,
		transport: transport,
		idpClient: idp.Client(),
	}
}

// ssoUser returns a provider user with a verified email derived from
// subject, on a reserved domain (RFC 2606).
func ssoUser(subject string) oidctest.User {
	return oidctest.User{Subject: subject, Claims: map[string]any{
		"email":          subject + "@example.com",
		"email_verified": true,
		"name":           "Bench User",
	}}
}

// measure runs the warm-up sign-ins, then one measured sign-in per
// iteration, and reports the percentiles. prepare, when not nil, runs
// before every sign-in, warm-up included.
func (r *ssoRig) measure(b *testing.B, prepare func()) {
	for range ssoWarmupSignIns {
		if prepare != nil {
			prepare()
		}
		if _, err := r.signIn(b); err != nil {
			b.Fatalf("warm-up sign-in: %v", err)
		}
	}
	r.idp.ResetCounts()

	var samples []signInSample
	var roundTrips []time.Duration
	for b.Loop() {
		if prepare != nil {
			prepare()
		}
		sample, err := r.signIn(b)
		if err != nil {
			b.Fatalf("sign-in %d: %v", len(samples)+1, err)
		}
		samples = append(samples, sample)

		roundTrip, err := r.helloRoundTrip()
		if err != nil {
			b.Fatal(err)
		}
		roundTrips = append(roundTrips, roundTrip)
	}
	b.StopTimer()

	if n := r.idp.Requests(oidctest.EndpointDiscovery) + r.idp.Requests(oidctest.EndpointJWKS); n > 0 {
		b.Logf("the provider served %d discovery or JWKS requests during measurement; their handling time is subtracted", n)
	}
	reportSSOMetrics(b, samples, roundTrips)
}

// signInSample is the timing of one sign-in. Wall times are measured by
// the client, from sending the request to reading the whole response.
type signInSample struct {
	start     time.Duration // GET /api/v1/auth/oidc/login
	authorize time.Duration // the provider's /authorize hop
	callback  time.Duration // GET /api/v1/auth/oidc/callback
	// startIdP and callbackIdP are the provider's handling time, over all
	// its endpoints, while the start or the callback ran.
	startIdP    time.Duration
	callbackIdP time.Duration
}

func (s signInSample) ownStart() time.Duration    { return s.start - s.startIdP }
func (s signInSample) ownCallback() time.Duration { return s.callback - s.callbackIdP }

// signIn runs one SSO sign-in in a new browser and times its steps.
func (r *ssoRig) signIn(tb testing.TB) (signInSample, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return signInSample{}, fmt.Errorf("create cookie jar: %w", err)
	}
	client := &http.Client{
		Jar:       jar,
		Transport: r.transport,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	var s signInSample

	idpBefore := r.idpHandling()
	began := time.Now()
	resp, err := getAndDrain(client, r.enlace.URL+"/api/v1/auth/oidc/login?return_to="+ssoReturnPath)
	s.start = time.Since(began)
	s.startIdP = r.idpHandling() - idpBefore
	if err != nil {
		return s, err
	}
	authURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authURL, r.idp.Issuer+"/authorize?") {
		return s, fmt.Errorf("SSO start: status %d, location %q, expected 302 to %s/authorize", resp.StatusCode, authURL, r.idp.Issuer)
	}

	began = time.Now()
	callbackURL := r.idp.Authorize(tb, r.idpClient, authURL)
	s.authorize = time.Since(began)

	idpBefore = r.idpHandling()
	began = time.Now()
	resp, err = getAndDrain(client, callbackURL)
	s.callback = time.Since(began)
	s.callbackIdP = r.idpHandling() - idpBefore
	if err != nil {
		return s, err
	}
	if location := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || location != ssoReturnPath {
		return s, fmt.Errorf("SSO callback: status %d, location %q, expected 302 to %s", resp.StatusCode, location, ssoReturnPath)
	}
	if !hasCookie(resp, api.SessionCookie) {
		return s, fmt.Errorf("SSO callback: response has no %s cookie", api.SessionCookie)
	}
	return s, nil
}

// idpHandling returns the provider's total handling time over all its
// endpoints.
func (r *ssoRig) idpHandling() time.Duration {
	var total time.Duration
	for _, endpoint := range []string{
		oidctest.EndpointDiscovery, oidctest.EndpointJWKS, oidctest.EndpointAuthorize,
		oidctest.EndpointToken, oidctest.EndpointUserinfo,
	} {
		total += r.idp.HandlingTime(endpoint)
	}
	return total
}

// helloRoundTrip returns the wall time of GET / on the hello-world server,
// a loopback round trip through the same client with no server work.
func (r *ssoRig) helloRoundTrip() (time.Duration, error) {
	client := &http.Client{Transport: r.transport, Timeout: 30 * time.Second}
	began := time.Now()
	resp, err := getAndDrain(client, r.hello.URL+"/")
	elapsed := time.Since(began)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("hello-world GET /: status %d, expected 200", resp.StatusCode)
	}
	return elapsed, nil
}

// requireIdentity fails b unless subject from the test provider is linked
// to a user, which shows that the sign-ins created or found that user.
func (r *ssoRig) requireIdentity(b *testing.B, subject string) {
	if _, err := r.backend.DB.IdentityBySubject(context.Background(), r.tenantID, r.idp.Issuer, subject); err != nil {
		b.Fatalf("find the identity of subject %q after the sign-ins: %v", subject, err)
	}
}

// getAndDrain sends GET rawURL, reads the whole body and closes it, so
// that the time taken covers the whole response.
func getAndDrain(client *http.Client, rawURL string) (*http.Response, error) {
	resp, err := client.Get(rawURL)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", rawURL, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("GET %s: read the body: %w", rawURL, err)
	}
	return resp, nil
}

func hasCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// reportSSOMetrics reports nearest-rank percentiles of the samples, in
// milliseconds.
func reportSSOMetrics(b *testing.B, samples []signInSample, roundTrips []time.Duration) {
	percentiles := func(pick func(signInSample) time.Duration) (p50, p90 float64) {
		values := make([]time.Duration, len(samples))
		for i, s := range samples {
			values[i] = pick(s)
		}
		slices.Sort(values)
		return milliseconds(percentile(values, 0.50)), milliseconds(percentile(values, 0.90))
	}

	enlace50, enlace90 := percentiles(func(s signInSample) time.Duration { return s.ownStart() + s.ownCallback() })
	b.ReportMetric(enlace50, "enlace-ms/signin-p50")
	b.ReportMetric(enlace90, "enlace-ms/signin-p90")

	start50, _ := percentiles(signInSample.ownStart)
	b.ReportMetric(start50, "start-ms/p50")
	callback50, _ := percentiles(signInSample.ownCallback)
	b.ReportMetric(callback50, "callback-ms/p50")

	idp50, _ := percentiles(func(s signInSample) time.Duration { return s.startIdP + s.callbackIdP })
	b.ReportMetric(idp50, "idp-ms/signin-p50")
	wall50, _ := percentiles(func(s signInSample) time.Duration { return s.start + s.authorize + s.callback })
	b.ReportMetric(wall50, "wall-ms/signin-p50")

	slices.Sort(roundTrips)
	b.ReportMetric(milliseconds(percentile(roundTrips, 0.50)), "loopback-ms/roundtrip-p50")
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
