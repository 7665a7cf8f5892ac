package provider

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/types/known/emptypb"
)

const sshdPath = "/usr/sbin/sshd"

const remoteURN = "urn:pulumi:test::proj::command:remote:Command::cmd"

type testSSHD struct {
	port       int
	privateKey string // the authorized client key, OpenSSH PEM
	hostKey    string // the server's public host key, authorized_keys format
}

func newKey(t *testing.T) (ed25519.PrivateKey, string, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return priv, string(pem.EncodeToMemory(block)), pub
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// startSSHD starts a throwaway sshd on 127.0.0.1 (own host key, one authorized key, AcceptEnv
// ST2_ACCEPTED only), stopped at the end of the test. Skips when sshd is not installed.
func startSSHD(t *testing.T) *testSSHD {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("%s not installed (apt-get install openssh-server): the remote tests need it", sshdPath)
	}
	if os.Geteuid() != 0 {
		t.Skip("the throwaway sshd needs root (privilege separation)")
	}
	// sshd's privilege separation folder.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, hostPEM, hostPub := newKey(t)
	_, clientPEM, clientPub := newKey(t)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	port := freePort(t)
	config := write("sshd_config", fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AcceptEnv ST2_ACCEPTED
LogLevel ERROR
`, port, write("host_key", hostPEM), write("authorized_keys", string(ssh.MarshalAuthorizedKey(clientPub))),
		filepath.Join(dir, "sshd.pid")))

	var stderr bytes.Buffer
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", config)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Commands keep their SSH connections open (as the real provider's do): close them before
	// stopping sshd, whose per-connection processes otherwise hold its stderr open.
	cmd.WaitDelay = 2 * time.Second
	t.Cleanup(func() {
		closeKept()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %d: %v; its stderr:\n%s", port, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &testSSHD{port: port, privateKey: clientPEM, hostKey: string(ssh.MarshalAuthorizedKey(hostPub))}
}

func (d *testSSHD) connection(extra map[string]any) map[string]any {
	c := map[string]any{"host": "127.0.0.1", "port": float64(d.port), "user": "root", "privateKey": d.privateKey}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func remoteCreate(t *testing.T, s *Server, props map[string]any) (*pulumirpc.CreateResponse, error) {
	t.Helper()
	news, err := marshal(pm(props))
	if err != nil {
		t.Fatal(err)
	}
	check, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Type: RemoteCommand, Urn: remoteURN, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if len(check.Failures) > 0 {
		t.Fatalf("check failures: %v", check.Failures)
	}
	return s.Create(context.Background(), &pulumirpc.CreateRequest{Type: RemoteCommand, Urn: remoteURN, Properties: check.Inputs})
}

func TestRemote(t *testing.T) {
	d := startSSHD(t)

	t.Run("stdout, stderr, stdin, environment, the user's shell", func(t *testing.T) {
		log := &recordingLogger{}
		resp, err := remoteCreate(t, New(log), map[string]any{
			"connection":  d.connection(nil),
			"create":      "echo out; echo err >&2; echo \"env=$ST2_ACCEPTED home=$HOME\"; cat",
			"stdin":       "in\n",
			"environment": map[string]any{"ST2_ACCEPTED": "yes"},
		})
		if err != nil {
			t.Fatal(err)
		}
		out := outputsOf(t, resp.Properties)
		if got, want := str(out, "stdout"), "out\nenv=yes home=/root\nin"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
		if got := str(out, "stderr"); got != "err" {
			t.Errorf("stderr %q", got)
		}
		if got := strings.Join(sorted(log.messages()), ","); got != "env=yes home=/root,err,in,out" {
			t.Errorf("logged %q", got)
		}
	})

	t.Run("a failing command: exit status and output in the error, no state", func(t *testing.T) {
		resp, err := remoteCreate(t, New(nil), map[string]any{
			"connection": d.connection(nil),
			"create":     "echo partial\necho boom >&2\nexit 4",
		})
		if err == nil {
			t.Fatalf("expected an error, got %v", resp)
		}
		// The real provider's wording: ssh's exit error, the whole command quoted, all of the output.
		prefix := "Process exited with status 4: running \"echo partial\\necho boom >&2\\nexit 4\":\n"
		if msg := err.Error(); !strings.HasPrefix(msg, prefix) || len(msg) != len(prefix)+len("partial\nboom\n") ||
			!strings.Contains(msg, "partial\n") || !strings.Contains(msg, "boom\n") {
			t.Errorf("error %q, want %q and the output", msg, prefix)
		}
		if resp != nil {
			t.Errorf("state returned: %v", resp)
		}
	})

	t.Run("logging none logs nothing", func(t *testing.T) {
		log := &recordingLogger{}
		if _, err := remoteCreate(t, New(log), map[string]any{
			"connection": d.connection(nil), "create": "echo hidden; echo hidden2 >&2", "logging": "none",
		}); err != nil {
			t.Fatal(err)
		}
		if len(log.lines) != 0 {
			t.Errorf("logged %v", log.lines)
		}
	})

	t.Run("an environment variable sshd refuses fails the command", func(t *testing.T) {
		_, err := remoteCreate(t, New(nil), map[string]any{
			"connection": d.connection(nil), "create": "true", "environment": map[string]any{"NOT_ACCEPTED": "x"},
		})
		if err == nil || !strings.Contains(err.Error(), "NOT_ACCEPTED") || !strings.Contains(err.Error(), "AcceptEnv") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("update: previous output refused by sshd is a warning", func(t *testing.T) {
		log := &recordingLogger{}
		s := New(log)
		created, err := remoteCreate(t, s, map[string]any{"connection": d.connection(nil), "create": "echo first"})
		if err != nil {
			t.Fatal(err)
		}
		news, _ := marshal(pm(map[string]any{
			"connection": d.connection(nil), "create": "echo second", "update": "echo \"prev=${PULUMI_COMMAND_STDOUT-unset}\"",
			"addPreviousOutputInEnv": true, "logging": "none",
		}))
		updated, err := s.Update(context.Background(), &pulumirpc.UpdateRequest{Type: RemoteCommand, Urn: remoteURN, Olds: created.Properties, News: news})
		if err != nil {
			t.Fatal(err)
		}
		if got := str(outputsOf(t, updated.Properties), "stdout"); got != "prev=unset" {
			t.Errorf("stdout %q", got)
		}
		if !log.warned("PULUMI_COMMAND_STDOUT") {
			t.Errorf("no warning about PULUMI_COMMAND_STDOUT: %v", log.lines)
		}
	})

	t.Run("the connection stays open after the command, until Cancel", func(t *testing.T) {
		s := New(nil)
		if _, err := remoteCreate(t, s, map[string]any{"connection": d.connection(nil), "create": "true"}); err != nil {
			t.Fatal(err)
		}
		keptClients.Lock()
		kept := keptClients.clients[len(keptClients.clients)-1]
		keptClients.Unlock()
		session, err := kept.NewSession()
		if err != nil {
			t.Fatalf("the kept connection is closed: %v", err)
		}
		_ = session.Close()
		if _, err := s.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kept.NewSession(); err == nil {
			t.Error("Cancel left the connection open")
		}
	})

	t.Run("hostKey is checked when given", func(t *testing.T) {
		if _, err := remoteCreate(t, New(nil), map[string]any{
			"connection": d.connection(map[string]any{"hostKey": d.hostKey}), "create": "true",
		}); err != nil {
			t.Errorf("matching host key: %v", err)
		}
		_, _, otherPub := newKey(t)
		_, err := remoteCreate(t, New(nil), map[string]any{
			"connection": d.connection(map[string]any{"hostKey": string(ssh.MarshalAuthorizedKey(otherPub)), "dialErrorLimit": 0.0}),
			"create":     "true",
		})
		if err == nil || !strings.Contains(err.Error(), "after 0 failed attempts: ssh: handshake failed: ssh: host key mismatch") {
			t.Errorf("other host key: %v", err)
		}
	})

	t.Run("a host key that does not parse fails before any dial, worded as pulumi-command 1.2.1", func(t *testing.T) {
		dials := 0
		old := sleepHook
		sleepHook = func(_ context.Context, _ time.Duration) error { dials++; return nil }
		t.Cleanup(func() { sleepHook = old })
		for _, text := range []string{"", "ssh-ed25519 not-base64"} {
			_, err := remoteCreate(t, New(nil), map[string]any{
				"connection": d.connection(map[string]any{"hostKey": text}), "create": "true",
			})
			if err == nil || !strings.Contains(err.Error(), "failed to parse host key: ssh: no key found") || strings.Contains(err.Error(), "attempts") {
				t.Errorf("hostKey %q: %v", text, err)
			}
		}
		if dials != 0 {
			t.Errorf("retried %d times", dials)
		}
	})

	t.Run("a pinned key offers only its own type, as pulumi-command 1.2.1 does", func(t *testing.T) {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(d.hostKey))
		if err != nil {
			t.Fatal(err)
		}
		c := &Connection{HostKey: &d.hostKey, User: "root", PerDialTimeout: 1}
		cfg, closer, err := c.clientConfig()
		if err != nil {
			t.Fatal(err)
		}
		closer()
		if len(cfg.HostKeyAlgorithms) != 1 || cfg.HostKeyAlgorithms[0] != key.Type() {
			t.Errorf("host key algorithms %v, want [%s]", cfg.HostKeyAlgorithms, key.Type())
		}
	})

	t.Run("a key sshd does not know fails", func(t *testing.T) {
		_, otherPEM, _ := newKey(t)
		_, err := remoteCreate(t, New(nil), map[string]any{
			"connection": d.connection(map[string]any{"privateKey": otherPEM, "dialErrorLimit": 0.0}), "create": "true",
		})
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("unknown key: %v", err)
		}
	})
}

// The real provider's dial retries: dialErrorLimit 2 allows 2 failed dials, the 3rd failure gives
// up; pauses 0.1 s then 0.15 s; "Dial n/2 failed: retrying" status lines; "after 2 failed attempts".
func TestRemoteDialRetries(t *testing.T) {
	var mu sync.Mutex
	var pauses []time.Duration
	old := sleepHook
	sleepHook = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		pauses = append(pauses, d)
		return nil
	}
	t.Cleanup(func() { sleepHook = old })

	port := freePort(t) // nothing listens there
	_, clientPEM, _ := newKey(t)
	log := &recordingLogger{}
	_, err := remoteCreate(t, New(log), map[string]any{
		"connection": map[string]any{"host": "127.0.0.1", "port": float64(port), "privateKey": clientPEM, "dialErrorLimit": 2.0, "perDialTimeout": 1.0},
		"create":     "true",
	})
	want := fmt.Sprintf("after 2 failed attempts: dial tcp 127.0.0.1:%d: connect: connection refused", port)
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if fmt.Sprint(pauses) != "[100ms 150ms]" {
		t.Errorf("pauses between dials %v", pauses)
	}
	if got := strings.Join(log.messages(), "|"); got != "Dial 1/2 failed: retrying|Dial 2/2 failed: retrying" {
		t.Errorf("logged %q", got)
	}
	for i, want := range []time.Duration{100, 150, 225, 337, 506, 759, 1139, 1708, 2562, 3844, 5000, 5000} {
		if got := retryDelay(i + 1).Milliseconds(); got != int64(want) {
			t.Errorf("pause after dial %d: %d ms, want %d", i+1, got, want)
		}
	}
}
