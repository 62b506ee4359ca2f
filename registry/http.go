package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// contentType is what Confluent's registry answers with.
const contentType = "application/vnd.schemaregistry.v1+json"

// maxBody caps request bodies; a schema larger than this is refused.
const maxBody = 8 << 20

// Confluent error codes used here. The HTTP status is code/100 for five-digit
// codes and the code itself otherwise.
const (
	codeBadRequest            = 400
	codeNotFound              = 404
	codeIncompatible          = 409
	codeSubjectNotFound       = 40401
	codeVersionNotFound       = 40402
	codeSchemaNotFound        = 40403
	codeSubjectSoftDeleted    = 40404
	codeSubjectNotSoftDeleted = 40405
	codeVersionSoftDeleted    = 40406
	codeVersionNotSoftDeleted = 40407
	codeSubjectNoConfig       = 40408
	codeInvalidSchema         = 42201
	codeInvalidVersion        = 42202
	codeInvalidLevel          = 42203
	codeInvalidMode           = 42204
	codeNotPermitted          = 42205
	codeIDMismatch            = 42207
	codeSchemaTooLarge        = 42209
	codeStore                 = 50001
)

// apiError is a Confluent error body.
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

func (e *apiError) status() int {
	if e.Code >= 10000 {
		return e.Code / 100
	}
	return e.Code
}

func apiErr(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// rawText is written as is (the /schema endpoints).
type rawText string

type handlerFunc func(w http.ResponseWriter, req *http.Request) (any, error)

// Handler returns the HTTP handler of the Confluent-compatible REST API. It
// is safe for concurrent use; it may be used after Close for reads, writes
// then fail with error code 50001.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) { mux.Handle(pattern, r.wrap(fn)) }

	h("GET /{$}", func(http.ResponseWriter, *http.Request) (any, error) { return struct{}{}, nil })
	h("GET /schemas/types", func(http.ResponseWriter, *http.Request) (any, error) { return []string{"AVRO"}, nil })
	h("GET /schemas", r.getSchemas)
	h("GET /schemas/ids/{id}", r.getSchemaByID)
	h("GET /schemas/ids/{id}/schema", r.getSchemaTextByID)
	h("GET /schemas/ids/{id}/versions", r.getVersionsByID)
	h("GET /schemas/ids/{id}/subjects", r.getSubjectsByID)
	h("GET /subjects", r.getSubjects)
	h("POST /subjects/{subject}", r.lookup)
	h("DELETE /subjects/{subject}", r.deleteSubject)
	h("GET /subjects/{subject}/versions", r.getVersions)
	h("POST /subjects/{subject}/versions", r.registerHandler)
	h("GET /subjects/{subject}/versions/{version}", r.getVersion)
	h("DELETE /subjects/{subject}/versions/{version}", r.deleteVersion)
	h("GET /subjects/{subject}/versions/{version}/schema", r.getVersionText)
	h("GET /subjects/{subject}/versions/{version}/referencedby", r.getReferencedBy)
	h("GET /config", r.getConfig)
	h("PUT /config", r.putConfig)
	h("DELETE /config", r.deleteConfig)
	h("GET /config/{subject}", r.getConfig)
	h("PUT /config/{subject}", r.putConfig)
	h("DELETE /config/{subject}", r.deleteConfig)
	h("POST /compatibility/subjects/{subject}/versions/{version}", r.checkCompat)
	h("POST /compatibility/subjects/{subject}/versions", r.checkCompat)
	h("GET /mode", r.getMode)
	h("GET /mode/{subject}", r.getMode)
	h("PUT /mode", r.putMode)
	h("PUT /mode/{subject}", r.putMode)
	h("/", func(_ http.ResponseWriter, req *http.Request) (any, error) {
		return nil, apiErr(codeNotFound, "HTTP 404 Not Found: %s %s", req.Method, req.URL.Path)
	})
	return mux
}

func (r *Registry) wrap(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var (
			out any
			err error
		)
		func() {
			defer func() {
				if rec := recover(); rec != nil {
					err = fmt.Errorf("panic: %v", rec)
				}
			}()
			out, err = fn(w, req)
		}()
		w.Header().Set("Content-Type", contentType)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = apiErr(codeStore, "%v", err)
			}
			if ae.Code >= 50000 {
				r.log.Error("schema registry request failed", "method", req.Method, "path", req.URL.Path, "err", err)
			}
			w.WriteHeader(ae.status())
			_ = json.NewEncoder(w).Encode(ae)
			return
		}
		if t, ok := out.(rawText); ok {
			_, _ = io.WriteString(w, string(t))
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

// schemaRequest is the body of register, lookup and compatibility requests.
type schemaRequest struct {
	Schema     string            `json:"schema"`
	SchemaType string            `json:"schemaType"`
	References []json.RawMessage `json:"references"`
	ID         int               `json:"id"`
	Version    int               `json:"version"`
}

func decodeBody(w http.ResponseWriter, req *http.Request, into any) error {
	body := http.MaxBytesReader(w, req.Body, maxBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(into); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(codeSchemaTooLarge, "request body larger than %d bytes", maxBody)
		}
		if errors.Is(err, io.EOF) {
			return apiErr(codeBadRequest, "empty request body")
		}
		return apiErr(codeBadRequest, "malformed JSON request body: %v", err)
	}
	if dec.More() {
		return apiErr(codeBadRequest, "malformed JSON request body: trailing data after the JSON object")
	}
	return nil
}

// readSchema decodes and parses a schema request body.
func readSchema(w http.ResponseWriter, req *http.Request) (schemaRequest, parsedSchema, error) {
	var sr schemaRequest
	if err := decodeBody(w, req, &sr); err != nil {
		return sr, parsedSchema{}, err
	}
	if t := strings.ToUpper(sr.SchemaType); t != "" && t != "AVRO" {
		return sr, parsedSchema{}, apiErr(codeInvalidSchema, "schemaType %q is not supported: this registry accepts AVRO only", sr.SchemaType)
	}
	if len(sr.References) > 0 {
		return sr, parsedSchema{}, apiErr(codeInvalidSchema, "schema references are not supported by this registry: inline the referenced types")
	}
	ps, err := parseSchema(sr.Schema)
	if err != nil {
		return sr, parsedSchema{}, apiErr(codeInvalidSchema, "Invalid schema: %v", err)
	}
	return sr, ps, nil
}

func boolParam(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

func parseID(req *http.Request) (int, error) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil || id <= 0 {
		return 0, apiErr(codeSchemaNotFound, "Schema %s not found", req.PathValue("id"))
	}
	return id, nil
}

// versionRef is a parsed {version} path value: latest, or a number >= 1.
type versionRef struct {
	latest bool
	n      int
}

func parseVersion(s string) (versionRef, error) {
	if s == "latest" || s == "-1" {
		return versionRef{latest: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return versionRef{}, apiErr(codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return versionRef{n: n}, nil
}

// resolve finds a version of subject. latest is the latest live version;
// a number finds a soft-deleted version only if withDeleted. The caller
// holds stMu or writeMu.
func (s *state) resolve(subject string, ref versionRef, withDeleted bool) (*version, error) {
	if len(s.subjects[subject]) == 0 {
		return nil, apiErr(codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	if ref.latest {
		vs := s.versions(subject, withDeleted)
		if len(vs) == 0 {
			return nil, apiErr(codeSubjectNotFound, "Subject '%s' not found.", subject)
		}
		return vs[len(vs)-1], nil
	}
	v, ok := s.subjects[subject][ref.n]
	if !ok || (v.deleted && !withDeleted) {
		return nil, apiErr(codeVersionNotFound, "Version %d not found.", ref.n)
	}
	return v, nil
}

// subjectSchema is the JSON form of one subject version.
type subjectSchema struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
	Deleted bool   `json:"deleted,omitempty"`
}

func toJSON(v *version) subjectSchema {
	return subjectSchema{Subject: v.subject, Version: v.version, ID: v.id, Schema: v.schema, Deleted: v.deleted}
}

func (r *Registry) rlock() func() {
	r.stMu.RLock()
	return r.stMu.RUnlock
}

func (r *Registry) getSchemas(_ http.ResponseWriter, req *http.Request) (any, error) {
	defer r.rlock()()
	prefix := req.URL.Query().Get("subjectPrefix")
	deleted, latestOnly := boolParam(req, "deleted"), boolParam(req, "latestOnly")
	out := []subjectSchema{}
	for _, subj := range r.st.subjectNames(deleted, false) {
		if !strings.HasPrefix(subj, prefix) {
			continue
		}
		vs := r.st.versions(subj, deleted)
		if latestOnly && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		for _, v := range vs {
			out = append(out, toJSON(v))
		}
	}
	return out, nil
}

func (r *Registry) getSchemaByID(_ http.ResponseWriter, req *http.Request) (any, error) {
	id, err := parseID(req)
	if err != nil {
		return nil, err
	}
	defer r.rlock()()
	e, ok := r.st.ids[id]
	if !ok {
		return nil, apiErr(codeSchemaNotFound, "Schema %d not found", id)
	}
	out := struct {
		Schema string `json:"schema"`
		MaxID  int    `json:"maxId,omitempty"`
	}{Schema: e.text}
	if boolParam(req, "fetchMaxId") {
		out.MaxID = r.st.maxID
	}
	return out, nil
}

func (r *Registry) getSchemaTextByID(_ http.ResponseWriter, req *http.Request) (any, error) {
	id, err := parseID(req)
	if err != nil {
		return nil, err
	}
	defer r.rlock()()
	e, ok := r.st.ids[id]
	if !ok {
		return nil, apiErr(codeSchemaNotFound, "Schema %d not found", id)
	}
	return rawText(e.text), nil
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// usages lists the versions that use id, ordered by subject and version.
// The caller holds stMu.
func (r *Registry) usages(req *http.Request) ([]subjectVersion, error) {
	id, err := parseID(req)
	if err != nil {
		return nil, err
	}
	if _, ok := r.st.ids[id]; !ok {
		return nil, apiErr(codeSchemaNotFound, "Schema %d not found", id)
	}
	deleted := boolParam(req, "deleted")
	only := req.URL.Query().Get("subject")
	out := []subjectVersion{}
	for subj, vs := range r.st.subjects {
		if only != "" && subj != only {
			continue
		}
		for _, v := range vs {
			if v.id == id && (deleted || !v.deleted) {
				out = append(out, subjectVersion{subj, v.version})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Subject < out[j].Subject || out[i].Subject == out[j].Subject && out[i].Version < out[j].Version
	})
	return out, nil
}

func (r *Registry) getVersionsByID(_ http.ResponseWriter, req *http.Request) (any, error) {
	defer r.rlock()()
	return r.usages(req)
}

func (r *Registry) getSubjectsByID(_ http.ResponseWriter, req *http.Request) (any, error) {
	defer r.rlock()()
	us, err := r.usages(req)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, u := range us {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	return out, nil
}

func (r *Registry) getSubjects(_ http.ResponseWriter, req *http.Request) (any, error) {
	defer r.rlock()()
	prefix := req.URL.Query().Get("subjectPrefix")
	out := []string{}
	for _, s := range r.st.subjectNames(boolParam(req, "deleted"), boolParam(req, "deletedOnly")) {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (r *Registry) getVersions(_ http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	deleted, deletedOnly := boolParam(req, "deleted"), boolParam(req, "deletedOnly")
	defer r.rlock()()
	vs := r.st.versions(subject, deleted || deletedOnly)
	if len(vs) == 0 {
		return nil, apiErr(codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	out := []int{}
	for _, v := range vs {
		if !deletedOnly || v.deleted {
			out = append(out, v.version)
		}
	}
	return out, nil
}

func (r *Registry) getVersion(_ http.ResponseWriter, req *http.Request) (any, error) {
	ref, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return nil, err
	}
	defer r.rlock()()
	v, err := r.st.resolve(req.PathValue("subject"), ref, boolParam(req, "deleted"))
	if err != nil {
		return nil, err
	}
	return toJSON(v), nil
}

func (r *Registry) getVersionText(_ http.ResponseWriter, req *http.Request) (any, error) {
	ref, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return nil, err
	}
	defer r.rlock()()
	v, err := r.st.resolve(req.PathValue("subject"), ref, boolParam(req, "deleted"))
	if err != nil {
		return nil, err
	}
	return rawText(v.schema), nil
}

func (r *Registry) getReferencedBy(_ http.ResponseWriter, req *http.Request) (any, error) {
	ref, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return nil, err
	}
	defer r.rlock()()
	if _, err := r.st.resolve(req.PathValue("subject"), ref, boolParam(req, "deleted")); err != nil {
		return nil, err
	}
	return []int{}, nil // references are not supported, so nothing refers to anything
}

func (r *Registry) lookup(w http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	_, ps, err := readSchema(w, req)
	if err != nil {
		return nil, err
	}
	deleted := boolParam(req, "deleted")
	defer r.rlock()()
	vs := r.st.versions(subject, deleted)
	if len(vs) == 0 {
		return nil, apiErr(codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if e := r.st.ids[vs[i].id]; e != nil && e.canonical == ps.canonical {
			return toJSON(vs[i]), nil
		}
	}
	return nil, apiErr(codeSchemaNotFound, "Schema not found in subject '%s'", subject)
}

func (r *Registry) registerHandler(w http.ResponseWriter, req *http.Request) (any, error) {
	sr, ps, err := readSchema(w, req)
	if err != nil {
		return nil, err
	}
	id, err := r.register(req, req.PathValue("subject"), sr, ps)
	if err != nil {
		return nil, err
	}
	return struct {
		ID int `json:"id"`
	}{id}, nil
}

// register adds ps to subject unless it is already a live version there,
// enforcing the subject's compatibility level.
func (r *Registry) register(req *http.Request, subject string, sr schemaRequest, ps parsedSchema) (int, error) {
	if err := r.lockWrite(req.Context()); err != nil {
		return 0, err
	}
	defer r.writeMu.Unlock()
	st := r.st // writeMu held: no concurrent mutation

	existingID, known := st.byCanonical[ps.canonical]
	live := st.versions(subject, false)
	if known {
		for _, v := range live {
			if v.id == existingID {
				if sr.ID > 0 && sr.ID != existingID {
					return 0, apiErr(codeIDMismatch, "Schema already registered with id %d instead of input id %d", existingID, sr.ID)
				}
				return existingID, nil
			}
		}
	}
	if sr.ID > 0 || sr.Version > 0 {
		return 0, apiErr(codeNotPermitted, "Registering with an explicit id or version needs IMPORT mode, which this registry does not support")
	}
	level := st.level(subject, r.cfg.defaultLevel)
	priors := make([]prior, 0, len(live))
	for _, v := range live {
		priors = append(priors, prior{version: v.version, schema: st.ids[v.id].parsed.schema})
	}
	if msgs := checkParsed(level, ps.schema, priors); len(msgs) > 0 {
		return 0, apiErr(codeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, strings.Join(msgs, "; "))
	}
	id, text := existingID, sr.Schema
	if known {
		// Every record of one id carries the same text, so what the id
		// returns does not depend on which records compaction kept.
		text = st.ids[existingID].text
	} else {
		id = st.maxID + 1
	}
	ver := st.nextVersion(subject)
	val := mustJSON(schemaValue{Subject: subject, Version: ver, ID: id, Schema: text})
	if err := r.write(req.Context(), &kgo.Record{Key: schemaKey(subject, ver), Value: val}); err != nil {
		return 0, err
	}
	r.log.Info("schema registered", "subject", subject, "version", ver, "id", id)
	return id, nil
}

func (r *Registry) maxIDRecord() *kgo.Record {
	return &kgo.Record{Key: []byte(`{"keytype":"MAX_ID","magic":0}`), Value: mustJSON(maxIDValue{MaxID: r.st.maxID})}
}

func (r *Registry) deleteVersion(_ http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	ref, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return nil, err
	}
	permanent := boolParam(req, "permanent")
	if err := r.lockWrite(req.Context()); err != nil {
		return nil, err
	}
	defer r.writeMu.Unlock()
	st := r.st
	if permanent && ref.latest {
		vs := st.versions(subject, true)
		if len(vs) > 0 {
			ref = versionRef{n: vs[len(vs)-1].version}
		}
	}
	v, err := st.resolve(subject, ref, permanent)
	if err != nil {
		return nil, err
	}
	if permanent {
		if !v.deleted {
			return nil, apiErr(codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.version)
		}
		if err := r.write(req.Context(), r.maxIDRecord(), &kgo.Record{Key: schemaKey(subject, v.version)}); err != nil {
			return nil, err
		}
		return v.version, nil
	}
	if v.deleted {
		return nil, apiErr(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.version)
	}
	val := mustJSON(schemaValue{Subject: subject, Version: v.version, ID: v.id, Schema: v.schema, Deleted: true})
	if err := r.write(req.Context(), &kgo.Record{Key: schemaKey(subject, v.version), Value: val}); err != nil {
		return nil, err
	}
	return v.version, nil
}

func (r *Registry) deleteSubject(_ http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	permanent := boolParam(req, "permanent")
	if err := r.lockWrite(req.Context()); err != nil {
		return nil, err
	}
	defer r.writeMu.Unlock()
	st := r.st
	all := st.versions(subject, true)
	if len(all) == 0 {
		return nil, apiErr(codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	live := st.versions(subject, false)
	out := []int{}
	var recs []*kgo.Record
	if permanent {
		if len(live) > 0 {
			return nil, apiErr(codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		}
		recs = append(recs, r.maxIDRecord())
		for _, v := range all {
			recs = append(recs, &kgo.Record{Key: schemaKey(subject, v.version)})
			out = append(out, v.version)
		}
		if _, ok := st.subjectCfg[subject]; ok {
			recs = append(recs, &kgo.Record{Key: configKey(subject)})
		}
	} else {
		if len(live) == 0 {
			return nil, apiErr(codeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
		}
		for _, v := range live {
			val := mustJSON(schemaValue{Subject: subject, Version: v.version, ID: v.id, Schema: v.schema, Deleted: true})
			recs = append(recs, &kgo.Record{Key: schemaKey(subject, v.version), Value: val})
			out = append(out, v.version)
		}
	}
	if err := r.write(req.Context(), recs...); err != nil {
		return nil, err
	}
	return out, nil
}

// levelBody carries a level both ways: Confluent reads "compatibility" in
// PUT bodies and answers GET with "compatibilityLevel".
type levelBody struct {
	Compatibility      string `json:"compatibility,omitempty"`
	CompatibilityLevel string `json:"compatibilityLevel,omitempty"`
}

func (r *Registry) getConfig(_ http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	defer r.rlock()()
	if subject == "" {
		return levelBody{CompatibilityLevel: r.st.level("", r.cfg.defaultLevel)}, nil
	}
	if l, ok := r.st.subjectCfg[subject]; ok {
		return levelBody{CompatibilityLevel: l}, nil
	}
	if boolParam(req, "defaultToGlobal") {
		return levelBody{CompatibilityLevel: r.st.level("", r.cfg.defaultLevel)}, nil
	}
	return nil, apiErr(codeSubjectNoConfig, "Subject '%s' does not have subject-level compatibility configured", subject)
}

func (r *Registry) putConfig(w http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	var body levelBody
	if err := decodeBody(w, req, &body); err != nil {
		return nil, err
	}
	in := body.Compatibility
	if in == "" {
		in = body.CompatibilityLevel
	}
	level, err := normLevel(in)
	if err != nil {
		return nil, apiErr(codeInvalidLevel, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive; got %q", in)
	}
	if err := r.lockWrite(req.Context()); err != nil {
		return nil, err
	}
	defer r.writeMu.Unlock()
	val := mustJSON(configValue{CompatibilityLevel: level})
	if err := r.write(req.Context(), &kgo.Record{Key: configKey(subject), Value: val}); err != nil {
		return nil, err
	}
	return levelBody{Compatibility: level}, nil
}

func (r *Registry) deleteConfig(_ http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	if err := r.lockWrite(req.Context()); err != nil {
		return nil, err
	}
	defer r.writeMu.Unlock()
	var old string
	if subject == "" {
		old = r.st.level("", r.cfg.defaultLevel)
	} else {
		l, ok := r.st.subjectCfg[subject]
		if !ok {
			return nil, apiErr(codeSubjectNoConfig, "Subject '%s' does not have subject-level compatibility configured", subject)
		}
		old = l
	}
	if err := r.write(req.Context(), &kgo.Record{Key: configKey(subject)}); err != nil {
		return nil, err
	}
	// Both spellings: sr.Client reads "compatibility" here, Confluent
	// writes "compatibilityLevel".
	return levelBody{Compatibility: old, CompatibilityLevel: old}, nil
}

type compatResult struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

func (r *Registry) checkCompat(w http.ResponseWriter, req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	vstr := req.PathValue("version")
	var ref versionRef
	if vstr != "" {
		var err error
		if ref, err = parseVersion(vstr); err != nil {
			return nil, err
		}
	}
	_, ps, err := readSchema(w, req)
	if err != nil {
		return nil, err
	}
	defer r.rlock()()
	level := r.st.level(subject, r.cfg.defaultLevel)
	var priors []prior
	if vstr != "" {
		v, err := r.st.resolve(subject, ref, false)
		if err != nil {
			return nil, err
		}
		priors = []prior{{version: v.version, schema: r.st.ids[v.id].parsed.schema}}
	} else {
		for _, v := range r.st.versions(subject, false) {
			priors = append(priors, prior{version: v.version, schema: r.st.ids[v.id].parsed.schema})
		}
	}
	msgs := checkParsed(level, ps.schema, priors)
	out := compatResult{IsCompatible: len(msgs) == 0}
	if boolParam(req, "verbose") {
		out.Messages = msgs
		if out.Messages == nil {
			out.Messages = []string{}
		}
	}
	return out, nil
}

type modeBody struct {
	Mode string `json:"mode"`
}

func (r *Registry) getMode(http.ResponseWriter, *http.Request) (any, error) {
	return modeBody{Mode: "READWRITE"}, nil
}

func (r *Registry) putMode(w http.ResponseWriter, req *http.Request) (any, error) {
	var body modeBody
	if err := decodeBody(w, req, &body); err != nil {
		return nil, err
	}
	switch m := strings.ToUpper(body.Mode); m {
	case "READWRITE":
		return modeBody{Mode: m}, nil
	case "READONLY", "READONLY_OVERRIDE", "IMPORT":
		return nil, apiErr(codeNotPermitted, "Mode %s is not supported: this registry is always READWRITE", m)
	default:
		return nil, apiErr(codeInvalidMode, "Invalid mode %q", body.Mode)
	}
}
