// Package examples embeds the example mesh that `logmesh dev` loads when it
// is given no --config: a raw domain with trades (CSV), securities (JSON),
// accounts (XML) and positions (fixed-width) feeds, and files for each.
package examples

import "embed"

// FS holds mesh.yaml and the files under landing/. It is read-only.
//
//go:embed mesh.yaml landing
var FS embed.FS
