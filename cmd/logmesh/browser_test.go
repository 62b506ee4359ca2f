package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/browsertest"
	"github.com/logmesh/logmesh/platform"
)

// browserE2E starts a browser and the retry suite's platform, and returns
// them with the catalog's URL and governance's token.
func browserE2E(t *testing.T) (*browsertest.Browser, *e2e, string, string) {
	t.Helper()
	b := browsertest.New(t, 4*time.Minute)
	e := startRetryE2E(t)
	tok, err := platform.DevToken(filepath.Join(e.cfg.DataDir, platform.DevTokensFile), "governance")
	if err != nil {
		t.Fatal(err)
	}
	url := e.p.Env.CatalogURL()
	if url == "" {
		t.Fatal("the dev platform serves no catalog")
	}
	return b, e, url, tok
}

// landCLI lands content as key with `logmesh land`.
func (e *e2e) landCLI(key, content string) {
	e.t.Helper()
	src := filepath.Join(e.t.TempDir(), filepath.Base(key))
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if out, err := e.run("land", src, "--key", key); err != nil || !strings.HasPrefix(out, "landed 1 file") {
		e.t.Fatalf("land %s: %v %s", key, err, out)
	}
}

// A file landed through the CLI appears in the console's file audit, and
// then, from its row, in the lineage graph beside its table.
func TestBrowserLandedFileAuditThenLineage(t *testing.T) {
	b, e, url, tok := browserE2E(t)
	e.landCLI("lab/one.csv", "id,qty\nA1,1\nA2,2\n")
	files := e.awaitFiles(1, "PROCESSED", func(f fileJSON) bool { return f.Status == "PROCESSED" })
	f := files["lab/one.csv"]
	b.Login(url, tok)
	row := `tr.file[data-key="lab/one.csv"]`
	b.Run("audit", chromedp.Navigate(url+"/console/files"), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := b.Text(row + " td.status"); got != "PROCESSED" {
		t.Errorf("the audit shows lab/one.csv %s", got)
	}
	b.Run("lineage", chromedp.Click(chromedp.CSS(row+" td a")),
		chromedp.WaitVisible(chromedp.CSS(`#graph-status[data-done]`)))
	node := fmt.Sprintf(`#graph g.node[data-id="file:%s"]`, f.ID)
	if n := browsertest.Eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, node)); n != 1 {
		t.Fatalf("the lineage graph has %d nodes of the file %s: %s", n, f.ID, b.Text("#graph-status"))
	}
	edges := browsertest.Eval[int](b, fmt.Sprintf(`document.querySelectorAll('#graph g.edge[data-from="file:%s"]').length`, f.ID))
	tables := browsertest.Eval[string](b, `Array.from(document.querySelectorAll("#graph g.node")).map(n => n.dataset.id).join(",")`)
	if edges != 1 || !strings.Contains(tables, "raw.lab") {
		t.Errorf("the file's lineage: %d edges, nodes %s; want one edge to raw.lab", edges, tables)
	}
}

// The Retry button redrives an UNMATCHED file once a feed takes it.
func TestBrowserRetryUnmatched(t *testing.T) {
	b, e, url, tok := browserE2E(t)
	e.landCLI("lab2/late.csv", "id,qty\nL1,1\n")
	e.awaitFiles(1, "UNMATCHED", func(f fileJSON) bool { return f.Status == "UNMATCHED" && f.Attempt == 1 })
	if out, err := e.run("apply", "-f", "testdata/retry/mesh-lab2.yaml"); err != nil || !strings.Contains(out, "+ feed lab2") {
		t.Fatalf("apply of the lab2 feed: %v\n%s", err, out)
	}
	b.Login(url, tok)
	row := `tr.file[data-key="lab2/late.csv"]`
	b.Run("unmatched", chromedp.Navigate(url+"/console/files?status=UNMATCHED"), chromedp.WaitVisible(chromedp.CSS(row+" button.retry")))
	b.Run("retry", chromedp.Click(chromedp.CSS(row+" button.retry")), chromedp.WaitVisible(chromedp.CSS("#retried")))
	files := e.awaitFiles(1, "PROCESSED at attempt 2", func(f fileJSON) bool { return f.Status == "PROCESSED" && f.Attempt == 2 })
	if f := files["lab2/late.csv"]; f.Table != "raw.lab2" || f.RowsWritten != 1 {
		t.Errorf("after the retry: table %q, %d rows written", f.Table, f.RowsWritten)
	}
	b.Run("processed", chromedp.Navigate(url+"/console/files"), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := b.Text(row + " td.status"); got != "PROCESSED" {
		t.Errorf("the audit shows lab2/late.csv %s after the retry", got)
	}
	if n := browsertest.Eval[int](b, `document.querySelectorAll('tr.file[data-key="lab2/late.csv"] button.retry').length`); n != 0 {
		t.Errorf("a PROCESSED file still has a Retry button")
	}
}

// The Live tail follows the raw domain's bus by polling: a file landed
// after the page opened appears as a new row, its FileLanded with the
// file's id as event id, and the status counts it.
func TestBrowserLiveTail(t *testing.T) {
	b, e, url, tok := browserE2E(t)
	b.Login(url, tok)
	topic := events.Topics{}.Domain(events.DomainRaw)
	b.Run("tail-open", chromedp.Navigate(url+"/console/tail?topic="+topic), chromedp.WaitVisible(chromedp.CSS("#tail-status")))
	if n := browsertest.Eval[int](b, fmt.Sprintf(`document.querySelectorAll('#tail-topics option[value=%q]').length`, topic)); n != 1 {
		t.Errorf("the topics to tail do not offer %s", topic)
	}
	const key, content = "lab/tail.csv", "id,qty\nT1,1\n"
	sum := sha256.Sum256([]byte(content))
	row := fmt.Sprintf(`tr.rec.new[data-event-id=%q][data-name=%q]`, events.DeriveID(key, hex.EncodeToString(sum[:])), (&events.FileLanded{}).Name())
	if n := browsertest.Eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, row)); n != 0 {
		t.Fatalf("the file's row is there before it landed")
	}
	e.landCLI(key, content)
	ctx, cancel := context.WithTimeout(b.Ctx, 90*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(row)))
	b.Shot("tail-landed")
	if err != nil {
		t.Fatalf("no row of %s's FileLanded appeared by polling: %v (status: %s)", key, err, b.Text("#tail-status"))
	}
	if got := b.Text(row + " td.value code"); !strings.Contains(got, `"key":"`+key+`"`) {
		t.Errorf("the row's value: %s", got)
	}
	if got := b.Text("#tail-status"); !strings.Contains(got, "records") || !strings.Contains(got, "last polled") {
		t.Errorf("the status says %q", got)
	}
}
