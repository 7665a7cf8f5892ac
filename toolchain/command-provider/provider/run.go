package provider

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
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

// maxLogLine: the longest output line the real provider's log reader takes (bufio.Scanner's default
// MaxScanTokenSize, 64 KiB, counted with the buffer: a line of 65536 bytes or more, newline
// excluded, does not fit).
const maxLogLine = bufio.MaxScanTokenSize

// capture collects a command's stdout and stderr, both interleaved (for the error message), and
// logs the streams that `logging` selects line by line, as the real provider does: both go through
// one pipe read by a bufio.Scanner with the default 64 KiB token limit. A longer line ends that
// reader; the next write to the pipe then blocks, so the command's output stops being read and the
// step hangs, as it does with the real 1.2.1 (pulumi-command provider/pkg/provider/util/util.go
// LogOutput). Unlike the real one, the operation's end (Cancel, the step's custom timeout) closes
// the pipe so the step fails instead of hanging forever, and a warning says why it stalled.
type capture struct {
	mu       sync.Mutex
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	combined bytes.Buffer
	logOn    [2]bool
	pr       *io.PipeReader
	pw       *io.PipeWriter
	done     chan struct{}
	stop     func() bool
}

func newCapture(ctx context.Context, log Logger, spec execSpec) *capture {
	pr, pw := io.Pipe()
	c := &capture{logOn: [2]bool{spec.logStdout(), spec.logStderr()}, pr: pr, pw: pw, done: make(chan struct{})}
	c.stop = context.AfterFunc(ctx, func() { _ = pr.CloseWithError(ctx.Err()) })
	go func() {
		defer close(c.done)
		scanner := bufio.NewScanner(pr)
		for scanner.Scan() {
			log.Log(ctx, Info, spec.urn, scanner.Text(), outputLogEphemeral)
		}
		if errors.Is(scanner.Err(), bufio.ErrTooLong) {
			log.Log(ctx, Warning, spec.urn, fmt.Sprintf("the command printed a line of %d bytes or more: "+
				"pulumi-command 1.2.1 stops reading its output there and the step hangs until it is "+
				"canceled; st2-upgrade's command provider does the same, so keep every output line short",
				maxLogLine), false)
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
	if w.index == 0 {
		c.stdout.Write(p)
	} else {
		c.stderr.Write(p)
	}
	c.combined.Write(p)
	c.mu.Unlock()
	if c.logOn[w.index] {
		// Blocks while the log reader is behind, forever once it has stopped (see capture).
		return c.pw.Write(p)
	}
	return len(p), nil
}

// finish ends the log stream and waits until every line has been logged.
func (c *capture) finish() {
	_ = c.pw.Close()
	<-c.done
	c.stop()
}

// results returns stdout and stderr with one trailing newline removed, as pulumi-command does.
func (c *capture) results() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSuffix(c.stdout.String(), "\n"), strings.TrimSuffix(c.stderr.String(), "\n")
}

// output: everything the command printed, stdout and stderr interleaved as written.
func (c *capture) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.combined.String()
}

// CommandError is a command that ran and failed (or could not be started). Its text is the real
// provider's: the error, the whole command quoted (%q) and all of its output.
type CommandError struct {
	Err     error
	Command string
	Output  string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%v: running %q:\n%s", e.Err, e.Command, e.Output)
}

func (e *CommandError) Unwrap() error { return e.Err }
