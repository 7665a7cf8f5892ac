package provider

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

var defaultInterpreter = []string{"/bin/sh", "-c"}

// localTarget runs commands on this machine: interpreter + command, in dir (the provider's working
// folder, the Pulumi program's, when empty), with this process's environment plus the extra variables.
type localTarget struct {
	interpreter []string
	dir         string
}

func (t localTarget) run(ctx context.Context, log Logger, spec execSpec) (string, string, error) {
	args := append(append([]string(nil), t.interpreter...), spec.command)
	if len(t.interpreter) == 0 {
		args = append(append([]string(nil), defaultInterpreter...), spec.command)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	// On cancellation stop the whole process group, not only the interpreter.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = t.dir
	cmd.Env = os.Environ()
	for _, vars := range []map[string]string{spec.env, spec.prevEnv} {
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cmd.Env = append(cmd.Env, k+"="+vars[k])
		}
	}
	if spec.stdin != nil && *spec.stdin != "" {
		cmd.Stdin = strings.NewReader(*spec.stdin)
	}

	out := newCapture(ctx, log, spec)
	cmd.Stdout = out.Stdout()
	cmd.Stderr = out.Stderr()
	err := cmd.Run()
	out.finish()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = errors.Join(ctxErr, err)
		}
		return "", "", &CommandError{Err: err, Command: spec.command, Output: out.output()}
	}
	stdout, stderr := out.results()
	return stdout, stderr, nil
}
