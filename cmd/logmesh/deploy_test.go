package main

import (
	"bufio"
	"flag"
	"fmt"
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
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/examples"
	"github.com/logmesh/logmesh/platform"
)

// checker is what the checks report to: a *testing.T, or a recorder in
// the test that shows the checks catch broken files.
type checker interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
}

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

func loadCompose(t checker) composeFileT {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	return parseCompose(t, b)
}

func parseCompose(t checker, b []byte) composeFileT {
	t.Helper()
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
func readEnv(t checker) map[string]bool {
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
func routed(t checker, h http.Handler, path string) bool {
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
func portOf(t checker, addr string) string {
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
func cliDefaults(t checker) (catalog, registry, admin string) {
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
func checkLogmeshArgs(t checker, where string, args []string, seen map[string][]string) map[string]string {
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

func TestDeployCompose(t *testing.T) { checkCompose(t, loadCompose(t)) }

// checkCompose checks a parsed compose file against the CLI.
func checkCompose(t checker, c composeFileT) {
	t.Helper()
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

// k8sDoc is one manifest document, with its raw YAML for typed decoding.
type k8sDoc struct {
	file string
	kind string
	name string
	raw  []byte
}

// loadK8s reads every document of every manifest under deploy/k8s.
func loadK8s(t checker) []k8sDoc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under %s: %v", k8sDir, err)
	}
	var out []k8sDoc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parseK8s(t, f, b)...)
	}
	return out
}

// parseK8s parses the documents of one manifest file.
func parseK8s(t checker, f string, b []byte) []k8sDoc {
	t.Helper()
	var out []k8sDoc
	{
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var m map[string]any
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m == nil {
				continue
			}
			raw, err := yaml.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var meta struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := yaml.Unmarshal(raw, &meta); err != nil {
				t.Fatal(err)
			}
			if meta.Kind == "" {
				t.Errorf("%s: a document with no kind", f)
			}
			out = append(out, k8sDoc{file: filepath.Base(f), kind: meta.Kind, name: meta.Metadata.Name, raw: raw})
		}
	}
	return out
}

func (d k8sDoc) decode(t checker, v any) {
	t.Helper()
	if err := yaml.Unmarshal(d.raw, v); err != nil {
		t.Fatalf("%s %s/%s: %v", d.file, d.kind, d.name, err)
	}
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sDeployment struct {
	Metadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name     string         `yaml:"name"`
					EmptyDir map[string]any `yaml:"emptyDir"`
					Secret   *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
					PVC map[string]any `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sTopic struct {
	Spec struct {
		TopicName  string         `yaml:"topicName"`
		Partitions int32          `yaml:"partitions"`
		Config     map[string]any `yaml:"config"`
	} `yaml:"spec"`
}

type k8sACL struct {
	Resource struct {
		Type        string `yaml:"type"`
		Name        string `yaml:"name"`
		PatternType string `yaml:"patternType"`
	} `yaml:"resource"`
	Operations []string `yaml:"operations"`
}

type k8sUser struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Authorization struct {
			Type string   `yaml:"type"`
			ACLs []k8sACL `yaml:"acls"`
		} `yaml:"authorization"`
	} `yaml:"spec"`
}

// probePort resolves a probe's port (a number or a container port's name).
func probePort(c k8sContainer, port any) int {
	switch p := port.(type) {
	case string:
		for _, cp := range c.Ports {
			if cp.Name == p {
				return cp.ContainerPort
			}
		}
	case uint64:
		return int(p)
	case int64:
		return int(p)
	case int:
		return p
	}
	return 0
}

func exampleDomains(t checker) []string {
	t.Helper()
	m, err := examples.Mesh()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range m.Domains {
		out = append(out, d.Name)
	}
	return out
}

func TestDeployK8s(t *testing.T) { checkK8s(t, loadK8s(t)) }

// checkK8s checks the parsed manifests against the CLI and the code.
func checkK8s(t checker, docs []k8sDoc) {
	t.Helper()
	env := readEnv(t)
	topicNames := events.Topics{}
	catalogPort, _, _ := cliDefaults(t)

	configMaps := map[string]map[string]string{}
	secrets := map[string]map[string]string{}
	var deployments []k8sDeployment
	topics := map[string]k8sTopic{}
	users := map[string]k8sUser{}
	services := map[string]struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Port       int `yaml:"port"`
				TargetPort any `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}{}
	for _, d := range docs {
		switch d.kind {
		case "ConfigMap":
			var cm struct {
				Data map[string]string `yaml:"data"`
			}
			d.decode(t, &cm)
			configMaps[d.name] = cm.Data
		case "Secret":
			var s struct {
				StringData map[string]string `yaml:"stringData"`
			}
			d.decode(t, &s)
			secrets[d.name] = s.StringData
		case "Deployment":
			var dep k8sDeployment
			d.decode(t, &dep)
			deployments = append(deployments, dep)
		case "KafkaTopic":
			var kt k8sTopic
			d.decode(t, &kt)
			if _, dup := topics[kt.Spec.TopicName]; dup {
				t.Errorf("topic %s defined twice", kt.Spec.TopicName)
			}
			topics[kt.Spec.TopicName] = kt
		case "KafkaUser":
			var u k8sUser
			d.decode(t, &u)
			users[u.Metadata.Name] = u
		case "Service":
			s := services[d.name]
			d.decode(t, &s)
			services[d.name] = s
		}
	}

	// The shared environment: every variable is read by the code.
	shared, ok := configMaps["logmesh-env"]
	if !ok {
		t.Fatalf("no ConfigMap logmesh-env")
	}
	for k := range shared {
		if !env[k] {
			t.Errorf("ConfigMap logmesh-env: %s is read by no code", k)
		}
	}
	for k := range secrets["logmesh-secrets"] {
		if !env[k] {
			t.Errorf("Secret logmesh-secrets: %s is read by no code", k)
		}
	}

	seen := map[string][]string{}
	var registryTopic string
	for _, dep := range deployments {
		where := "Deployment " + dep.Metadata.Name
		spec := dep.Spec.Template.Spec
		for k, v := range dep.Spec.Selector.MatchLabels {
			if dep.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("%s: the selector %s=%s does not select its own pods", where, k, v)
			}
		}
		if len(spec.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", where, len(spec.Containers))
			continue
		}
		c := spec.Containers[0]
		if !isLogmesh(c.Image) {
			if !pinnedImage(c.Image) {
				t.Errorf("%s: image %s is not pinned to a tag", where, c.Image)
			}
			for _, e := range c.Env {
				if e.Name == "SCHEMA_REGISTRY_KAFKASTORE_TOPIC" {
					registryTopic = e.Value
				}
			}
			continue
		}
		for _, e := range c.Env {
			if !env[e.Name] {
				t.Errorf("%s: environment variable %s is read by no code", where, e.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && configMaps[ef.ConfigMapRef.Name] == nil {
				t.Errorf("%s: envFrom ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil && secrets[ef.SecretRef.Name] == nil {
				t.Errorf("%s: envFrom Secret %s does not exist", where, ef.SecretRef.Name)
			}
		}
		for _, v := range spec.Volumes {
			if v.Secret != nil && secrets[v.Secret.SecretName] == nil {
				t.Errorf("%s: volume %s: Secret %s does not exist", where, v.Name, v.Secret.SecretName)
			}
		}
		vals := checkLogmeshArgs(t, where, c.Args, seen)
		if vals == nil || len(c.Args) < 2 || c.Args[0] != "run" {
			continue
		}
		if len(c.Args) > 2 && !strings.HasPrefix(c.Args[2], "-") {
			t.Errorf("%s: runs several processors; want one Deployment per processor", where)
		}
		name := c.Args[1]

		// The admin endpoint: container port, probes, scrape annotations.
		if vals["log-format"] != "json" {
			t.Errorf("%s: want --log-format json", where)
		}
		addr := vals["admin-addr"]
		if addr == "" {
			t.Errorf("%s: no --admin-addr", where)
			continue
		}
		admin, _ := strconv.Atoi(portOf(t, addr))
		if !slices.ContainsFunc(c.Ports, func(p struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		}) bool {
			return p.ContainerPort == admin
		}) {
			t.Errorf("%s: no containerPort %d for the admin endpoint", where, admin)
		}
		for _, pr := range []struct {
			what  string
			probe *k8sProbe
			path  string
		}{{"livenessProbe", c.LivenessProbe, livePath}, {"readinessProbe", c.ReadinessProbe, readyPath}} {
			switch {
			case pr.probe == nil || pr.probe.HTTPGet == nil:
				t.Errorf("%s: no %s httpGet", where, pr.what)
			case pr.probe.HTTPGet.Path != pr.path:
				t.Errorf("%s: %s on %s, want %s", where, pr.what, pr.probe.HTTPGet.Path, pr.path)
			case probePort(c, pr.probe.HTTPGet.Port) != admin:
				t.Errorf("%s: %s on port %v, want the admin port %d", where, pr.what, pr.probe.HTTPGet.Port, admin)
			}
		}
		if sp := c.StartupProbe; sp != nil && sp.HTTPGet != nil {
			if probePort(c, sp.HTTPGet.Port) != admin || !slices.Contains(adminEndpoints, sp.HTTPGet.Path) {
				t.Errorf("%s: startupProbe %s on %v, want an admin endpoint on %d", where, sp.HTTPGet.Path, sp.HTTPGet.Port, admin)
			}
		}
		ann := dep.Spec.Template.Metadata.Annotations
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(admin) || ann["prometheus.io/path"] != metricsPath {
			t.Errorf("%s: scrape annotations %v, want port %d path %s", where, ann, admin, metricsPath)
		}
		for _, p := range []string{ann["prometheus.io/path"], c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path} {
			if !slices.Contains(adminEndpoints, p) {
				t.Errorf("%s: %s is not an endpoint the deploy test checks on platform.AdminHandler", where, p)
			}
		}

		// The state store: --data on an emptyDir or a PVC, with the reason.
		data := vals["data"]
		var volName string
		for _, m := range c.VolumeMounts {
			if m.MountPath == data {
				volName = m.Name
			}
		}
		if data == "" || volName == "" {
			t.Errorf("%s: --data %q is not on a volume", where, data)
		} else {
			for _, v := range spec.Volumes {
				if v.Name == volName && v.EmptyDir == nil && v.PVC == nil {
					t.Errorf("%s: the state volume %s is neither an emptyDir nor a PVC", where, volName)
				}
			}
		}
		if !strings.Contains(dep.Metadata.Annotations["logmesh.io/state-store"], "rebuild") {
			t.Errorf("%s: logmesh.io/state-store does not say that the store rebuilds from the log", where)
		}
		for _, flagName := range []string{"tokens", "tls-ca"} {
			path := vals[flagName]
			if flagName == "tls-ca" {
				path = cmpOrStr(path, shared["LOGMESH_TLS_CA"])
			}
			if path != "" && !slices.ContainsFunc(c.VolumeMounts, func(m struct {
				Name      string `yaml:"name"`
				MountPath string `yaml:"mountPath"`
			}) bool {
				return strings.HasPrefix(path, m.MountPath+"/")
			}) {
				t.Errorf("%s: --%s %s is on no mounted volume", where, flagName, path)
			}
		}

		// Replicas, bounded by the partitions of the input topics.
		replicas := 1
		if dep.Spec.Replicas != nil {
			replicas = *dep.Spec.Replicas
		}
		inputs := parseTopicSet(dep.Metadata.Annotations["logmesh.io/input-topics"])
		if spec, _ := lookupProcessor(name); spec.Projection != nil {
			if got, want := inputs.String(), spec.Projection.Topics(topicNames).String(); got != want {
				t.Errorf("%s: logmesh.io/input-topics %s, but the %s projection reads %s", where, got, spec.Projection.Name(), want)
			}
		}
		switch scaling := dep.Metadata.Annotations["logmesh.io/scaling"]; scaling {
		case "single":
			if replicas != 1 {
				t.Errorf("%s: replicas %d, want 1 (scaling single)", where, replicas)
			}
		case "view":
		case "partitions":
			match, err := inputs.Compile()
			if err != nil {
				t.Fatal(err)
			}
			bound := int32(-1)
			for n, kt := range topics {
				if match(n) && (bound < 0 || kt.Spec.Partitions < bound) {
					bound = kt.Spec.Partitions
				}
			}
			if bound < 0 {
				t.Errorf("%s: input topics %s match no topic of the manifests", where, inputs)
			} else if int32(replicas) > bound {
				t.Errorf("%s: replicas %d > %d, the partitions of its input topics %s", where, replicas, bound, inputs)
			}
		default:
			t.Errorf("%s: logmesh.io/scaling %q, want partitions, single or view", where, scaling)
		}

		if name == "catalog" {
			p := catalogPort
			if ca := vals["catalog-addr"]; ca != "" {
				p = portOf(t, ca)
			}
			svc, ok := services["catalog"]
			if !ok {
				t.Errorf("no Service catalog")
			}
			for k, v := range svc.Spec.Selector {
				if dep.Spec.Template.Metadata.Labels[k] != v {
					t.Errorf("Service catalog does not select %s (%s=%s)", where, k, v)
				}
			}
			if len(svc.Spec.Ports) == 0 || strconv.Itoa(probePort(c, svc.Spec.Ports[0].TargetPort)) != p {
				t.Errorf("Service catalog: targetPort %v, want the catalog's port %s", svc.Spec.Ports, p)
			}
		}
	}
	for _, n := range platform.ProcessorNames() {
		if len(seen[n]) != 1 {
			t.Errorf("processor %s: %d Deployments (%v), want 1", n, len(seen[n]), seen[n])
		}
	}

	// The registry: a Service where LOGMESH_REGISTRY points.
	ru, err := url.Parse(shared["LOGMESH_REGISTRY"])
	if err != nil || ru.Host == "" {
		t.Fatalf("LOGMESH_REGISTRY %q: %v", shared["LOGMESH_REGISTRY"], err)
	}
	host, _, _ := strings.Cut(ru.Hostname(), ".")
	if svc, ok := services[host]; !ok || len(svc.Spec.Ports) == 0 || strconv.Itoa(svc.Spec.Ports[0].Port) != ru.Port() {
		t.Errorf("LOGMESH_REGISTRY %s: no Service %s on port %s", ru, host, ru.Port())
	}

	// Topics: exactly the code's, for the example mesh's domains.
	want := topicNames.Specs(events.DefaultPartitions, exampleDomains(t)...)
	for _, ws := range want {
		kt, ok := topics[ws.Name]
		if !ok {
			t.Errorf("topic %s (events.Topics.Specs) has no KafkaTopic", ws.Name)
			continue
		}
		if kt.Spec.Partitions != ws.Partitions {
			t.Errorf("topic %s: %d partitions, the code creates %d", ws.Name, kt.Spec.Partitions, ws.Partitions)
		}
		for k, v := range ws.Configs {
			if got := toString(kt.Spec.Config[k]); got != *v {
				t.Errorf("topic %s: %s=%q, the code sets %q", ws.Name, k, got, *v)
			}
		}
		for k := range kt.Spec.Config {
			if _, ok := ws.Configs[k]; !ok && k != "min.insync.replicas" {
				t.Errorf("topic %s: config %s is not one the code sets", ws.Name, k)
			}
		}
	}
	for n, kt := range topics {
		if slices.ContainsFunc(want, func(s events.TopicSpec) bool { return s.Name == n }) {
			continue
		}
		if n != registryTopic || kt.Spec.Partitions != 1 || toString(kt.Spec.Config["cleanup.policy"]) != "compact" {
			t.Errorf("topic %s is neither one the code creates nor the registry's compacted one-partition topic (%q)", n, registryTopic)
		}
	}

	// ACLs: the platform's principal covers every topic, group and
	// transactional id the processors use; each domain's principal reads
	// its inbox, writes its events topic, and touches no other topic.
	platformUser, ok := users[shared["LOGMESH_SASL_USER"]]
	if !ok {
		t.Errorf("no KafkaUser %q (LOGMESH_SASL_USER)", shared["LOGMESH_SASL_USER"])
	}
	cfg := platform.Config{}
	for _, n := range platform.ProcessorNames() {
		for _, need := range []struct{ typ, name, op string }{
			{"group", cfg.Group(n), "Read"},
			{"transactionalId", cfg.Group(n) + "-instance", "Write"},
			{"topic", topicNames.Central(), "Write"},
			{"topic", topicNames.Inbox("any"), "Read"},
		} {
			if !allows(platformUser.Spec.Authorization.ACLs, need.typ, need.name, need.op) {
				t.Errorf("KafkaUser %s: no %s on %s %s (processor %s)", platformUser.Metadata.Name, need.op, need.typ, need.name, n)
			}
		}
	}
	for _, d := range exampleDomains(t) {
		if d == events.DomainRaw || d == events.DomainCentral {
			continue
		}
		u, ok := users[d]
		if !ok {
			t.Errorf("domain %s has no KafkaUser", d)
			continue
		}
		acls := u.Spec.Authorization.ACLs
		if !allows(acls, "topic", topicNames.Inbox(d), "Read") || !allows(acls, "topic", topicNames.Domain(d), "Write") {
			t.Errorf("KafkaUser %s: want Read on %s and Write on %s", d, topicNames.Inbox(d), topicNames.Domain(d))
		}
		for _, other := range exampleDomains(t) {
			if other == d {
				continue
			}
			for _, tp := range []string{topicNames.Domain(other), topicNames.Inbox(other)} {
				if allows(acls, "topic", tp, "Read") || allows(acls, "topic", tp, "Write") {
					t.Errorf("KafkaUser %s may read or write %s, another domain's topic", d, tp)
				}
			}
		}
	}
}

// allows reports whether the ACLs allow op on the resource.
func allows(acls []k8sACL, typ, name, op string) bool {
	for _, a := range acls {
		if a.Resource.Type != typ {
			continue
		}
		hit := a.Resource.Name == "*" || a.Resource.Name == name ||
			a.Resource.PatternType == "prefix" && strings.HasPrefix(name, a.Resource.Name)
		if hit && (slices.Contains(a.Operations, op) || slices.Contains(a.Operations, "All")) {
			return true
		}
	}
	return false
}

// parseTopicSet reads a TopicSet in the form TopicSet.String writes:
// comma-separated names and at most one /pattern/.
func parseTopicSet(s string) events.TopicSet {
	var ts events.TopicSet
	for len(s) > 0 {
		if strings.HasPrefix(s, "/") {
			end := strings.LastIndex(s, "/")
			ts.Pattern = s[1:end]
			s = strings.TrimPrefix(s[end+1:], ",")
			continue
		}
		name, rest, _ := strings.Cut(s, ",")
		ts.Names = append(ts.Names, name)
		s = rest
	}
	return ts
}

func lookupProcessor(name string) (platform.Spec, bool) {
	for _, s := range platform.Processors() {
		if s.Name == name {
			return s, true
		}
	}
	return platform.Spec{}, false
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// recorder is a checker that keeps what it is told; Fatal and Fatalf stop
// the check (run recovers).
type recorder struct{ errs []string }

// fatalStop is the panic value of a recorder's Fatal.
type fatalStop struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatalStop{})
}
func (r *recorder) Fatal(args ...any) {
	r.errs = append(r.errs, fmt.Sprint(args...))
	panic(fatalStop{})
}

// run runs check against r, stopping at a Fatal.
func (r *recorder) run(check func(checker)) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(fatalStop); !ok {
				panic(v)
			}
		}
	}()
	check(r)
}

func (r *recorder) has(sub string) bool {
	return slices.ContainsFunc(r.errs, func(e string) bool { return strings.Contains(e, sub) })
}

// TestDeployChecksCatch shows that the deploy checks fail on broken
// files: each case breaks the real compose file or a real manifest in one
// place and wants the error that names it, which the unbroken file does
// not give.
func TestDeployChecksCatch(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	compose := read(composeFile)
	k8sFiles := map[string]string{}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		k8sFiles[filepath.Base(f)] = read(f)
	}
	checkComposeText := func(text string) *recorder {
		r := &recorder{}
		r.run(func(c checker) { checkCompose(c, parseCompose(c, []byte(text))) })
		return r
	}
	checkK8sText := func(file, text string) *recorder {
		r := &recorder{}
		r.run(func(c checker) {
			var docs []k8sDoc
			for name, body := range k8sFiles {
				if name == file {
					body = text
				}
				docs = append(docs, parseK8s(c, name, []byte(body))...)
			}
			checkK8s(c, docs)
		})
		return r
	}
	tests := []struct {
		name      string
		file      string // "compose" or a manifest under deploy/k8s
		old, new  string // the first old is replaced by new
		wantError string
	}{
		{"a processor without a compose service", "compose", `"run", "notifier"`, `"run", "audit"`, "processor notifier has no compose service"},
		{"an unknown processor", "compose", `"run", "notifier"`, `"run", "notifyer"`, "run notifyer: no such processor"},
		{"a flag the CLI lacks", "compose", `"--data", "/var/lib/logmesh"`, `"--data", "/var/lib/logmesh", "--frobnicate"`, "flag provided but not defined: -frobnicate"},
		{"an environment variable no code reads", "compose", "LOGMESH_CLIENT_ID: logmesh-olpush", "LOGMESH_CLIENTID: logmesh-olpush", "LOGMESH_CLIENTID is read by no code"},
		{"an unpinned image", "compose", "apache/kafka:4.1.1", "apache/kafka:latest", "image apache/kafka:latest is not pinned"},
		{"a health check on another port", "compose", "http://127.0.0.1:8082/readyz", "http://127.0.0.1:8083/readyz", "healthcheck"},
		{"one transaction-state replica too many", "compose", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 1", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 2", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"},
		{"a processor without a Deployment", "processors.yaml", "- run\n        - notifier", "- run\n        - audit", "processor notifier: 0 Deployments"},
		{"replicas beyond the partitions", "processors.yaml", "replicas: 2", "replicas: 7", "replicas 7 > 6"},
		{"a readiness probe on a wrong path", "processors.yaml", "path: /readyz", "path: /ready", "readinessProbe on /ready, want /readyz"},
		{"a probe on another port", "processors.yaml", "port: admin", "port: 9999", "on port 9999"},
		{"input topics that are not the projection's", "processors.yaml", "logmesh.io/input-topics: logmesh.raw.events,logmesh.raw.batches", "logmesh.io/input-topics: logmesh.raw.events", "projection reads"},
		{"a topic with other partitions than the code's", "topics.yaml", "partitions: 6", "partitions: 3", "partitions, the code creates 6"},
		{"a compacted fact topic", "topics.yaml", "cleanup.policy: delete", "cleanup.policy: compact", "cleanup.policy=\"compact\", the code sets \"delete\""},
		{"a domain reading another's inbox", "users.yaml", "name: logmesh.wealth.inbox", "name: logmesh.research.inbox", "KafkaUser wealth may read or write logmesh.research.inbox"},
		{"a ConfigMap variable no code reads", "config.yaml", "LOGMESH_TOPIC_PREFIX: logmesh", "LOGMESH_PREFIX: logmesh", "LOGMESH_PREFIX is read by no code"},
	}
	baseCompose := checkComposeText(compose)
	baseK8s := checkK8sText("", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, text := baseCompose, compose
			if tt.file != "compose" {
				base, text = baseK8s, k8sFiles[tt.file]
			}
			if !strings.Contains(text, tt.old) {
				t.Fatalf("%s has no %q to break", tt.file, tt.old)
			}
			if base.has(tt.wantError) {
				t.Fatalf("the unbroken files already give %q", tt.wantError)
			}
			broken := strings.Replace(text, tt.old, tt.new, 1)
			var got *recorder
			if tt.file == "compose" {
				got = checkComposeText(broken)
			} else {
				got = checkK8sText(tt.file, broken)
			}
			if !got.has(tt.wantError) {
				t.Errorf("broken %s: no error with %q; got %q", tt.file, tt.wantError, got.errs)
			}
		})
	}
}
