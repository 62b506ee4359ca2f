package main

import (
	"bufio"
	"flag"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/logmesh/logmesh/platform"
)

// The deploy test: deploy/Dockerfile, deploy/compose/compose.yaml and the
// manifests under deploy/k8s are checked against the CLI itself (its
// command table, its flag sets, the processors of `run --list`, the
// environment variables the code reads, the admin endpoint's routes). No
// Docker engine or cluster is needed, nor used.

const (
	deployDir     = "../../deploy"
	dockerfile    = deployDir + "/Dockerfile"
	composeFile   = deployDir + "/compose/compose.yaml"
	k8sDir        = deployDir + "/k8s"
	logmeshImage  = "logmesh/logmesh"
	readyPath     = "/readyz"
	livePath      = "/livez"
	metricsPath   = "/metrics"
	moduleRootRel = "../.."
)

// adminEndpoints are the paths of the admin endpoint the deploy files name:
// probes, health checks and scrape annotations. Each must be routed by
// platform.AdminHandler.
var adminEndpoints = []string{livePath, readyPath, metricsPath}

// composeService is the part of a compose service the test checks.
type composeService struct {
	Image       string         `yaml:"image"`
	Build       *composeBuild  `yaml:"build"`
	Command     []string       `yaml:"command"`
	Entrypoint  []string       `yaml:"entrypoint"`
	Environment map[string]any `yaml:"environment"`
	Healthcheck *composeHealth `yaml:"healthcheck"`
	DependsOn   map[string]any `yaml:"depends_on"`
	Ports       []string       `yaml:"ports"`
	Volumes     []string       `yaml:"volumes"`
	Profiles    []string       `yaml:"profiles"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeHealth struct {
	Test []string `yaml:"test"`
}

type composeFileT struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFileT {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFileT
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composeFile)
	}
	return c
}

// parseLogmesh parses args exactly as main does (global flags anywhere,
// then the command's own flag set, then its positional arguments) and
// returns the command, its positional arguments and the value of every flag
// given on the line.
func parseLogmesh(args []string) (*command, []string, map[string]string, error) {
	_, rest, err := parseGlobal(args, io.Discard)
	if err != nil {
		return nil, nil, nil, err
	}
	c, cargs := lookup(commands(), rest)
	if c == nil {
		return nil, nil, nil, usageError("no command in %q", rest)
	}
	fset, _ := c.flagSet()
	pos, err := c.parse(fset, cargs)
	if err != nil {
		return nil, nil, nil, err
	}
	vals := globalValues(args)
	fset.Visit(func(f *flag.Flag) { vals[f.Name] = f.Value.String() })
	return c, pos, vals, nil
}

// globalValues returns the global flags given in args, by name.
func globalValues(args []string) map[string]string {
	gargs, _ := splitGlobal(args)
	out := map[string]string{}
	for i := 0; i < len(gargs); i++ {
		name, value, ok := strings.Cut(strings.TrimLeft(gargs[i], "-"), "=")
		boolean := slices.ContainsFunc(globalFlags, func(f globalFlag) bool { return f.name == name && f.boolean })
		switch {
		case ok:
		case boolean:
			value = "true"
		case i+1 < len(gargs):
			i++
			value = gargs[i]
		}
		out[name] = value
	}
	return out
}

// readEnv returns every environment variable the code reads: the global
// flags' variables and each literal name passed to os.Getenv, os.LookupEnv
// or envOr in the module's non-test sources.
func readEnv(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range globalFlags {
		if f.env != "" {
			out[f.env] = true
		}
	}
	re := regexp.MustCompile(`(?:Getenv|LookupEnv|envOr)\("([A-Za-z_][A-Za-z0-9_]*)"`)
	err := filepath.WalkDir(moduleRootRel, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != moduleRootRel || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"LOGMESH_BROKERS", "AWS_ACCESS_KEY_ID"} {
		if !out[must] {
			t.Fatalf("the environment scan missed %s: %v", must, out)
		}
	}
	return out
}

// routed reports whether the admin endpoint routes GET path (anything but
// a 404 of the mux). A *http.ServeMux is asked for its pattern without
// running the handler; any other handler is run.
func routed(t *testing.T, h http.Handler, path string) bool {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if mux, ok := h.(*http.ServeMux); ok {
		_, pattern := mux.Handler(req)
		return pattern != ""
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code != http.StatusNotFound
}

func adminHandler() http.Handler {
	return platform.AdminHandler(&platform.Env{}, func() []platform.ProcessorStatus { return nil })
}

func TestDeployAdminEndpointsExist(t *testing.T) {
	h := adminHandler()
	for _, p := range adminEndpoints {
		if !routed(t, h, p) {
			t.Errorf("GET %s: 404 on platform.AdminHandler, but the deploy files probe or scrape it", p)
		}
	}
	if routed(t, h, "/no-such-endpoint") {
		t.Errorf("GET /no-such-endpoint is routed: the check cannot tell a real endpoint from a missing one")
	}
}

// portOf returns the port of a host:port listen address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}

// cliDefaults returns the ports the CLI uses by default: the catalog's
// (--catalog-addr), the registry's (--registry) and the dev admin
// endpoint's (dev --admin-addr).
func cliDefaults(t *testing.T) (catalog, registry, admin string) {
	t.Helper()
	c, _ := lookup(commands(), []string{"dev"})
	fset, _ := c.flagSet()
	catalog = portOf(t, fset.Lookup("catalog-addr").DefValue)
	admin = portOf(t, fset.Lookup("admin-addr").DefValue)
	for _, g := range globalFlags {
		if g.name == "registry" {
			u, err := url.Parse(g.def)
			if err != nil {
				t.Fatal(err)
			}
			registry = u.Port()
		}
	}
	return catalog, registry, admin
}

func TestDeployDockerfile(t *testing.T) {
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms, exposed []string
	var entry, user string
	cgo := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			froms = append(froms, strings.Fields(rest)[0])
		case "ENV", "ARG":
			if strings.Contains(rest, "CGO_ENABLED=1") {
				cgo = true
			}
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(rest)...)
		case "ENTRYPOINT":
			entry = strings.TrimSpace(rest)
		case "USER":
			user = strings.TrimSpace(rest)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("FROM %v: want a multi-stage build", froms)
	}
	if !strings.HasPrefix(froms[0], "golang:1.26") {
		t.Errorf("build stage FROM %s: want golang:1.26 (go.mod's go line)", froms[0])
	}
	if !cgo {
		t.Errorf("no CGO_ENABLED=1: DuckDB needs cgo")
	}
	runtime := froms[len(froms)-1]
	if !strings.HasPrefix(runtime, "debian:bookworm-slim") && !strings.HasPrefix(runtime, "gcr.io/distroless/cc-debian12") {
		t.Errorf("runtime FROM %s: want a slim glibc base", runtime)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("USER %q: want a non-root user", user)
	}
	if entry != `["logmesh"]` {
		t.Errorf(`ENTRYPOINT %s: want ["logmesh"]`, entry)
	}
	catalog, registry, admin := cliDefaults(t)
	for _, p := range []string{catalog, registry, admin} {
		if !slices.Contains(exposed, p) {
			t.Errorf("EXPOSE %v lacks %s, a port the CLI uses by default", exposed, p)
		}
	}
	if _, err := os.Stat(filepath.Join(moduleRootRel, ".dockerignore")); err != nil {
		t.Errorf("no .dockerignore at the repository root: %v", err)
	}
}

// pinnedImage reports whether image names a tag other than latest (or a digest).
func pinnedImage(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "" && tag != "latest"
}

// isLogmesh reports whether a service or container runs the logmesh image.
func isLogmesh(image string) bool {
	name, _, _ := strings.Cut(image, ":")
	return name == logmeshImage || strings.HasSuffix(name, "/"+logmeshImage)
}

// checkLogmeshArgs parses a logmesh command line as the CLI does, records
// in seen the processors a run names, and returns the flags given (nil if
// the line does not parse).
func checkLogmeshArgs(t *testing.T, where string, args []string, seen map[string][]string) map[string]string {
	t.Helper()
	c, pos, vals, err := parseLogmesh(args)
	if err != nil {
		t.Errorf("%s: logmesh %s: %v", where, strings.Join(args, " "), err)
		return nil
	}
	if c.name == "run" {
		known := platform.ProcessorNames()
		for _, n := range pos {
			if !slices.Contains(known, n) {
				t.Errorf("%s: run %s: no such processor (%v)", where, n, known)
			}
			seen[n] = append(seen[n], where)
		}
		if len(pos) == 0 {
			t.Errorf("%s: run with no processor", where)
		}
	}
	return vals
}

func TestDeployCompose(t *testing.T) {
	c := loadCompose(t)
	env := readEnv(t)
	catalogPort, _, _ := cliDefaults(t)
	seen := map[string][]string{}
	for name, s := range c.Services {
		where := "compose service " + name
		if s.Image == "" {
			t.Errorf("%s: no image", where)
			continue
		}
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s: depends on %s, which is no service", where, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(filepath.Dir(composeFile), src)); err != nil {
					t.Errorf("%s: volume %s: %v", where, v, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: volume %s is not declared", where, src)
			}
		}
		if !isLogmesh(s.Image) {
			if !pinnedImage(s.Image) {
				t.Errorf("%s: image %s is not pinned to a tag", where, s.Image)
			}
			continue
		}
		if s.Build != nil {
			df := filepath.Join(filepath.Dir(composeFile), s.Build.Context, s.Build.Dockerfile)
			if filepath.Clean(df) != filepath.Clean(dockerfile) {
				t.Errorf("%s: builds %s, want the image of %s", where, df, dockerfile)
			}
		}
		for k := range s.Environment {
			if !env[k] {
				t.Errorf("%s: environment variable %s is read by no code", where, k)
			}
		}
		if len(s.Command) == 0 {
			t.Errorf("%s: no command", where)
			continue
		}
		vals := checkLogmeshArgs(t, where, s.Command, seen)
		if vals == nil || s.Command[0] != "run" {
			continue
		}
		// A processor service: its admin endpoint, its health check on
		// /readyz at that port, its state volume.
		if vals["log-format"] != "json" {
			t.Errorf("%s: want --log-format json", where)
		}
		addr := vals["admin-addr"]
		if addr == "" {
			t.Errorf("%s: no --admin-addr", where)
			continue
		}
		port := portOf(t, addr)
		if s.Healthcheck == nil {
			t.Errorf("%s: no healthcheck", where)
		} else {
			u := healthURL(s.Healthcheck.Test)
			if u == nil || u.Port() != port || u.Path != readyPath {
				t.Errorf("%s: healthcheck %v: want GET %s on the admin port %s", where, s.Healthcheck.Test, readyPath, port)
			}
		}
		if data := vals["data"]; data == "" || !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.Contains(v, ":"+data) }) {
			t.Errorf("%s: --data %q is not on a volume", where, data)
		}
		if ca := vals["catalog-addr"]; slices.Contains(s.Command[1:2], "catalog") {
			p := catalogPort
			if ca != "" {
				p = portOf(t, ca)
			}
			if !strings.HasPrefix(ca, "0.0.0.0:") && !strings.HasPrefix(ca, ":") {
				t.Errorf("%s: --catalog-addr %q listens on loopback only", where, ca)
			}
			if !slices.ContainsFunc(s.Ports, func(m string) bool { return strings.HasSuffix(m, ":"+p) }) {
				t.Errorf("%s: the catalog port %s is not published (%v)", where, p, s.Ports)
			}
		}
	}
	for _, n := range platform.ProcessorNames() {
		switch len(seen[n]) {
		case 0:
			t.Errorf("processor %s has no compose service", n)
		case 1:
		default:
			t.Errorf("processor %s runs in several compose services: %v", n, seen[n])
		}
	}
	k := c.Services["kafka"]
	if !strings.HasPrefix(k.Image, "apache/kafka:") {
		t.Errorf("kafka: image %s, want apache/kafka", k.Image)
	}
	for key, want := range map[string]string{
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
	} {
		if got := strings.TrimSpace(toString(k.Environment[key])); got != want {
			t.Errorf("kafka: %s=%q, want %s (one node)", key, got, want)
		}
	}
	for _, key := range []string{"KAFKA_PROCESS_ROLES", "KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_LISTENERS"} {
		if toString(k.Environment[key]) == "" {
			t.Errorf("kafka: %s unset (KRaft)", key)
		}
	}
	if m := c.Services["minio"]; !strings.HasPrefix(m.Image, "minio/minio:") || !slices.Contains(m.Command, "/data") {
		t.Errorf("minio: %s %v, want minio/minio server /data", m.Image, m.Command)
	}
}

// healthURL finds the http URL in a health check's test.
func healthURL(test []string) *url.URL {
	for _, a := range test {
		for _, w := range strings.Fields(a) {
			if strings.HasPrefix(w, "http://") {
				if u, err := url.Parse(w); err == nil {
					return u
				}
			}
		}
	}
	return nil
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := yaml.Marshal(v)
		return strings.TrimSpace(string(b))
	}
}
