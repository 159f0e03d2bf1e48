// Package idpharness runs a real OpenID provider for end-to-end tests and
// demos: the oidc-provider npm package, driven by e2e/idp/server.mjs under
// Node.js, listening on a loopback port.
//
// Install the provider once with `npm ci --prefix e2e/idp`. Start skips the
// test when Node.js or that install is missing, and fails it instead when
// ENLACE_TEST_STRICT=1.
//
// The provider shows oidc-provider's development login form. It accepts any
// non-empty password, looks the login name up among the configured accounts
// and grants every requested scope without a consent page. An unknown login
// name ends the authorization request with error=access_denied at the
// client's redirect_uri. Every client must use PKCE with S256.
package idpharness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Scopes lists the scopes that the provider supports. The email scope
// carries the claims email and email_verified, and profile carries name.
var Scopes = []string{"openid", "email", "profile"}

// Token endpoint authentication methods that a Client may use.
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
)

// DefaultStartTimeout is how long one try of StartProcess waits for the
// provider to report that it listens, when Options.StartTimeout is zero. A
// start took 0.4 s on an idle 2-core machine here and 1 to 2 s with both
// cores busy.
const DefaultStartTimeout = 20 * time.Second

// maxStartTries is how many times StartProcess starts the provider before it
// gives up. A try fails over to the next one when its port was taken or the
// process stalled before it listened.
//
// NOTE: Node.js 20 was seen to stall at start a few times on the CI machine,
// with its main thread waiting on a futex before it built the provider. The
// cause is not known, and a fresh process has started at once every time.
const maxStartTries = 3

// stopTimeout is how long Stop waits after SIGTERM before it kills the
// process.
const stopTimeout = 5 * time.Second

// maxLogBytes caps the provider output that a Process keeps for error
// messages. Older output is dropped first.
const maxLogBytes = 64 << 10

// Account is one user that can sign in through the login form.
type Account struct {
	// Login is the name typed into the login form.
	Login string
	// Subject is the "sub" claim of the account's tokens.
	Subject string
	// Claims go into both the ID token and the userinfo response. The
	// provider keeps only the claims of the granted scopes: email and
	// email_verified for scope email, name for scope profile.
	Claims map[string]any
	// Userinfo claims go only into the userinfo response, and override
	// Claims there.
	Userinfo map[string]any
}

// Client is one registered confidential OAuth client, which authenticates
// at the token endpoint with Secret.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
	// TokenEndpointAuthMethod is ClientSecretBasic (used when empty) or
	// ClientSecretPost. The provider rejects the other method for this
	// client.
	TokenEndpointAuthMethod string
	// PostLogoutRedirectURIs are the URIs that the end_session endpoint may
	// redirect to after logout.
	PostLogoutRedirectURIs []string
}

// Options sets how StartProcess runs the provider. The zero value is ready
// to use.
type Options struct {
	// Dir is the folder with server.mjs and its node_modules. Empty means
	// e2e/idp in this repository, as returned by Dir.
	Dir string
	// Node is the Node.js executable. Empty means "node" from PATH.
	Node string
	// Port is the loopback port to listen on. Zero picks a free one.
	Port int
	// ConfigDir receives the provider's config.json. Empty means a new
	// temporary folder that Stop removes.
	ConfigDir string
	// StartTimeout limits the wait for one try of the provider to listen.
	// Zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// Log, when set, also receives the provider's stdout and stderr.
	Log io.Writer
}

// Process is a running provider started by StartProcess.
type Process struct {
	// Issuer is the provider's issuer URL, http://127.0.0.1:<Port>. Its
	// discovery document is at Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Port is the loopback port the provider listens on.
	Port int
	// StartupTime is the time from starting Node.js to the provider's
	// "ready" line, in the try that succeeded.
	StartupTime time.Duration
	// Retries lists why earlier tries failed, oldest first. It is empty when
	// the first try succeeded.
	Retries []error

	ctx        context.Context
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	output     *tailBuffer
	removeDir  string
	exited     chan struct{}
	waitErr    error
	stopOnce   sync.Once
	stopResult error
}

// Dir returns the folder that contains server.mjs: e2e/idp in this
// repository. It locates the folder from this source file's path and, when
// the build dropped that path (as -trimpath does), by looking for
// e2e/idp/server.mjs in the working directory and each folder above it.
func Dir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "idp")
		if _, err := os.Stat(filepath.Join(dir, "server.mjs")); err == nil {
			return filepath.Clean(dir), nil
		}
	}

	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("locate e2e/idp: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		idp := filepath.Join(dir, "e2e", "idp")
		if _, err := os.Stat(filepath.Join(idp, "server.mjs")); err == nil {
			return idp, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("locate e2e/idp: no e2e/idp/server.mjs in %s or any folder above it", wd)
		}
	}
}

// Locate returns the Node.js executable and the folder of server.mjs, or an
// error that names what to install when either is missing.
func Locate() (node, dir string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("Node.js not found: %w; install Node.js 20 or later to run the OpenID provider", err)
	}
	dir, err = Dir()
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		return "", "", fmt.Errorf("oidc-provider is not installed in %s: run `npm ci --prefix e2e/idp`", dir)
	}
	return node, dir, nil
}

// config is the JSON file that server.mjs reads.
type config struct {
	Port     int                      `json:"port"`
	Issuer   string                   `json:"issuer"`
	Clients  []clientConfig           `json:"clients"`
	Accounts map[string]accountConfig `json:"accounts"`
}

type clientConfig struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
}

type accountConfig struct {
	Sub      string         `json:"sub"`
	Claims   map[string]any `json:"claims,omitempty"`
	Userinfo map[string]any `json:"userinfo,omitempty"`
}

// buildConfig checks clients and accounts and converts them into the
// provider's config.
func buildConfig(port int, clients []Client, accounts []Account) (config, error) {
	cfg := config{
		Port:     port,
		Issuer:   "http://127.0.0.1:" + strconv.Itoa(port),
		Accounts: make(map[string]accountConfig, len(accounts)),
	}
	if len(clients) == 0 {
		return config{}, errors.New("no clients: the provider needs at least one")
	}
	for _, c := range clients {
		if c.ID == "" || c.Secret == "" || len(c.RedirectURIs) == 0 {
			return config{}, fmt.Errorf("client %q: ID, Secret and RedirectURIs are required", c.ID)
		}
		switch c.TokenEndpointAuthMethod {
		case "", ClientSecretBasic, ClientSecretPost:
		default:
			return config{}, fmt.Errorf("client %q: invalid TokenEndpointAuthMethod %q: use %s or %s",
				c.ID, c.TokenEndpointAuthMethod, ClientSecretBasic, ClientSecretPost)
		}
		cfg.Clients = append(cfg.Clients, clientConfig{
			ClientID:                c.ID,
			ClientSecret:            c.Secret,
			RedirectURIs:            c.RedirectURIs,
			TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
			PostLogoutRedirectURIs:  c.PostLogoutRedirectURIs,
		})
	}

	subjects := make(map[string]string, len(accounts))
	for _, a := range accounts {
		if a.Login == "" || a.Subject == "" {
			return config{}, fmt.Errorf("account %q: Login and Subject are required", a.Login)
		}
		if _, dup := cfg.Accounts[a.Login]; dup {
			return config{}, fmt.Errorf("account %q: duplicate Login", a.Login)
		}
		if other, dup := subjects[a.Subject]; dup {
			return config{}, fmt.Errorf("account %q: Subject %q is also the Subject of account %q", a.Login, a.Subject, other)
		}
		subjects[a.Subject] = a.Login
		cfg.Accounts[a.Login] = accountConfig{Sub: a.Subject, Claims: a.Claims, Userinfo: a.Userinfo}
	}
	return cfg, nil
}

// FreePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before the caller binds it.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartProcess starts the provider with clients and accounts and waits until
// it listens on 127.0.0.1. The provider runs until ctx ends, Stop is called
// or the calling process exits: it stops when its standard input, a pipe
// from this process, closes.
//
// A try whose port was taken, or whose process did not listen within
// Options.StartTimeout, is stopped and followed by another on a fresh port
// (the same port when Options.Port is set), up to three tries in all.
func StartProcess(ctx context.Context, clients []Client, accounts []Account, opts Options) (*Process, error) {
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = Dir(); err != nil {
			return nil, err
		}
	}
	node := opts.Node
	if node == "" {
		node = "node"
	}

	var retries []error
	for try := 1; ; try++ {
		port := opts.Port
		if port == 0 {
			var err error
			if port, err = FreePort(); err != nil {
				return nil, err
			}
		}

		p, err := startOnPort(ctx, clients, accounts, opts, dir, node, port)
		if err == nil {
			p.Retries = retries
			return p, nil
		}
		retries = append(retries, fmt.Errorf("try %d of %d: %w", try, maxStartTries, err))
		retry := errors.Is(err, ErrNotReady) || (errors.Is(err, ErrPortInUse) && opts.Port == 0)
		if !retry || try == maxStartTries {
			return nil, errors.Join(retries...)
		}
	}
}

// ErrPortInUse marks a start that failed because another process listens on
// the port.
var ErrPortInUse = errors.New("port already in use")

// ErrNotReady marks a start whose process was still running but had not
// reported that it listens when the start timeout ended.
var ErrNotReady = errors.New("OpenID provider start timed out")

func startOnPort(ctx context.Context, clients []Client, accounts []Account, opts Options, dir, node string, port int) (*Process, error) {
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = DefaultStartTimeout
	}

	cfg, err := buildConfig(port, clients, accounts)
	if err != nil {
		return nil, fmt.Errorf("OpenID provider config: %w", err)
	}
	p := &Process{Issuer: cfg.Issuer, Port: port, output: &tailBuffer{max: maxLogBytes}, exited: make(chan struct{})}

	configDir := opts.ConfigDir
	if configDir == "" {
		if configDir, err = os.MkdirTemp("", "enlace-idp-"); err != nil {
			return nil, fmt.Errorf("create OpenID provider config folder: %w", err)
		}
		p.removeDir = configDir
	}
	configPath := filepath.Join(configDir, "config.json")
	if err := writeJSON(configPath, cfg); err != nil {
		p.release()
		return nil, err
	}

	if err := p.start(ctx, node, dir, configPath, timeout, opts.Log); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

// start runs server.mjs and waits for its "ready" line.
func (p *Process) start(ctx context.Context, node, dir, configPath string, timeout time.Duration, log io.Writer) error {
	p.ctx = ctx
	p.cmd = exec.CommandContext(ctx, node, filepath.Join(dir, "server.mjs"), configPath, "--exit-on-stdin-eof")
	p.cmd.Dir = dir
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
	p.cmd.WaitDelay = stopTimeout
	var stderr io.Writer = p.output
	if log != nil {
		stderr = io.MultiWriter(p.output, log)
	}
	p.cmd.Stderr = stderr

	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return fmt.Errorf("start OpenID provider: %w", err)
	}
	// An io.Pipe rather than StdoutPipe, because Wait closes a StdoutPipe
	// as soon as the process exits and the reader could lose the last lines.
	stdoutReader, stdoutWriter := io.Pipe()
	p.cmd.Stdout = stdoutWriter

	begin := time.Now()
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start OpenID provider with %s: %w", node, err)
	}

	ready := make(chan struct{})
	go p.readStdout(stdoutReader, stderr, ready)
	go func() {
		p.waitErr = p.cmd.Wait()
		stdoutWriter.Close()
		close(p.exited)
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ready:
		p.StartupTime = time.Since(begin)
		return nil
	case <-p.exited:
		output := p.Output()
		if strings.Contains(output, "EADDRINUSE") {
			return fmt.Errorf("OpenID provider on port %d: %w\n%s", p.Port, ErrPortInUse, output)
		}
		return fmt.Errorf("OpenID provider exited before it was ready: %v\n%s", p.waitErr, output)
	case <-timer.C:
		state := processState(p.cmd.Process.Pid)
		_ = p.Stop()
		return fmt.Errorf("%w after %v (process %s)%s", ErrNotReady, timeout, state, withOutput(p.Output()))
	case <-ctx.Done():
		_ = p.Stop()
		return fmt.Errorf("OpenID provider not ready: %w\n%s", ctx.Err(), p.Output())
	}
}

// readStdout closes ready at the line "ready <issuer>" and copies all other
// lines to log.
func (p *Process) readStdout(stdout io.Reader, log io.Writer, ready chan<- struct{}) {
	want := "ready " + p.Issuer
	scanner := bufio.NewScanner(stdout)
	signaled := false
	for scanner.Scan() {
		line := scanner.Text()
		if !signaled && line == want {
			signaled = true
			close(ready)
			continue
		}
		fmt.Fprintln(log, line)
	}
	// Drain the pipe so the process never blocks on a full stdout.
	_, _ = io.Copy(io.Discard, stdout)
}

// Output returns the provider's recent stderr and unexpected stdout lines,
// at most the last 64 KiB.
func (p *Process) Output() string {
	return p.output.String()
}

// Exited returns a channel that is closed when the provider process exits.
func (p *Process) Exited() <-chan struct{} {
	return p.exited
}

// Stop ends the provider with SIGTERM, kills it if it is still running
// after 5 seconds, and removes the config folder that StartProcess created.
// It returns an error when the provider exited with a failure status before
// Stop was called or its context ended. Calling Stop again returns the first
// result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.stopResult = p.stop()
		p.release()
	})
	return p.stopResult
}

func (p *Process) stop() error {
	select {
	case <-p.exited:
		// After ctx ends, exec has already sent SIGTERM, so an exit then
		// is the requested stop whatever its status.
		if p.waitErr != nil && p.ctx.Err() == nil {
			return fmt.Errorf("OpenID provider exited early: %w", p.waitErr)
		}
		return nil
	default:
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop OpenID provider: %w", err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("OpenID provider ignored SIGTERM for %v and was killed", stopTimeout)
	}
}

// release closes the provider's standard input, which also stops it, and
// removes the config folder that StartProcess created.
func (p *Process) release() {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	if p.removeDir != "" {
		_ = os.RemoveAll(p.removeDir)
	}
}

// processState describes what a stalled process was doing, from the Linux
// /proc files: its state and, for each thread, the kernel function it waits
// in. It is best effort, for the error message of a start that timed out.
func processState(pid int) string {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "state unknown"
	}
	state := "state unknown"
	for _, line := range strings.Split(string(status), "\n") {
		if value, ok := strings.CutPrefix(line, "State:"); ok {
			state = "state " + strings.TrimSpace(value)
			break
		}
	}

	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	var threads []string
	for _, task := range tasks {
		comm, _ := os.ReadFile(filepath.Join(task, "comm"))
		wchan, _ := os.ReadFile(filepath.Join(task, "wchan"))
		threads = append(threads, fmt.Sprintf("%s in %s", strings.TrimSpace(string(comm)), wchan))
	}
	if len(threads) > 0 {
		state += "; threads: " + strings.Join(threads, ", ")
	}
	return state
}

// withOutput returns the provider output on lines of its own after an
// error message, or nothing when there is none.
func withOutput(output string) string {
	if output == "" {
		return ""
	}
	return "\n" + output
}

func writeJSON(path string, value any) error {
	data, err := json.MarshalIndent(value, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// tailBuffer is an io.Writer, safe for concurrent use, that keeps the last
// max bytes written to it.
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	data []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(b.data, p...)
	if over := len(b.data) - b.max; over > 0 {
		b.data = append(b.data[:0], b.data[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimRight(string(b.data), "\n")
}
