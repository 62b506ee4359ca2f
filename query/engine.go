// Package query runs SQL over table snapshots with an embedded DuckDB.
//
// The engine knows nothing about Iceberg, catalogs or object stores: the
// caller resolves each table's snapshot to a list of local Parquet files
// (downloading them to a local cache first when the warehouse is remote) and
// hands that list to [Engine.Register], which makes the table visible to SQL
// as a view named "domain.table". [Engine.Query] then runs SQL against those
// views and returns the rows as JSON-friendly Go values, which [WriteJSON],
// [WriteCSV] and [WriteTable] render.
//
// The DuckDB bundled with github.com/duckdb/duckdb-go/v2 has the parquet,
// json and icu extensions but neither iceberg nor httpfs, which is why the
// engine reads local files only. Extension auto-installation is switched off,
// so the engine never reaches the network.
package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ErrClosed is returned by the methods of an [Engine] after [Engine.Close].
var ErrClosed = errors.New("query: engine closed")

// Defaults of the options of [Open].
const (
	DefaultMemoryLimit = "512MB"
	DefaultThreads     = 2
	DefaultMaxRows     = 1_000_000
)

// Option configures [Open].
type Option func(*config)

type config struct {
	memoryLimit string
	threads     int
	tempDir     string
	maxRows     int
	sandbox     bool
	allowedDirs []string
}

// MemoryLimit caps the memory DuckDB uses, in DuckDB's notation ("512MB",
// "2GB"). Operators that exceed it spill to the temporary directory (see
// [TempDir]) or fail. Default [DefaultMemoryLimit].
func MemoryLimit(limit string) Option { return func(c *config) { c.memoryLimit = limit } }

// Threads sets the number of DuckDB worker threads; it must be at least 1.
// Default [DefaultThreads].
func Threads(n int) Option { return func(c *config) { c.threads = n } }

// TempDir sets the directory DuckDB spills to when a query exceeds the memory
// limit. Default: DuckDB's own choice for an in-memory database (".tmp" in the
// working directory).
func TempDir(dir string) Option { return func(c *config) { c.tempDir = dir } }

// MaxRows caps the number of rows [Engine.Query] returns; it must be at least
// 1. A query with more rows returns the first n and sets
// [Result.Truncated]. Default [DefaultMaxRows].
func MaxRows(n int) Option { return func(c *config) { c.maxRows = n } }

// AllowedDirs confines file access to the given directories (and [TempDir]):
// SQL, including the views [Engine.Register] creates, can read files under
// them only, so a transform cannot read another domain's cached files by
// path. Registering a table with a file outside them fails with DuckDB's
// "Permission Error". With no dirs, no file can be read and only empty
// tables can be registered. Set [TempDir] too if queries may spill: only
// that directory is added to the allowed ones (spilling to it was checked to
// work in the sandbox). Default: no restriction.
func AllowedDirs(dirs ...string) Option {
	return func(c *config) {
		c.sandbox = true
		c.allowedDirs = append(c.allowedDirs, dirs...)
	}
}

// Engine is one embedded, in-memory DuckDB database.
//
// An Engine is safe for concurrent use: queries run on a pool of DuckDB
// connections to the same database, and calls to [Engine.Register] are
// serialised. The caller owns the Engine and must call [Engine.Close].
type Engine struct {
	db      *sql.DB
	maxRows int

	regMu sync.Mutex // serialises Register: DuckDB aborts concurrent catalog writes

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Open starts an in-memory DuckDB configured by opts. ctx bounds the start-up
// only; it is not retained. The caller must Close the returned Engine.
func Open(ctx context.Context, opts ...Option) (*Engine, error) {
	c := config{memoryLimit: DefaultMemoryLimit, threads: DefaultThreads, maxRows: DefaultMaxRows}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case strings.TrimSpace(c.memoryLimit) == "":
		return nil, errors.New("query: open: empty memory limit")
	case c.threads < 1:
		return nil, fmt.Errorf("query: open: threads %d < 1", c.threads)
	case c.maxRows < 1:
		return nil, fmt.Errorf("query: open: max rows %d < 1", c.maxRows)
	}

	// Settings that DuckDB accepts at start-up go into the DSN.
	params := url.Values{}
	params.Set("memory_limit", c.memoryLimit)
	params.Set("threads", fmt.Sprint(c.threads))
	params.Set("autoinstall_known_extensions", "false")
	if c.tempDir != "" {
		params.Set("temp_directory", c.tempDir)
	}
	connector, err := duckdb.NewConnector(":memory:?"+params.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("query: open: %w", err)
	}
	db := sql.OpenDB(connector) // db.Close closes connector
	// The rest is set once, globally, and then locked. TimeZone belongs to
	// ICU, which is loaded after the DSN's settings are applied; it is
	// pinned so that TIMESTAMPTZ casts and arithmetic (date_trunc, strftime,
	// ::DATE) give the same answer on every machine, as a re-run transform
	// must. Locking stops SQL from changing settings (SET fails), so one
	// query cannot change the next one's results or escape the sandbox.
	setup := []string{"LOAD icu", "SET GLOBAL TimeZone = 'UTC'"}
	if c.sandbox {
		dirs := make([]string, 0, len(c.allowedDirs)+1)
		for _, d := range append(slices.Clone(c.allowedDirs), c.tempDir) {
			if d == "" {
				continue
			}
			abs, err := filepath.Abs(d)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("query: open: allowed dir %q: %w", d, err)
			}
			dirs = append(dirs, quoteString(strings.TrimSuffix(abs, string(filepath.Separator))+string(filepath.Separator)))
		}
		setup = append(setup,
			"SET GLOBAL allowed_directories = ["+strings.Join(dirs, ", ")+"]",
			"SET GLOBAL enable_external_access = false")
	}
	setup = append(setup, "SET GLOBAL lock_configuration = true")
	for _, s := range setup {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("query: open: %s: %w", s, err)
		}
	}
	return &Engine{db: db, maxRows: c.maxRows, closed: make(chan struct{})}, nil
}

// Close releases the database. New calls fail with [ErrClosed]; Close waits
// for queries already running to finish (cancel their ctx to hurry them).
// Close is idempotent; later calls return the first call's error.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.closed)
		if err := e.db.Close(); err != nil {
			e.closeErr = fmt.Errorf("query: close: %w", err)
		}
	})
	return e.closeErr
}

func (e *Engine) isClosed() bool {
	select {
	case <-e.closed:
		return true
	default:
		return false
	}
}

// Table is one table snapshot to make visible to SQL.
type Table struct {
	// Name is "domain.table", e.g. "raw.trades". Both parts are quoted as
	// SQL identifiers, so any characters except '.' are allowed; SQL refers
	// to the table as raw.trades (or "raw"."trades").
	Name string
	// Files are the local Parquet files of the snapshot: paths, or file
	// URIs (file:///abs/path, as a local warehouse's catalog lists them).
	// Relative paths are made absolute against the working directory. DuckDB treats '*', '?'
	// and '[' as glob characters, so paths containing them are refused.
	// Files with different but compatible schemas are unioned by column name.
	Files []string
	// Columns is the schema of the table used when Files is empty, so that
	// an empty snapshot still has typed columns. It is ignored otherwise.
	Columns []Column
	// Aliases are other names SQL may use for the table, without a
	// domain ("trades" for raw.trades), as a product's transform does.
	Aliases []string
}

// Column is a column of an empty [Table].
type Column struct {
	// Name is the column name, quoted as an SQL identifier.
	Name string
	// Type is a DuckDB type name: VARCHAR, BIGINT, INTEGER, DOUBLE, FLOAT,
	// BOOLEAN, TIMESTAMPTZ, DATE, BLOB, DECIMAL(18,2), VARCHAR[], ... Only
	// letters, digits, '_', ' ', '(', ')', ',', '[' and ']' are accepted.
	Type string
}

var typePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_ (),\[\]]*$`)

// Register makes tables visible to SQL: for each table it creates the schema
// of its domain if needed and creates or replaces the view domain.table over
// its files. All tables are registered in one transaction: on error none of
// them changes. Tables registered by earlier calls and not named in tables
// are kept.
func (e *Engine) Register(ctx context.Context, tables []Table) error {
	if e.isClosed() {
		return ErrClosed
	}
	stmts := make([]string, 0, 2*len(tables))
	schemas := map[string]bool{}
	seen := map[string]bool{}
	for _, t := range tables {
		domain, name, err := splitName(t.Name)
		if err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("query: register: table %q listed twice", t.Name)
		}
		seen[t.Name] = true
		body, err := viewBody(t)
		if err != nil {
			return err
		}
		if !schemas[domain] {
			schemas[domain] = true
			stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(domain))
		}
		stmts = append(stmts, "CREATE OR REPLACE VIEW "+quoteIdent(domain)+"."+quoteIdent(name)+" AS "+body)
		for _, a := range t.Aliases {
			if a == "" || strings.Contains(a, ".") || seen["alias:"+a] {
				return fmt.Errorf("query: register: table %q: alias %q is empty, has a dot or is used twice", t.Name, a)
			}
			seen["alias:"+a] = true
			stmts = append(stmts, "CREATE OR REPLACE VIEW "+quoteIdent(a)+" AS SELECT * FROM "+quoteIdent(domain)+"."+quoteIdent(name))
		}
	}

	e.regMu.Lock()
	defer e.regMu.Unlock()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return e.wrapErr("register", ctx, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return e.wrapErr("register: "+shorten(s), ctx, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return e.wrapErr("register", ctx, err)
	}
	return nil
}

func splitName(full string) (domain, name string, err error) {
	domain, name, ok := strings.Cut(full, ".")
	if !ok || domain == "" || name == "" || strings.Contains(name, ".") {
		return "", "", fmt.Errorf("query: register: table name %q is not domain.table", full)
	}
	return domain, name, nil
}

// viewBody returns the SELECT a table's view is defined as.
func viewBody(t Table) (string, error) {
	if len(t.Files) == 0 {
		if len(t.Columns) == 0 {
			return "", fmt.Errorf("query: register: table %q has neither files nor columns", t.Name)
		}
		var b strings.Builder
		b.WriteString("SELECT ")
		for i, c := range t.Columns {
			if c.Name == "" {
				return "", fmt.Errorf("query: register: table %q: column %d has no name", t.Name, i)
			}
			if !typePattern.MatchString(c.Type) {
				return "", fmt.Errorf("query: register: table %q: column %q: bad type %q", t.Name, c.Name, c.Type)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "CAST(NULL AS %s) AS %s", c.Type, quoteIdent(c.Name))
		}
		b.WriteString(" WHERE false")
		return b.String(), nil
	}
	var b strings.Builder
	b.WriteString("SELECT * FROM read_parquet([")
	for i, f := range t.Files {
		if f == "" {
			return "", fmt.Errorf("query: register: table %q: empty file path", t.Name)
		}
		p, err := localPath(f)
		if err != nil {
			return "", fmt.Errorf("query: register: table %q: %w", t.Name, err)
		}
		if strings.ContainsAny(p, "*?[") {
			return "", fmt.Errorf("query: register: table %q: file %q: path contains a glob character (*, ? or [)", t.Name, f)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("query: register: table %q: file %q: %w", t.Name, f, err)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteString(abs))
	}
	b.WriteString("], union_by_name = true)")
	return b.String(), nil
}

// localPath returns the local path of a file: a path as it is, a file URI
// (file:///abs/path or file://localhost/abs/path) as its path. Other URIs
// are refused: the engine reads local files only.
func localPath(f string) (string, error) {
	if !strings.HasPrefix(f, "file:") {
		if i := strings.Index(f, "://"); i > 0 && !strings.ContainsAny(f[:i], `/\`) {
			return "", fmt.Errorf("file %q: not a local file (download it first)", f)
		}
		return f, nil
	}
	u, err := url.Parse(f)
	if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("file %q: not a local file URI (want file:///abs/path)", f)
	}
	p := u.Path
	if len(p) >= 3 && p[0] == '/' && p[2] == ':' && filepath.Separator == '\\' { // file:///C:/dir
		p = p[1:]
	}
	return filepath.FromSlash(p), nil
}

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes s as an SQL string literal. DuckDB does not treat
// backslashes in '...' literals as escapes.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// shorten keeps error messages readable when they quote SQL.
func shorten(s string) string {
	const max = 120
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// wrapErr wraps a database error. A cancelled or expired ctx is reported as
// ctx's error (so errors.Is(err, context.Canceled) holds), with DuckDB's
// error wrapped beside it.
func (e *Engine) wrapErr(op string, ctx context.Context, err error) error {
	if e.isClosed() {
		return fmt.Errorf("query: %s: %w", op, ErrClosed)
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return fmt.Errorf("query: %s: %w", op, cerr)
		}
		return fmt.Errorf("query: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("query: %s: %w", op, err)
}

// Result is the outcome of [Engine.Query].
type Result struct {
	// Columns are the result's column names, in order. DuckDB may return
	// the same name twice (SELECT a.id, b.id).
	Columns []string
	// Types are DuckDB's type names of the columns: BIGINT, VARCHAR,
	// TIMESTAMPTZ, DECIMAL(18,2), VARCHAR[], STRUCT(...), ...
	Types []string
	// Rows hold the values, one slice per row in column order; see
	// [Engine.Query] for the Go types.
	Rows [][]any
	// Truncated reports that the query had more rows than the engine's
	// MaxRows and Rows holds only the first MaxRows of them.
	Truncated bool
}

// Query runs sql and returns its rows, at most MaxRows of them (see
// [Result.Truncated]). Cancelling ctx interrupts DuckDB; the call returns
// within about half a second (duckdb-go's interrupt interval) with an error
// that wraps ctx.Err(). An SQL error is returned wrapped, with DuckDB's
// message in its text.
//
// DuckDB materialises the whole result before the first row is read, so
// MaxRows bounds the memory of the returned Result, not the work: put a
// LIMIT in the SQL to bound that. Query is meant for SELECT (and other
// statements without lasting effect): each call may run on a different
// pooled connection, so session state such as a TEMP table created by one
// call is not reliably visible to the next, and SET fails because the
// configuration is locked at [Open].
//
// Values are converted to JSON-friendly Go types:
//
//   - NULL → nil
//   - BOOLEAN → bool; VARCHAR, ENUM → string; BLOB → []byte
//   - TINYINT…BIGINT, UTINYINT…UINTEGER → int64; UBIGINT, HUGEINT,
//     UHUGEINT, BIGNUM → int64 when the value fits, otherwise
//     [encoding/json.Number] holding its decimal digits
//   - FLOAT, DOUBLE → float64 (a FLOAT keeps its shortest decimal form:
//     0.1 stays 0.1); NaN and ±Inf are kept
//   - DECIMAL(w,s) → [encoding/json.Number] with exactly s digits after the
//     point ("12.50"): exact, and written as a JSON number
//   - TIMESTAMP*, TIMESTAMPTZ, DATE, TIME, TIMETZ → time.Time (UTC except
//     TIMETZ; DATE at midnight; TIME on 0001-01-01)
//   - INTERVAL → string in ISO 8601 duration form ("P1M2DT3.5S")
//   - UUID → string ("0b8e…-…"); BIT → string of 0s and 1s
//   - LIST, ARRAY → []any; STRUCT → map[string]any; MAP → map[string]any
//     with keys rendered as text; UNION → the member's value; JSON → the
//     decoded value (map[string]any, []any, float64, string, bool, nil)
func (e *Engine) Query(ctx context.Context, sql string) (*Result, error) {
	if e.isClosed() {
		return nil, ErrClosed
	}
	op := "execute " + shorten(sql)
	rows, err := e.db.QueryContext(ctx, sql)
	if err != nil {
		return nil, e.wrapErr(op, ctx, err)
	}
	defer rows.Close()

	cols, err := rows.Columns()
	if err != nil {
		return nil, e.wrapErr(op, ctx, err)
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, e.wrapErr(op, ctx, err)
	}
	res := &Result{Columns: cols, Types: make([]string, len(cts)), Rows: [][]any{}}
	for i, ct := range cts {
		res.Types[i] = ct.DatabaseTypeName()
	}
	dst := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range dst {
		ptrs[i] = &dst[i]
	}
	for rows.Next() {
		if len(res.Rows) == e.maxRows {
			res.Truncated = true
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, e.wrapErr(op, ctx, err)
		}
		row := make([]any, len(cols))
		for i, v := range dst {
			row[i] = convert(v, res.Types[i])
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, e.wrapErr(op, ctx, err)
	}
	if err := ctx.Err(); err != nil { // database/sql may end Next quietly on cancel
		return nil, e.wrapErr(op, ctx, err)
	}
	return res, nil
}
