package bench

import (
	"context"
	"fmt"
	"math"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enlace-auth/enlace/api"
)

// Target is one GET request that a scenario repeats.
type Target struct {
	Name string
	// Addr is the server's host:port.
	Addr string
	Path string
	// SessionToken is sent as the enlace_session cookie when not empty.
	SessionToken string
}

// Result is the outcome of one measured scenario. Requests, the rate and
// the percentiles count only responses with status 200.
type Result struct {
	Scenario string `json:"scenario"`
	Requests int64  `json:"requests"`
	// WarmupRequests counts the responses with status 200 of the warm-up,
	// to divide a CPU profile of the whole run by.
	WarmupRequests    int64         `json:"warmup_requests"`
	Errors            int64         `json:"errors"`
	FirstError        string        `json:"first_error,omitempty"`
	Elapsed           time.Duration `json:"elapsed_ns"`
	RequestsPerSecond float64       `json:"requests_per_second"`
	P50               time.Duration `json:"p50_ns"`
	P99               time.Duration `json:"p99_ns"`
}

// NewClient returns a keep-alive client for addr with one connection per
// worker. It does not retry, so that every failed request is counted.
func NewClient(addr string, connections int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "enlace-sessionbench",
		MaxConns:                  connections,
		MaxIdemponentCallAttempts: 1,
		ReadTimeout:               10 * time.Second,
		WriteTimeout:              10 * time.Second,
	}
}

// NewRequest returns a request for t, to be released with
// fasthttp.ReleaseRequest.
func NewRequest(t Target) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + t.Addr + t.Path)
	req.Header.SetMethod(fasthttp.MethodGet)
	if t.SessionToken != "" {
		req.Header.SetCookie(api.SessionCookie, t.SessionToken)
	}
	return req
}

// Do sends req and returns an error unless the response has status 200.
func Do(client *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) error {
	if err := client.Do(req, resp); err != nil {
		return err
	}
	if code := resp.StatusCode(); code != fasthttp.StatusOK {
		return fmt.Errorf("status %d, expected 200: %.200s", code, resp.Body())
	}
	return nil
}

// Run drives a closed loop: each of connections workers sends a request,
// waits for the response and sends the next, until duration has passed.
// A run of warmup comes first on the same connections and is not
// measured, but its failed requests count in Errors. Workers stop early
// when ctx ends.
func Run(ctx context.Context, t Target, connections int, warmup, duration time.Duration) Result {
	client := NewClient(t.Addr, connections)
	defer client.CloseIdleConnections()

	var warm Result
	if warmup > 0 {
		warm = drive(ctx, client, t, connections, warmup, false)
	}
	r := drive(ctx, client, t, connections, duration, true)
	r.Scenario = t.Name
	r.WarmupRequests = warm.Requests
	r.Errors += warm.Errors
	if warm.FirstError != "" {
		r.FirstError = warm.FirstError
	}
	return r
}

// workerResult is what one worker of drive collects.
type workerResult struct {
	completed  int64
	latencies  []time.Duration
	errors     int64
	firstError error
}

func drive(ctx context.Context, client *fasthttp.HostClient, t Target, connections int, duration time.Duration, record bool) Result {
	results := make([]workerResult, connections)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(duration)

	for i := range results {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels(ProfileLabel, ClientRole), func(ctx context.Context) {
			defer wg.Done()
			results[i] = work(ctx, client, t, deadline, record)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := Result{Elapsed: elapsed}
	var all []time.Duration
	for _, w := range results {
		r.Requests += w.completed
		all = append(all, w.latencies...)
		r.Errors += w.errors
		if r.FirstError == "" && w.firstError != nil {
			r.FirstError = w.firstError.Error()
		}
	}
	slices.Sort(all)
	r.RequestsPerSecond = float64(r.Requests) / elapsed.Seconds()
	r.P50 = percentile(all, 0.50)
	r.P99 = percentile(all, 0.99)
	return r
}

func work(ctx context.Context, client *fasthttp.HostClient, t Target, deadline time.Time, record bool) workerResult {
	req := NewRequest(t)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)

	var w workerResult
	if record {
		// Room for about 2,000 requests per second for 5 s per worker, so
		// that growing the slice rarely runs inside the measured loop.
		w.latencies = make([]time.Duration, 0, 10_000)
	}
	for ctx.Err() == nil {
		sent := time.Now()
		if !sent.Before(deadline) {
			break
		}
		err := Do(client, req, resp)
		latency := time.Since(sent)
		resp.Reset()

		switch {
		case err != nil:
			w.errors++
			if w.firstError == nil {
				w.firstError = err
			}
		case record:
			w.completed++
			w.latencies = append(w.latencies, latency)
		default:
			w.completed++
		}
	}
	return w
}

// percentile returns the nearest-rank percentile p of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(rank, 0)]
}
