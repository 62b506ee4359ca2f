package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// catalogFlags point a command at the catalog's API instead of the log:
// the request then goes through the catalog's rules (who may grant, say)
// as the token's principal.
type catalogFlags struct {
	url, token string
}

func addCatalogFlags(fs *flag.FlagSet) *catalogFlags {
	c := &catalogFlags{}
	fs.StringVar(&c.url, "catalog", os.Getenv("LOGMESH_CATALOG"), "the catalog's URL (env LOGMESH_CATALOG), e.g. http://127.0.0.1:8080: go through its API and its rules")
	fs.StringVar(&c.token, "token", os.Getenv("LOGMESH_TOKEN"), "the catalog bearer token (env LOGMESH_TOKEN; prefer the variable)")
	return c
}

// call sends body (JSON, if not nil) to path and returns the catalog's
// reason for an error status.
func (c *catalogFlags) call(ctx context.Context, method, path string, body any) error {
	return c.do(ctx, method, path, body, nil)
}

// get reads path into out (JSON) and returns the catalog's reason for an
// error status.
func (c *catalogFlags) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// maxAnswer bounds the catalog's answer read: a page of MaxPageSize files
// with their timelines is a few MB.
const maxAnswer = 64 << 20

// do sends body (JSON, if not nil) to path, decodes a successful answer
// into out if not nil, and returns the catalog's reason for an error
// status.
func (c *catalogFlags) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	const timeout = 30 * time.Second
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.url, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil && parent.Err() == nil {
		reason, _ := whyUnreachable(err, timeout, "")
		if reason == "" {
			reason = "the request failed"
		}
		return &unreachableError{service: "the catalog", addr: c.url, reason: reason, next: nextCatalog, err: err}
	}
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		if out == nil {
			return nil
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
			return fmt.Errorf("catalog: %s %s: the answer: %w", method, path, err)
		}
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error struct {
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Reason != "" {
		return fmt.Errorf("the catalog says %d %s: %s: %w", resp.StatusCode, http.StatusText(resp.StatusCode), e.Error.Reason, errMesh)
	}
	return fmt.Errorf("the catalog says %d %s: %s: %w", resp.StatusCode, http.StatusText(resp.StatusCode), strings.TrimSpace(string(b)), errMesh)
}
