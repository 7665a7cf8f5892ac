package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Connection is a remote.Connection (or, for its proxy, a remote.ProxyConnection) with defaults applied.
type Connection struct {
	Host               string
	Port               int
	User               string
	Password           *string
	PrivateKey         *string
	PrivateKeyPassword *string
	AgentSocketPath    *string
	HostKey            *string
	DialErrorLimit     int
	PerDialTimeout     int
	Proxy              *Connection
}

func (c *Connection) address() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// parseConnection reads a known connection value (secret or not).
func parseConnection(v resource.PropertyValue) (*Connection, error) {
	v, _ = unwrap(v)
	if !v.IsObject() {
		return nil, fmt.Errorf("connection must be an object, not %s", v.TypeString())
	}
	obj := applyConnectionDefaultsForRun(v.ObjectValue())
	str := func(k string) *string {
		if x, _ := unwrap(obj[resource.PropertyKey(k)]); x.IsString() {
			s := x.StringValue()
			return &s
		}
		return nil
	}
	num := func(k string, def int) int {
		if x, _ := unwrap(obj[resource.PropertyKey(k)]); x.IsNumber() {
			return int(x.NumberValue())
		}
		return def
	}
	c := &Connection{
		Port:               num("port", defaultPort),
		User:               defaultUser,
		Password:           str("password"),
		PrivateKey:         str("privateKey"),
		PrivateKeyPassword: str("privateKeyPassword"),
		AgentSocketPath:    str("agentSocketPath"),
		HostKey:            str("hostKey"),
		DialErrorLimit:     num("dialErrorLimit", defaultDialErrorLimit),
		PerDialTimeout:     num("perDialTimeout", defaultPerDialTimeout),
	}
	if h := str("host"); h != nil && *h != "" {
		c.Host = *h
	} else {
		return nil, errors.New("connection.host is required")
	}
	if u := str("user"); u != nil {
		c.User = *u
	}
	if p, ok := obj["proxy"]; ok {
		if p, _ = unwrap(p); p.IsObject() {
			proxy, err := parseConnection(p)
			if err != nil {
				return nil, fmt.Errorf("proxy: %w", err)
			}
			c.Proxy = proxy
		}
	}
	return c, nil
}

func applyConnectionDefaultsForRun(m resource.PropertyMap) resource.PropertyMap {
	v, _ := unwrap(connectionDefaults(resource.NewObjectProperty(m), false))
	return v.ObjectValue()
}

// clientConfig: authentication by private key, password (also keyboard-interactive) and the SSH
// agent (agentSocketPath, else $SSH_AUTH_SOCK), in that order; the host key is checked only when
// hostKey is given. The returned closer releases the agent connection.
func (c *Connection) clientConfig() (*ssh.ClientConfig, func(), error) {
	cfg := &ssh.ClientConfig{
		User:            c.User,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // documented behaviour when hostKey is unset
		Timeout:         time.Duration(c.PerDialTimeout) * time.Second,
	}
	closer := func() {}
	if c.HostKey != nil {
		key, err := c.hostKey()
		if err != nil {
			return nil, closer, err
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(key)
		// As pulumi-command 1.2.1 (connection.go SSHConfig): the key's own type is the only host key
		// algorithm offered. For an RSA key that is "ssh-rsa" (SHA-1), which OpenSSH 8.8 and later no
		// longer offer: such a pin fails to connect there, with either provider (st2-upgrade refuses
		// RSA pins in its config for that reason).
		cfg.HostKeyAlgorithms = []string{key.Type()}
	}
	if c.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
		}
		if err != nil {
			return nil, closer, fmt.Errorf("connection.privateKey: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil {
		password := *c.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	socket := os.Getenv("SSH_AUTH_SOCK")
	if c.AgentSocketPath != nil {
		socket = *c.AgentSocketPath
	}
	if socket != "" {
		conn, err := net.Dial("unix", socket)
		if err != nil {
			return nil, closer, fmt.Errorf("SSH agent at %s: %w", socket, err)
		}
		closer = func() { _ = conn.Close() }
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return cfg, closer, nil
}

// hostKey parses connection.hostKey (authorized_keys form), worded as pulumi-command 1.2.1 words it.
func (c *Connection) hostKey() (ssh.PublicKey, error) {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey))
	if err != nil {
		return nil, fmt.Errorf("failed to parse host key: %w", err)
	}
	return key, nil
}

// Dial retries as in pulumi-command 1.2.1 (provider/pkg/provider/remote/connection.go dialWithRetry,
// with the SDK's retry.Until defaults, sdk/go/common/util/retry/until.go at v3.224.0): the first
// pause is 0.1 s, each next one 1.5 times longer, at most 5 s; dialErrorLimit N allows N failed dials
// and gives up on the (N+1)-th, so 3 means 4 dials and 0.475 s of pauses in all.
const (
	firstRetryDelay = 100 * time.Millisecond
	retryBackoff    = 1.5
	maxRetryDelay   = 5 * time.Second
)

// retryDelay is the pause after the n-th failed dial (n from 1).
func retryDelay(n int) time.Duration {
	d := firstRetryDelay
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d = time.Duration(float64(d) * retryBackoff)
	}
	return min(d, maxRetryDelay)
}

// sleepHook lets tests shorten the pauses between dials.
var sleepHook = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// dial connects (through the proxy when there is one), retrying failed dials until more than
// DialErrorLimit have failed (-1: no limit). Each failed dial that is retried is logged as the real
// provider does ("Dial 1/3 failed: retrying", a status line); giving up is its error, "after N
// failed attempts: <the last dial's error>"; a canceled operation returns the context's error.
func (c *Connection) dial(ctx context.Context, log Logger, urn string) (*ssh.Client, func(), error) {
	// A host key that does not parse fails at once, before any dial, as in pulumi-command 1.2.1 (its
	// SSHConfig runs before dialWithRetry).
	if c.HostKey != nil {
		if _, err := c.hostKey(); err != nil {
			return nil, nil, err
		}
	}
	limit := "inf"
	if c.DialErrorLimit >= 0 {
		limit = strconv.Itoa(c.DialErrorLimit)
	}
	for try := 0; ; try++ {
		client, closer, err := c.dialOnce(ctx, log, urn)
		if err == nil {
			return client, closer, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		dials := try + 1
		if c.DialErrorLimit >= 0 && dials > c.DialErrorLimit {
			return nil, nil, fmt.Errorf("after %d failed attempts: %w", try, err)
		}
		log.Log(ctx, Info, urn, fmt.Sprintf("Dial %d/%s failed: retrying", dials, limit), true)
		if err := sleepHook(ctx, retryDelay(dials)); err != nil {
			return nil, nil, err
		}
	}
}

func (c *Connection) dialOnce(ctx context.Context, log Logger, urn string) (*ssh.Client, func(), error) {
	cfg, closeAuth, err := c.clientConfig()
	if err != nil {
		return nil, nil, err
	}
	if c.Proxy == nil {
		d := net.Dialer{Timeout: cfg.Timeout}
		conn, err := d.DialContext(ctx, "tcp", c.address())
		if err != nil {
			closeAuth()
			return nil, nil, err
		}
		client, err := handshake(ctx, conn, c.address(), cfg)
		if err != nil {
			closeAuth()
			return nil, nil, err
		}
		return client, func() { _ = client.Close(); closeAuth() }, nil
	}
	bastion, closeBastion, err := c.Proxy.dial(ctx, log, urn)
	if err != nil {
		closeAuth()
		return nil, nil, fmt.Errorf("proxy: %w", err)
	}
	conn, err := bastion.Dial("tcp", c.address())
	if err != nil {
		closeBastion()
		closeAuth()
		return nil, nil, fmt.Errorf("through proxy %s: %w", c.Proxy.address(), err)
	}
	client, err := handshake(ctx, conn, c.address(), cfg)
	if err != nil {
		closeBastion()
		closeAuth()
		return nil, nil, err
	}
	return client, func() { _ = client.Close(); closeBastion(); closeAuth() }, nil
}

// handshake runs the SSH handshake on conn, bounded by the per-dial timeout and ctx.
func handshake(ctx context.Context, conn net.Conn, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	if cfg.Timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// keptClients: the SSH connections of finished commands. pulumi-command 1.2.1 never closes a
// Command's SSH client (provider/pkg/provider/remote/commandOutputs.go run: Dial, NewSession,
// `defer session.Close()`, no client.Close), so every step's connection stays open until the
// provider exits at the end of the `up`. This provider does the same, so the lab and the tests see
// as many sshd connections per host as a real run; the engine's Cancel (at the end of every
// operation) closes them.
var keptClients struct {
	sync.Mutex
	clients []*ssh.Client
	closers []func()
}

func keepOpen(client *ssh.Client, closer func()) {
	keptClients.Lock()
	defer keptClients.Unlock()
	keptClients.clients = append(keptClients.clients, client)
	keptClients.closers = append(keptClients.closers, closer)
}

// closeKept closes the kept connections.
func closeKept() {
	keptClients.Lock()
	closers := keptClients.closers
	keptClients.clients, keptClients.closers = nil, nil
	keptClients.Unlock()
	for _, c := range closers {
		c()
	}
}

// remoteTarget runs commands over SSH: session.Run(command), so the remote user's login shell runs
// it; no PTY; environment by SSH "env" requests; stdin as given.
type remoteTarget struct {
	conn *Connection
}

func (t remoteTarget) run(ctx context.Context, log Logger, spec execSpec) (string, string, error) {
	client, closeClient, err := t.conn.dial(ctx, log, spec.urn)
	if err != nil {
		return "", "", err
	}
	// The connection stays open after the command, as with the real provider (see keepOpen).
	defer keepOpen(client, closeClient)
	session, err := client.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("opening an SSH session on %s: %w", t.conn.address(), err)
	}
	defer func() { _ = session.Close() }()

	for _, k := range sortedKeys(spec.env) {
		if err := session.Setenv(k, spec.env[k]); err != nil {
			return "", "", fmt.Errorf("could not set environment variable %q: %w (this only works if the SSH "+
				"server accepts the variable (sshd_config AcceptEnv); or set it in the command itself: VAR=value command)", k, err)
		}
	}
	for _, k := range sortedKeys(spec.prevEnv) {
		if err := session.Setenv(k, spec.prevEnv[k]); err != nil {
			log.Log(ctx, Warning, spec.urn, fmt.Sprintf("could not set %s on the remote host (the SSH server does "+
				"not accept it: sshd_config AcceptEnv); the command runs without it", k), false)
		}
	}
	if spec.stdin != nil && *spec.stdin != "" {
		session.Stdin = strings.NewReader(*spec.stdin)
	}
	out := newCapture(ctx, log, spec)
	session.Stdout = out.Stdout()
	session.Stderr = out.Stderr()

	// On cancellation (engine Cancel, timeout) close the connection: Run returns. The remote process
	// has no PTY, so it may keep running on the host.
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	err = session.Run(spec.command)
	stop()
	out.finish()
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		var exitMissing *ssh.ExitMissingError
		if errors.As(err, &exitMissing) {
			err = fmt.Errorf("%w (the connection to %s closed before the command reported its exit status)", err, t.conn.address())
		}
		return "", "", &CommandError{Err: err, Command: spec.command, Output: out.output()}
	}
	stdout, stderr := out.results()
	return stdout, stderr, nil
}
