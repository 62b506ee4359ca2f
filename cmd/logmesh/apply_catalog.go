package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/catalog"
)

// applyThroughCatalog sends the mesh files and the schema files they name
// to the catalog's POST /v1/apply (?plan=true for a plan only) and prints
// the plan it answers; an error status is returned with the catalog's
// reason, after the plan if it sent one.
func applyThroughCatalog(ctx context.Context, api *catalogFlags, srcs []mesh.Source, retire []string, planOnly bool, stdout io.Writer) error {
	req := catalog.ApplyRequest{RetireDomains: retire}
	for _, s := range srcs {
		req.Files = append(req.Files, catalog.ApplyFile{Name: s.Name, Content: string(s.Data)})
	}
	for _, p := range mesh.SchemaFiles(srcs) {
		// A schema file missing here is missing there too: the catalog's
		// plan names the line that wants it.
		if b, err := os.ReadFile(p); err == nil {
			req.Files = append(req.Files, catalog.ApplyFile{Name: p, Content: string(b)})
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	path := "/v1/apply"
	if planOnly {
		path += "?plan=true"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(api.url, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("apply: catalog: %w", err)
	}
	hr.Header.Set("Authorization", "Bearer "+api.token)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return fmt.Errorf("apply: catalog: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("apply: catalog: the answer: %w", err)
	}
	var ans struct {
		Apply catalog.ApplyAnswer `json:"apply"`
		Error struct {
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("apply: the catalog says %d %s: %s: %w", resp.StatusCode, http.StatusText(resp.StatusCode), strings.TrimSpace(string(raw)), errMesh)
	}
	for _, l := range ans.Apply.Plan {
		fmt.Fprintln(stdout, l)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("apply: the catalog says %d %s: %s: %w", resp.StatusCode, http.StatusText(resp.StatusCode), ans.Error.Reason, errMesh)
	}
	return nil
}
