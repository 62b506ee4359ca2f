package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/examples"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/projections/definitions"
)

// exampleMesh writes the example mesh, edited by the old → new
// replacements, to a temporary file and returns its path.
func exampleMesh(t *testing.T, replace ...string) string {
	t.Helper()
	data, err := examples.FS.ReadFile("mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(text, replace[i]) {
			t.Fatalf("example mesh has no %q", replace[i])
		}
		text = strings.Replace(text, replace[i], replace[i+1], 1)
	}
	return writeMesh(t, text)
}

func writeMesh(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// logged returns how many records the central bus and the raw domain's
// events topic hold beyond the platform's own LocationsDefined and
// InstallationDefined: where apply emits the example mesh's definitions.
func (c *cli) logged() int64 {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.p.Brokers...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), events.CentralTopic, events.DomainTopic(events.DomainRaw))
	if err != nil {
		c.t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n - 2
}

// planLines returns the lines of out that start with op and a space.
func planLines(out string, op byte) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 1 && l[0] == op && l[1] == ' ' {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestApply(t *testing.T) {
	c := newCLI(t)
	file := exampleMesh(t)

	out, err := c.run("apply", "-f", file, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	wantAdds := []string{"+ domain raw", "+ domain central", "+ domain research", "+ domain wealth",
		"+ feed trades", "+ feed securities", "+ feed accounts", "+ feed orders", "+ feed positions",
		"+ product raw.trades", "+ product raw.securities", "+ product raw.accounts", "+ product raw.orders", "+ product raw.positions",
		"+ product research.exposure", "+ product research.top_issuers", "+ product wealth.client_activity", "+ grant raw.trades→research", "+ grant raw.trades→wealth", "+ grant raw.securities→research",
		"+ subscription research/market-data", "+ subscription wealth/raw-refreshes"}
	all := int64(len(wantAdds)) // every definition is on the central or the raw bus
	if got := planLines(out, '+'); !reflect.DeepEqual(got, wantAdds) {
		t.Fatalf("dry run plans %q, want %q\n%s", got, wantAdds, out)
	}
	if !strings.Contains(out, "dry run") || c.logged() != 0 {
		t.Fatalf("dry run emitted %d events:\n%s", c.logged(), out)
	}

	out, err = c.run("apply", "-f", file)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(planLines(out, '+'))) != all || !strings.Contains(out, fmt.Sprintf("applied %d definitions", all)) {
		t.Fatalf("apply:\n%s", out)
	}
	out, err = c.run("tail", "--from-beginning", "--json", "-n", strconv.FormatInt(all+2, 10), events.CentralTopic, events.DomainTopic(events.DomainRaw)) // and the LocationsDefined and InstallationDefined
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev struct {
			Event   string `json:"event"`
			Name    string `json:"name"`
			Feed    string `json:"feed"`
			Product string `json:"product"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("tail --json line %q: %v", line, err)
		}
		seen[ev.Event+" "+ev.Name+ev.Feed+ev.Product] = true
	}
	for _, want := range []string{
		events.NameDomainDefined + " raw", events.NameDomainDefined + " central",
		events.NameFeedDefined + " trades", events.NameFeedDefined + " securities",
		events.NameFeedDefined + " accounts", events.NameFeedDefined + " positions",
		events.NameProductPublished + " raw.trades", events.NameProductPublished + " raw.positions",
	} {
		if !seen[want] {
			t.Errorf("the log lacks %s; it has %v", want, seen)
		}
	}

	out, err = c.run("apply", "-f", file)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(planLines(out, '='))) != all || !strings.Contains(out, "no changes") || c.logged() != all {
		t.Fatalf("second apply (log holds %d events):\n%s", c.logged(), out)
	}

	changed := exampleMesh(t, "reject_threshold: 0.25", "reject_threshold: 0.3")
	out, err = c.run("apply", "-f", changed)
	if err != nil {
		t.Fatal(err)
	}
	if got := planLines(out, '~'); !reflect.DeepEqual(got, []string{"~ feed securities (changed)"}) || len(planLines(out, '+')) != 0 {
		t.Fatalf("changed feed plans %q:\n%s", got, out)
	}
	// The feed and raw's claim (raw's domain is unchanged, so its claim
	// is one more DomainDefined).
	if !strings.Contains(out, "applied 1 definition\n") || !strings.Contains(out, "claimed domain raw") || c.logged() != all+2 {
		t.Fatalf("changed feed (log holds %d events):\n%s", c.logged(), out)
	}

	// Removing a feed retires it (FeedRetired) and its product.
	data, err := os.ReadFile(changed)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	removed := writeMesh(t, text[:strings.Index(text, "  - name: positions")]+text[strings.Index(text, "\nproducts:")+1:])
	out, err = c.run("apply", "-f", removed)
	if err != nil {
		t.Fatal(err)
	}
	if got := planLines(out, '-'); !reflect.DeepEqual(got, []string{"- feed positions (retired: not in the file)",
		"- product raw.positions (retired: not in the file)"}) || !strings.Contains(out, "applied 2 definitions") || c.logged() != all+5 {
		t.Fatalf("removed feed plans %q (log holds %d events):\n%s", got, c.logged(), out)
	}
	defs := c.definitions()
	if d := defs[definitions.Key{Kind: definitions.KindFeed, Name: "positions"}]; !d.Retired || d.Domain != events.DomainRaw {
		t.Errorf("feed positions after its removal: %+v", d)
	}
	// The feed in the file again is added back.
	out, err = c.run("apply", "-f", changed)
	if err != nil {
		t.Fatal(err)
	}
	if got := planLines(out, '+'); !reflect.DeepEqual(got, []string{"+ feed positions", "+ product raw.positions"}) {
		t.Errorf("the feed back in the file plans %q:\n%s", got, out)
	}
	if d := c.definitions()[definitions.Key{Kind: definitions.KindFeed, Name: "positions"}]; d.Retired {
		t.Errorf("feed positions back in the file: %+v", d)
	}
}

// definitions folds the definitions on the log.
func (c *cli) definitions() map[definitions.Key]definitions.Definition {
	c.t.Helper()
	conn, err := kafkaconn.New(kafkaconn.Config{Brokers: c.p.Brokers})
	if err != nil {
		c.t.Fatal(err)
	}
	all, err := platform.ReadDefinitions(context.Background(), conn, c.p.Codec, events.Topics{})
	if err != nil {
		c.t.Fatal(err)
	}
	return all
}

func TestApplyRefusesInvalidMeshes(t *testing.T) {
	c := newCLI(t)
	undeclared := exampleMesh(t, "table: raw.positions", "table: nowhere.positions")
	data, err := examples.FS.ReadFile("mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := strings.Cut(string(data), "table: raw.positions")
	positionsLine := fmt.Sprintf("mesh.yaml:%d:", strings.Count(before, "\n")+1)
	decimal := exampleMesh(t, "{name: price, type: double}",
		`{name: price, type: {type: bytes, logicalType: decimal, precision: 18, scale: 4}}`)
	for _, tc := range []struct {
		name string
		args []string
		is   error  // the error wraps it
		says string // and names this
	}{
		{"no file", []string{"apply"}, errUsage, "-f"},
		{"undeclared domain", []string{"apply", "-f", undeclared}, mesh.ErrInvalid, positionsLine},
		{"unsupported type", []string{"apply", "-f", decimal}, validate.ErrUnsupported, "feed trades: field price"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.run(tc.args...)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%v: want an error wrapping %v naming %q", err, tc.is, tc.says)
			}
			if n := c.logged(); n != 0 {
				t.Fatalf("%d events emitted", n)
			}
		})
	}
}

// devView is what TestDevConfig checks of a platform.DevConfig.
type devView struct {
	DataDir, Landing, Warehouse, Webhook, Admin string
	KafkaPort, RegistryPort                     int
	PlanInterval                                time.Duration
	Brokers                                     []string
	S3                                          platform.S3
}

func viewOf(c platform.DevConfig) devView {
	return devView{DataDir: c.DataDir, Landing: c.Landing, Warehouse: c.Warehouse, Webhook: c.Webhook, Admin: c.AdminAddr,
		KafkaPort: c.KafkaPort, RegistryPort: c.RegistryPort, PlanInterval: c.PlanInterval, Brokers: c.Kafka.Brokers, S3: c.S3}
}

func TestDevConfig(t *testing.T) {
	// The built-in example seeds ./.logmesh/landing: here, not in the source tree.
	t.Chdir(t.TempDir())
	for _, k := range []string{"LOGMESH_BROKERS", "LOGMESH_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		t.Setenv(k, "")
	}
	meshFile := exampleMesh(t)
	defaults := devView{
		DataDir: "./.logmesh", KafkaPort: 9092, RegistryPort: 8081, Admin: "127.0.0.1:8082",
		Landing: ".logmesh/landing", Warehouse: ".logmesh/warehouse", PlanInterval: 10 * time.Second,
	}
	with := func(f func(*devView)) devView {
		c := defaults
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		args  []string // global flags, "dev", dev's flags
		want  devView
		feeds int // of the loaded mesh; 0: none loaded (the built-in example)
	}{
		{name: "defaults", args: []string{"dev"}, want: defaults},
		{name: "local dirs", args: []string{"dev", "--data", "/d", "--landing", "/in", "--plan-interval", "1m", "--webhook", "http://h/x", "--kafka-port", "-1"},
			want: with(func(c *devView) {
				c.DataDir, c.Landing, c.Warehouse, c.PlanInterval, c.Webhook, c.KafkaPort = "/d", "/in", "/d/warehouse", time.Minute, "http://h/x", -1
			})},
		{name: "mesh file", args: []string{"dev", "--config", meshFile}, want: defaults, feeds: 5},
		{name: "--brokers given", args: []string{"--brokers", "k1:9092,k2:9092", "dev"},
			want: with(func(c *devView) { c.Brokers = []string{"k1:9092", "k2:9092"} })},
		{name: "--brokers after the command", args: []string{"dev", "--brokers", "k1:9092"},
			want: with(func(c *devView) { c.Brokers = []string{"k1:9092"} })},
		{name: "--brokers given its default", args: []string{"--brokers", "127.0.0.1:9092", "dev"},
			want: with(func(c *devView) { c.Brokers = []string{"127.0.0.1:9092"} })},
		{name: "LOGMESH_BROKERS", env: map[string]string{"LOGMESH_BROKERS": "k:9092"}, args: []string{"dev"},
			want: with(func(c *devView) { c.Brokers = []string{"k:9092"} })},
		{name: "no admin endpoint", args: []string{"dev", "--admin-addr", ""}, want: with(func(c *devView) { c.Admin = "" })},
		{name: "S3 from flags", args: []string{"dev", "--warehouse", "s3://wh/tables", "--s3-endpoint", "minio:9000",
			"--s3-access-key", "ak", "--s3-secret-key", "sk", "--s3-region", "eu-west-1", "--s3-insecure"},
			want: with(func(c *devView) {
				c.Warehouse = "s3://wh/tables"
				c.S3 = platform.S3{Endpoint: "minio:9000", AccessKey: "ak", SecretKey: "sk", Region: "eu-west-1", Insecure: true}
			})},
		{name: "S3 from the AWS environment", args: []string{"dev", "--landing", "s3://in/"},
			env: map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "AWS_REGION": "r"},
			want: with(func(c *devView) {
				c.Landing = "s3://in/"
				c.S3 = platform.S3{Endpoint: "127.0.0.1:9000", AccessKey: "ak", SecretKey: "sk", Region: "r", Insecure: true}
			})},
		{name: "LOGMESH_S3_ENDPOINT first", args: []string{"dev", "--landing", "s3://in/"},
			env:  map[string]string{"AWS_ENDPOINT_URL_S3": "https://aws:443", "LOGMESH_S3_ENDPOINT": "minio:9000"},
			want: with(func(c *devView) { c.Landing = "s3://in/"; c.S3 = platform.S3{Endpoint: "minio:9000"} })},
		{name: "AWS itself", args: []string{"dev", "--landing", "s3://in/"},
			want: with(func(c *devView) { c.Landing = "s3://in/"; c.S3 = platform.S3{Endpoint: "s3.amazonaws.com"} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			g, rest, err := parseGlobal(tc.args, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := devConfig(g, rest[1:], &stderr)
			if err != nil {
				t.Fatalf("%v\n%s", err, &stderr)
			}
			if got.Logger != g.log {
				t.Error("the platform does not get the global logger")
			}
			switch {
			case tc.feeds == 0 && (got.Mesh == nil || len(got.Mesh.Feeds) == 0):
				t.Errorf("mesh = %+v; want the built-in example", got.Mesh)
			case tc.feeds > 0 && (got.Mesh == nil || len(got.Mesh.Feeds) != tc.feeds):
				t.Errorf("mesh = %+v, want %d feeds", got.Mesh, tc.feeds)
			}
			if v := viewOf(got); !reflect.DeepEqual(v, tc.want) {
				t.Errorf("config\n got %+v\nwant %+v", v, tc.want)
			}
		})
	}

	g, _, err := parseGlobal(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if dc, _, err := devConfig(g, []string{"--processors", "none"}, &bytes.Buffer{}); err != nil || len(dc.Skip) != len(platform.ProcessorNames()) {
		t.Errorf("dev --processors none: skips %v, %v; want every processor", dc.Skip, err)
	}
	if dc, _, err := devConfig(g, []string{"--processors", "loader,audit"}, &bytes.Buffer{}); err != nil || slices.Contains(dc.Skip, "loader") || !slices.Contains(dc.Skip, "watcher") {
		t.Errorf("dev --processors loader,audit: skips %v, %v", dc.Skip, err)
	}
	for _, args := range [][]string{
		{"--processors", "nope"},
		{"--plan-interval", "0s"},
		{"--nope"},
		{"extra"},
		{"--landing", "s3://b/", "--s3-endpoint", "ftp://h:21"},
	} {
		if _, _, err := devConfig(global{}, args, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("dev %q: %v, want a usage error", args, err)
		}
	}
	bad := writeMesh(t, "domains:\n  - name: raw\nfeeds:\n  - name: x\n    table: nowhere.x\n")
	if _, _, err := devConfig(global{}, []string{"--config", bad}, &bytes.Buffer{}); !errors.Is(err, mesh.ErrInvalid) {
		t.Errorf("dev --config with an invalid mesh: %v, want mesh.ErrInvalid", err)
	}
}
