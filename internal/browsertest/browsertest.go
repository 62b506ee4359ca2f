// Package browsertest runs browser tests in headless Chromium (chromedp).
// The tests run with LOGMESH_BROWSER=1 and are skipped otherwise; under
// CI=true a missing Chromium fails them. The executable is LOGMESH_CHROMIUM
// or chromium on PATH (deploy/chromium/install.sh installs it).
// Screenshots go to LOGMESH_ARTIFACTS, or ./.artifacts/browser/.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvBrowser turns the browser tests on.
const EnvBrowser = "LOGMESH_BROWSER"

// Browser is one headless Chromium tab of a test. Not safe for concurrent
// use; t.Cleanup closes it.
type Browser struct {
	t    *testing.T
	Ctx  context.Context
	dir  string
	step atomic.Int32
}

// Executable returns the Chromium to run, or "" when there is none.
func Executable() string {
	if p := os.Getenv("LOGMESH_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// New starts headless Chromium for t, with every action bounded by
// deadline; it skips t unless LOGMESH_BROWSER=1, and skips it (fails it
// under CI=true) when there is no Chromium.
func New(t *testing.T, deadline time.Duration) *Browser {
	t.Helper()
	if os.Getenv(EnvBrowser) != "1" {
		t.Skip("browser tests run with " + EnvBrowser + "=1 (make test-browser)")
	}
	exe := Executable()
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium: run deploy/chromium/install.sh or set LOGMESH_CHROMIUM")
		}
		t.Skip("no chromium: run deploy/chromium/install.sh or set LOGMESH_CHROMIUM")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { bcancel(); acancel(); cancel() })
	dir := os.Getenv("LOGMESH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(".artifacts", "browser")
	}
	dir = filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium %s: %v", exe, err)
	}
	return &Browser{t: t, Ctx: bctx, dir: dir}
}

// Run runs actions and then screenshots the page as step name; it fails
// the test on an error.
func (b *Browser) Run(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	err := chromedp.Do(b.Ctx, actions...)
	b.Shot(name)
	if err != nil {
		b.t.Fatalf("browser step %s: %v", name, err)
	}
}

// Shot writes a full screenshot of the page as step name's PNG (quality 100 is PNG; less is JPEG).
func (b *Browser) Shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	n := b.step.Add(1)
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot %s", path)
}

// Login signs in to the console at base with token.
func (b *Browser) Login(base, token string) {
	b.t.Helper()
	b.Run("login", chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#principal")))
}

// Text returns the text of the first node sel matches, once it is visible.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.Shot("text-failed")
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// Eval evaluates a JavaScript expression and returns its value.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.Shot("eval-failed")
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}
