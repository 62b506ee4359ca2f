// Package console is the catalog's web console: server-rendered pages
// (html/template) and a little plain JavaScript, every asset embedded, no
// CDN. Every page reads the catalog API with the signed-in user's bearer
// token, by calling the API's handler in process: a page shows exactly
// what the token may see through the API, by the same code.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"
)

//go:embed assets templates
var files embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

// TokenCookie is the cookie holding the signed-in user's bearer token.
const TokenCookie = "logmesh_token"

// ProcessorLag is the consumer lag of one processor's group.
type ProcessorLag struct {
	Processor string `json:"processor"`
	Group     string `json:"group,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Lag       int64  `json:"lag"`
}

// Options configure a Console. The zero value is valid.
type Options struct {
	// Lag reports the consumer lag per processor; nil, the overview says
	// it is not available.
	Lag func(ctx context.Context) ([]ProcessorLag, error)
	// Logger logs failed pages; nil, slog.Default().
	Logger *slog.Logger
	// Clock is the time the overview counts recent files from; nil,
	// time.Now.
	Clock func() time.Time
}

// Console serves the web console over an API handler. It is safe for
// concurrent use.
type Console struct {
	api   http.Handler
	opts  Options
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the console over api, the catalog API's handler (the pages
// call it with the user's token).
func New(api http.Handler, opts Options) (*Console, error) {
	if api == nil {
		return nil, errors.New("console: nil API handler")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	c := &Console{api: api, opts: opts, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{"q": url.QueryEscape, "pathq": url.PathEscape, "since": since, "json": toJSON, "list": func(s ...string) []string { return s }}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if strings.HasSuffix(n, "/layout.html") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: %s: %w", n, err)
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	assets, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	m := http.NewServeMux()
	m.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", http.FileServerFS(assets)))
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.logout)
	m.HandleFunc("GET /console/{$}", c.page(c.overview))
	m.HandleFunc("GET /console/files", c.page(c.files))
	m.HandleFunc("POST /console/files/{file}/retry", c.retry)
	m.HandleFunc("GET /console/lineage", c.page(c.lineage))
	m.HandleFunc("GET /console/products/{product}", c.page(c.product))
	m.HandleFunc("GET /console/incidents", c.page(c.incidents))
	m.HandleFunc("GET /console/tail", c.page(c.tail))
	m.HandleFunc("GET /console/api/{path...}", c.proxy)
	c.mux = m
	return c, nil
}

// ServeHTTP serves the console under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// apiError is an answer of the API that is not a success.
type apiError struct {
	Status int
	Reason string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Reason) }

// call makes a request of the API with token and decodes its JSON answer
// into v (when v is not nil).
func (c *Console) call(ctx context.Context, token, method, path string, q url.Values, v any) error {
	u := path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req := httptest.NewRequestWithContext(ctx, method, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		var e struct {
			Error struct {
				Reason string `json:"reason"`
			} `json:"error"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		return &apiError{Status: rec.Code, Reason: e.Error.Reason}
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		return fmt.Errorf("console: %s %s: %w", method, path, err)
	}
	return nil
}

// list reads every page of a list endpoint into items.
func (c *Console) list(ctx context.Context, token, path string, q url.Values) ([]map[string]any, error) {
	var out []map[string]any
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	q2.Set("page_size", "1000")
	for {
		var pg struct {
			Items         []map[string]any `json:"items"`
			NextPageToken string           `json:"next_page_token"`
		}
		if err := c.call(ctx, token, http.MethodGet, path, q2, &pg); err != nil {
			return out, err
		}
		out = append(out, pg.Items...)
		if pg.NextPageToken == "" {
			return out, nil
		}
		q2.Set("page_token", pg.NextPageToken)
	}
}

func token(r *http.Request) string {
	if ck, err := r.Cookie(TokenCookie); err == nil {
		return ck.Value
	}
	return ""
}

// view is what a page template renders.
type view struct {
	Title     string
	Principal string
	AsOf      string
	Path      string
	Data      any
	Error     string
}

// pageFunc fills a page's view; an *apiError with status 401 sends the
// user to the login page.
type pageFunc func(r *http.Request, tok string, asOf url.Values, v *view) (string, error)

func (c *Console) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := token(r)
		if tok == "" {
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		var who struct {
			Principal string `json:"principal"`
		}
		if err := c.call(r.Context(), tok, http.MethodGet, "/v1/whoami", nil, &who); err != nil {
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		asOf := url.Values{}
		if a := r.URL.Query().Get("as_of"); a != "" {
			asOf.Set("as_of", a)
		}
		v := &view{Principal: who.Principal, AsOf: r.URL.Query().Get("as_of"), Path: r.URL.Path}
		name, err := fn(r, tok, asOf, v)
		status := http.StatusOK
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				status, v.Error = ae.Status, ae.Reason
			} else {
				c.opts.Logger.Error("console: page failed", "path", r.URL.Path, "err", err)
				status, v.Error = http.StatusInternalServerError, err.Error()
			}
			name = "error"
		}
		c.render(w, status, name, v)
	}
}

func (c *Console) render(w http.ResponseWriter, status int, name string, v *view) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "console: no page "+name, http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		c.opts.Logger.Error("console: rendering failed", "page", name, "err", err)
		http.Error(w, "console: rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "login", &view{Title: "Sign in", Data: r.URL.Query().Get("next")})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, Prefix) {
		next = Prefix
	}
	if err := c.call(r.Context(), tok, http.MethodGet, "/v1/whoami", nil, nil); err != nil || tok == "" {
		c.render(w, http.StatusUnauthorized, "login", &view{Title: "Sign in", Data: next, Error: "that token is not valid"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: tok, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: "", Path: Prefix, MaxAge: -1})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// proxy answers GET /console/api/P with the API's GET /v1/P, with the
// user's token: the JavaScript of the pages reads the API through it.
func (c *Console) proxy(w http.ResponseWriter, r *http.Request) {
	req := r.Clone(r.Context())
	req.URL.Path = "/v1/" + r.PathValue("path")
	req.RequestURI = ""
	req.Header.Set("Authorization", "Bearer "+token(r))
	c.api.ServeHTTP(w, req)
}

// retry asks the API to redrive a file and goes back to the file audit.
func (c *Console) retry(w http.ResponseWriter, r *http.Request) {
	tok := token(r)
	id := r.PathValue("file")
	err := c.call(r.Context(), tok, http.MethodPost, "/v1/files/"+url.PathEscape(id)+"/retry", nil, nil)
	back := "/console/files?retried=" + url.QueryEscape(id)
	if err != nil {
		back = "/console/files?retry_error=" + url.QueryEscape(err.Error())
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func since(v any) string {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return ""
	}
	return time.Since(t).Truncate(time.Second).String()
}

func toJSON(v any) (template.JS, error) {
	b, err := json.Marshal(v)
	return template.JS(b), err
}

var _ io.Writer = (*bytes.Buffer)(nil)
