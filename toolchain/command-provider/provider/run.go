package provider

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Severity of a message for the engine's log.
type Severity int

const (
	Debug Severity = iota
	Info
	Warning
	Error
)

// Logger sends messages about a resource (its URN) to the engine's log. Ephemeral messages are
// status lines: the engine shows them while the resource's step runs, not in the final summary.
type Logger interface {
	Log(ctx context.Context, sev Severity, urn, msg string, ephemeral bool)
}

// NopLogger drops every message.
type NopLogger struct{}

// Log implements Logger.
func (NopLogger) Log(context.Context, Severity, string, string, bool) {}

// outputLogEphemeral: the command's output lines are logged the way pulumi-command logs them, as
// status messages of the resource (shown while it runs, not repeated in the summary).
const outputLogEphemeral = true

// execSpec is one run of a command, whatever runs it.
type execSpec struct {
	urn     string
	command string
	env     map[string]string
	// prevEnv holds PULUMI_COMMAND_STDOUT/STDERR when addPreviousOutputInEnv applies.
	prevEnv map[string]string
	stdin   *string
	logging string
}

func (s execSpec) logStdout() bool { return s.logging == "stdout" || s.logging == "stdoutAndStderr" }
func (s execSpec) logStderr() bool { return s.logging == "stderr" || s.logging == "stdoutAndStderr" }

// maxErrorOutput bounds the output quoted in a failed command's error message (its tail is kept).
const maxErrorOutput = 16 << 10

// capture collects a command's stdout and stderr in full, the tail of both interleaved for error
// messages, and streams complete lines of the streams that `logging` selects to the engine's log.
type capture struct {
	mu       sync.Mutex
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	combined []byte
	dropped  int
	partial  [2][]byte
	logOn    [2]bool
	lines    chan string
	done     chan struct{}
}

func newCapture(ctx context.Context, log Logger, spec execSpec) *capture {
	c := &capture{
		logOn: [2]bool{spec.logStdout(), spec.logStderr()},
		lines: make(chan string, 1024),
		done:  make(chan struct{}),
	}
	go func() {
		defer close(c.done)
		for line := range c.lines {
			log.Log(ctx, Info, spec.urn, line, outputLogEphemeral)
		}
	}()
	return c
}

type captureStream struct {
	c     *capture
	index int
}

// Stdout and Stderr are the writers to give the command.
func (c *capture) Stdout() *captureStream { return &captureStream{c, 0} }
func (c *capture) Stderr() *captureStream { return &captureStream{c, 1} }

func (w *captureStream) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.index == 0 {
		c.stdout.Write(p)
	} else {
		c.stderr.Write(p)
	}
	c.combined = append(c.combined, p...)
	if over := len(c.combined) - 2*maxErrorOutput; over > 0 {
		c.dropped += over
		c.combined = append(c.combined[:0], c.combined[over:]...)
	}
	if c.logOn[w.index] {
		buf := append(c.partial[w.index], p...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			c.emit(buf[:i])
			buf = buf[i+1:]
		}
		c.partial[w.index] = append([]byte(nil), buf...)
	}
	return len(p), nil
}

func (c *capture) emit(line []byte) {
	s := strings.TrimRight(string(line), "\r")
	if strings.TrimSpace(s) != "" {
		c.lines <- strings.ToValidUTF8(s, "\uFFFD")
	}
}

// finish flushes the last partial lines and waits until every line has been logged.
func (c *capture) finish() {
	c.mu.Lock()
	for i := range c.partial {
		if c.logOn[i] && len(c.partial[i]) > 0 {
			c.emit(c.partial[i])
		}
		c.partial[i] = nil
	}
	c.mu.Unlock()
	close(c.lines)
	<-c.done
}

// results returns stdout and stderr with one trailing newline removed, as pulumi-command does.
func (c *capture) results() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSuffix(c.stdout.String(), "\n"), strings.TrimSuffix(c.stderr.String(), "\n")
}

// outputTail: the end of the interleaved output, at most maxErrorOutput bytes, starting on a line.
func (c *capture) outputTail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.combined
	dropped := c.dropped
	if len(out) > maxErrorOutput {
		cut := len(out) - maxErrorOutput
		if i := bytes.IndexByte(out[cut:], '\n'); i >= 0 && i < 1024 {
			cut += i + 1
		}
		dropped += cut
		out = out[cut:]
	}
	s := strings.ToValidUTF8(string(out), "\uFFFD")
	if dropped > 0 {
		s = fmt.Sprintf("[... %d earlier bytes of output omitted]\n%s", dropped, s)
	}
	return s
}

// CommandError is a command that ran and failed (or could not be started).
type CommandError struct {
	Err     error
	Command string
	Output  string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%v: running %q:\n%s", e.Err, shortCommand(e.Command), e.Output)
}

func (e *CommandError) Unwrap() error { return e.Err }

// shortCommand: the command's first non-empty line (at most 200 characters), with "…" when it was cut.
func shortCommand(cmd string) string {
	lines := strings.Split(strings.TrimSpace(cmd), "\n")
	first := strings.TrimSpace(lines[0])
	cut := len(lines) > 1
	if utf8.RuneCountInString(first) > 200 {
		first = string([]rune(first)[:200])
		cut = true
	}
	if cut {
		first += "…"
	}
	return first
}
