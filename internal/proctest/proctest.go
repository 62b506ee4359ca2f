// Package proctest runs OS processes for kill tests: a child is started
// (usually the test binary itself, re-executed to run one test or to act as
// the logmesh command), its output lines are kept and can be awaited, and it
// can be SIGKILLed, restarted with the same arguments, or stopped with
// SIGTERM. It is a test kit; nothing in it is safe outside tests.
package proctest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Wait bounds every wait for a line; a safety net, not a timed assertion.
const Wait = 3 * time.Minute

// Proc is one child process. Its methods are for the test goroutine.
type Proc struct {
	t    testing.TB
	name string
	env  []string
	args []string
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string
	waits []wait
	done  chan struct{}
}

type wait struct {
	match func(string) bool
	ch    chan string
}

// Start starts os.Args[0] with args and env (added to the test's own), and
// kills it when the test ends, showing its last lines if the test failed.
// Lines of its stdout and stderr are kept.
func Start(t testing.TB, name string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, env: env, args: args}
	p.start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s output (last lines):\n%s", p.name, strings.Join(p.lines[max(0, len(p.lines)-40):], "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

func (p *Proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(os.Args[0], p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { // close the pipe once the process exits
		_ = p.cmd.Wait()
		w.Close()
	}()
	go func(done chan struct{}) {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			keep := p.waits[:0]
			for _, w := range p.waits {
				if w.match(line) {
					w.ch <- line
					continue
				}
				keep = append(keep, w)
			}
			p.waits = keep
			p.mu.Unlock()
		}
	}(p.done)
}

// OnLine returns a channel that receives the first line from now on for
// which match is true.
func (p *Proc) OnLine(match func(line string) bool) <-chan string {
	ch := make(chan string, 1)
	p.mu.Lock()
	p.waits = append(p.waits, wait{match, ch})
	p.mu.Unlock()
	return ch
}

// On is OnLine for lines matching the regular expression pattern.
func (p *Proc) On(pattern string) <-chan string {
	re := regexp.MustCompile(pattern)
	return p.OnLine(re.MatchString)
}

// Await waits for a line from ch, failing the test if the process exits
// first or nothing comes within Wait.
func (p *Proc) Await(ch <-chan string, what string) string {
	p.t.Helper()
	select {
	case line := <-ch:
		return line
	case <-p.done:
		p.t.Fatalf("%s exited before %s", p.name, what)
	case <-time.After(Wait):
		p.t.Fatalf("%s: no %s within %v", p.name, what, Wait)
	}
	return ""
}

// Kill SIGKILLs the process if it still runs, and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Restart kills the process and starts it again with the same arguments.
func (p *Proc) Restart() {
	p.t.Helper()
	p.Kill()
	p.start()
}

// Stop sends SIGTERM and fails the test unless the process exits cleanly.
func (p *Proc) Stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	<-p.done
	if st := p.cmd.ProcessState; st == nil || !st.Success() {
		p.t.Errorf("%s did not stop cleanly on SIGTERM: %v", p.name, st)
	}
}
