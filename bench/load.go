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

// Result is the outcome of one scenario. Requests, the rate and the
// percentiles count only responses with status 200 in measured time.
type Result struct {
	Scenario string `json:"scenario"`
	Requests int64  `json:"requests"`
	// WarmupRequests is the number of responses with status 200 during the
	// warm-up, to divide a CPU profile of the whole run by.
	WarmupRequests int64 `json:"warmup_requests"`
	// Errors is the number of failed requests, in warm-up and measured time.
	Errors            int64         `json:"errors"`
	FirstError        string        `json:"first_error,omitempty"`
	Elapsed           time.Duration `json:"elapsed_ns"`
	RequestsPerSecond float64       `json:"requests_per_second"`
	P50               time.Duration `json:"p50_ns"`
	P99               time.Duration `json:"p99_ns"`
	// RoundRequestsPerSecond is the rate of each measured round, in order.
	RoundRequestsPerSecond []float64 `json:"round_requests_per_second"`
}

// NewClient returns a keep-alive client for addr with one connection per
// worker. It does not retry, so that every failed request is counted.
func NewClient(addr string, connections int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "enlace-sessionbench",
		MaxConns:                  connections,
		MaxIdemponentCallAttempts: 1,
		// Connections wait idle while other scenarios run their rounds.
		MaxIdleConnDuration: time.Minute,
		ReadTimeout:         10 * time.Second,
		WriteTimeout:        10 * time.Second,
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

// Runner drives a closed loop against one target: each of connections
// workers sends a request, waits for the response and sends the next.
// Measure can be called several times, interleaved with other runners,
// so that a burst of outside load on the machine hits every scenario
// alike. Result adds up the rounds.
type Runner struct {
	target      Target
	connections int
	client      *fasthttp.HostClient

	result    Result
	latencies []time.Duration
}

// NewRunner returns a Runner for t with its own connections.
func NewRunner(t Target, connections int) *Runner {
	return &Runner{
		target:      t,
		connections: connections,
		client:      NewClient(t.Addr, connections),
		result:      Result{Scenario: t.Name},
	}
}

// Close closes the runner's idle connections.
func (r *Runner) Close() { r.client.CloseIdleConnections() }

// Warm drives load for d without measuring it. Failed requests still
// count in Errors. Workers stop early when ctx ends.
func (r *Runner) Warm(ctx context.Context, d time.Duration) {
	round := r.drive(ctx, d, false)
	r.result.WarmupRequests += round.completed
	r.addErrors(round)
}

// Measure drives load for one round of d and returns that round's rate of
// responses with status 200. Workers stop early when ctx ends.
func (r *Runner) Measure(ctx context.Context, d time.Duration) float64 {
	round := r.drive(ctx, d, true)
	r.result.Requests += round.completed
	r.result.Elapsed += round.elapsed
	r.addErrors(round)
	r.latencies = append(r.latencies, round.latencies...)

	rate := float64(round.completed) / round.elapsed.Seconds()
	r.result.RoundRequestsPerSecond = append(r.result.RoundRequestsPerSecond, rate)
	return rate
}

// Result returns the totals of all measured rounds.
func (r *Runner) Result() Result {
	res := r.result
	if res.Elapsed > 0 {
		res.RequestsPerSecond = float64(res.Requests) / res.Elapsed.Seconds()
	}
	slices.Sort(r.latencies)
	res.P50 = percentile(r.latencies, 0.50)
	res.P99 = percentile(r.latencies, 0.99)
	res.RoundRequestsPerSecond = slices.Clone(res.RoundRequestsPerSecond)
	return res
}

func (r *Runner) addErrors(round roundResult) {
	r.result.Errors += round.errors
	if r.result.FirstError == "" && round.firstError != nil {
		r.result.FirstError = round.firstError.Error()
	}
}

// roundResult is the tally of one call of drive, or of one of its workers.
type roundResult struct {
	completed  int64
	errors     int64
	firstError error
	latencies  []time.Duration
	elapsed    time.Duration
}

func (r *Runner) drive(ctx context.Context, d time.Duration, record bool) roundResult {
	workers := make([]roundResult, r.connections)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)

	for i := range workers {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels(ProfileLabel, ClientRole), func(ctx context.Context) {
			defer wg.Done()
			workers[i] = work(ctx, r.client, r.target, deadline, record)
		})
	}
	wg.Wait()

	// The round ends when the last response arrives, which can be after
	// the deadline, so the rate divides by the time actually taken.
	total := roundResult{elapsed: time.Since(start)}
	for _, w := range workers {
		total.completed += w.completed
		total.errors += w.errors
		if total.firstError == nil {
			total.firstError = w.firstError
		}
		total.latencies = append(total.latencies, w.latencies...)
	}
	return total
}

func work(ctx context.Context, client *fasthttp.HostClient, t Target, deadline time.Time, record bool) roundResult {
	req := NewRequest(t)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)

	var w roundResult
	if record {
		// Room for 2,000 requests per second for 1 s per worker, so that
		// growing the slice seldom runs inside the measured loop.
		w.latencies = make([]time.Duration, 0, 2_000)
	}
	for ctx.Err() == nil {
		sent := time.Now()
		if !sent.Before(deadline) {
			break
		}
		err := Do(client, req, resp)
		latency := time.Since(sent)
		resp.Reset()

		if err != nil {
			w.errors++
			if w.firstError == nil {
				w.firstError = err
			}
			continue
		}
		w.completed++
		if record {
			w.latencies = append(w.latencies, latency)
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
