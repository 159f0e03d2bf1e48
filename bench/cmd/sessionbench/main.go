// Command sessionbench measures the throughput of Enlace's session check
// (GET /api/v1/me and GET /api/v1/auth/verify with a valid session cookie)
// and of a bare Fiber hello-world handler in the same run, and reports each
// scenario's rate as a ratio to hello-world.
//
//	go run ./bench/cmd/sessionbench -duration 5s
//	go run ./bench/cmd/sessionbench -backend postgres   # reads ENLACE_TEST_DATABASE_URL and ENLACE_TEST_REDIS_URL
//
// It exits with status 1 when any response is not 200 or setup fails, and
// with status 2 on invalid flags. A ratio below the target is reported,
// not treated as a failure.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/enlace-auth/enlace/bench"
)

// targetRatio is the share of hello-world throughput that the session
// check is expected to reach.
const targetRatio = 0.33

// Environment variables read by -backend postgres, the same that the
// project's tests read.
const (
	databaseURLEnv = "ENLACE_TEST_DATABASE_URL"
	redisURLEnv    = "ENLACE_TEST_REDIS_URL"
)

// helloScenario is the name of the baseline scenario.
const helloScenario = "hello-world GET /"

type options struct {
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	connections int
	backend     string
	out         string
	cpuProfile  string
}

// machine is the hardware and toolchain that the figures were measured on.
type machine struct {
	CPUModel   string `json:"cpu_model"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
}

// scenario is one row of the report.
type scenario struct {
	bench.Result
	RatioToHello float64 `json:"ratio_to_hello"`
	// RoundRatios are the ratios of each round to the hello-world round
	// just before it.
	RoundRatios []float64 `json:"round_ratios_to_hello"`
}

// report is the JSON written to -out.
type report struct {
	Date        string     `json:"date"`
	Backend     string     `json:"backend"`
	Machine     machine    `json:"machine"`
	Duration    string     `json:"duration_per_scenario"`
	Warmup      string     `json:"warmup_per_scenario"`
	Rounds      int        `json:"rounds"`
	Connections int        `json:"connections"`
	TargetRatio float64    `json:"target_ratio"`
	TargetMet   bool       `json:"target_met"`
	Scenarios   []scenario `json:"scenarios"`
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sessionbench: %v\n", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, opts, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sessionbench: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("sessionbench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per scenario")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time per scenario before the measured time")
	fs.IntVar(&o.rounds, "rounds", 5, "number of parts the measured time of each scenario is split into. "+
		"The scenarios take turns, one part each")
	fs.IntVar(&o.connections, "connections", 64, "concurrent workers, each with its own keep-alive connection")
	fs.StringVar(&o.backend, "backend", "sqlite", "storage of Enlace: sqlite (SQLite file and in-process store) or postgres (reads "+
		databaseURLEnv+" and "+redisURLEnv+")")
	fs.StringVar(&o.out, "out", "", "file to write the results to as JSON (none when empty)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "file to write a CPU profile of all scenarios to. "+
		"Goroutines carry the pprof label role=hello-server, enlace-server or load-client")
	if err := fs.Parse(args); err != nil {
		return o, err
	}

	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q; all settings are flags", fs.Arg(0))
	case o.duration <= 0:
		return o, fmt.Errorf("-duration %s must be positive", o.duration)
	case o.warmup < 0:
		return o, fmt.Errorf("-warmup %s must not be negative", o.warmup)
	case o.rounds < 1:
		return o, fmt.Errorf("-rounds %d must be at least 1", o.rounds)
	case o.duration/time.Duration(o.rounds) < 10*time.Millisecond:
		return o, fmt.Errorf("-duration %s split into %d rounds is under 10ms per round; use fewer rounds", o.duration, o.rounds)
	case o.connections < 1:
		return o, fmt.Errorf("-connections %d must be at least 1", o.connections)
	case o.backend != "sqlite" && o.backend != "postgres":
		return o, fmt.Errorf("-backend %q is not supported; use sqlite or postgres", o.backend)
	}
	return o, nil
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	log := slog.New(slog.NewTextHandler(stderr, nil))

	backend, err := openBackend(ctx, o.backend, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, backend.Close()) }()

	hello, err := bench.StartHello()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, hello.Stop()) }()

	enlace, err := bench.StartEnlace(backend.DB, backend.KV, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, enlace.Stop()) }()

	token, err := bench.SignIn(enlace.URL)
	if err != nil {
		return err
	}

	targets := []bench.Target{
		{Name: helloScenario, Addr: hello.Addr, Path: "/"},
		{Name: "enlace GET /api/v1/me", Addr: enlace.Addr, Path: "/api/v1/me", SessionToken: token},
		{Name: "enlace GET /api/v1/auth/verify", Addr: enlace.Addr, Path: "/api/v1/auth/verify", SessionToken: token},
	}

	m := describeMachine()
	printHeader(stdout, o, backend.Name, m)

	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stopProfile()) }()
	}

	results, err := measure(ctx, o, targets)
	if err != nil {
		return err
	}

	rep := buildReport(o, backend.Name, m, results)
	printTable(stdout, rep)
	if o.out != "" {
		if err := writeJSON(o.out, rep); err != nil {
			return err
		}
	}
	return checkErrors(rep)
}

// measure warms up every target, then runs o.rounds rounds in which each
// target in turn gets o.duration/o.rounds of load.
func measure(ctx context.Context, o options, targets []bench.Target) ([]bench.Result, error) {
	runners := make([]*bench.Runner, len(targets))
	for i, t := range targets {
		runners[i] = bench.NewRunner(t, o.connections)
		defer runners[i].Close()
	}

	for _, r := range runners {
		r.Warm(ctx, o.warmup)
	}
	round := o.duration / time.Duration(o.rounds)
	for range o.rounds {
		for i, r := range runners {
			r.Measure(ctx, round)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted during %s", targets[i].Name)
			}
		}
	}

	results := make([]bench.Result, len(runners))
	for i, r := range runners {
		results[i] = r.Result()
	}
	return results, nil
}

func openBackend(ctx context.Context, name string, log *slog.Logger) (*bench.Backend, error) {
	if name == "sqlite" {
		return bench.OpenSQLite(ctx, log)
	}

	databaseURL, redisURL := os.Getenv(databaseURLEnv), os.Getenv(redisURLEnv)
	if databaseURL == "" || redisURL == "" {
		return nil, fmt.Errorf("-backend postgres needs %s and %s, for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable and redis://127.0.0.1:6379/0",
			databaseURLEnv, redisURLEnv)
	}
	return bench.OpenPostgres(ctx, databaseURL, redisURL, log)
}

func startCPUProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("write CPU profile %s: %w", path, err)
		}
		return nil
	}, nil
}

func describeMachine() machine {
	return machine{
		CPUModel:   cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown"
// where that file does not exist.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()

	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

func printHeader(w io.Writer, o options, backend string, m machine) {
	fmt.Fprintf(w, "Enlace session check vs. Fiber hello-world, %s\n", time.Now().UTC().Format(time.DateOnly))
	fmt.Fprintf(w, "machine: %s, %d cores (GOMAXPROCS %d), %s %s/%s\n", m.CPUModel, m.Cores, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch)
	fmt.Fprintf(w, "backend: %s; %d connections; %s warm-up and %s measured per scenario, in %d rounds of %s\n",
		backend, o.connections, o.warmup, o.duration, o.rounds, o.duration/time.Duration(o.rounds))
	fmt.Fprintf(w, "         in which the scenarios take turns, so outside load on the machine hits them alike\n")
	fmt.Fprintf(w, "note: the load generator runs in this process and shares the %d cores with the servers.\n", m.Cores)
	fmt.Fprintf(w, "      It costs the same per request in every scenario, so baseline and target are measured\n")
	fmt.Fprintf(w, "      alike. Each req/s is lower than a server with the cores to itself would reach, and\n")
	fmt.Fprintf(w, "      because the client's cost is added to both, each ratio is closer to 1 than the ratio\n")
	fmt.Fprintf(w, "      of the servers' own CPU time per request (see -cpuprofile).\n\n")
}

func buildReport(o options, backend string, m machine, results []bench.Result) report {
	rep := report{
		Date:        time.Now().UTC().Format(time.RFC3339),
		Backend:     backend,
		Machine:     m,
		Duration:    o.duration.String(),
		Warmup:      o.warmup.String(),
		Rounds:      o.rounds,
		Connections: o.connections,
		TargetRatio: targetRatio,
		TargetMet:   true,
	}

	baseline := results[0]
	for i, r := range results {
		s := scenario{Result: r}
		if baseline.RequestsPerSecond > 0 {
			s.RatioToHello = r.RequestsPerSecond / baseline.RequestsPerSecond
		}
		for j, rate := range r.RoundRequestsPerSecond {
			if hello := baseline.RoundRequestsPerSecond[j]; hello > 0 {
				s.RoundRatios = append(s.RoundRatios, rate/hello)
			}
		}
		if i > 0 && s.RatioToHello < targetRatio {
			rep.TargetMet = false
		}
		rep.Scenarios = append(rep.Scenarios, s)
	}
	return rep
}

func printTable(w io.Writer, rep report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trequests\terrors\treq/s\tp50\tp99\tratio to hello\tround ratios min-max")
	for _, s := range rep.Scenarios {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%.3f\t%.3f-%.3f\n", s.Scenario, s.Requests, s.Errors, s.RequestsPerSecond,
			formatLatency(s.P50), formatLatency(s.P99), s.RatioToHello, minOf(s.RoundRatios), maxOf(s.RoundRatios))
	}
	tw.Flush()

	verdict := "met"
	if !rep.TargetMet {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "\ntarget: each session check reaches %.2f of hello-world req/s: %s\n", rep.TargetRatio, verdict)
}

func minOf(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	return slices.Min(values)
}

func maxOf(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	return slices.Max(values)
}

func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func writeJSON(path string, rep report) error {
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results to %s: %w", path, err)
	}
	return nil
}

// checkErrors fails the run when any scenario got a response other than
// 200 or a transport error.
func checkErrors(rep report) error {
	var errs []error
	for _, s := range rep.Scenarios {
		if s.Errors > 0 {
			errs = append(errs, fmt.Errorf("%s: %d failed requests, first: %s", s.Scenario, s.Errors, s.FirstError))
		}
	}
	return errors.Join(errs...)
}
