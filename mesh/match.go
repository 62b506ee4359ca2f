package mesh

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// MatchKey reports whether key matches the key pattern pattern, as a
// feed's KeyPattern matches landed keys.
func MatchKey(pattern, key string) bool { return matchKey(pattern, key) }

// matchKey reports whether key matches pattern: the pattern and the key are
// split at "/"; a "**" segment matches any number of key segments (none
// included); every other segment matches one key segment with path.Match.
// A malformed pattern matches nothing (Parse refuses them).
func matchKey(pattern, key string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(key, "/"))
}

func matchSegments(pat, key []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// Collapse runs of "**"; then try every split point.
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true
			}
			for i := range len(key) + 1 {
				if matchSegments(pat, key[i:]) {
					return true
				}
			}
			return false
		}
		if len(key) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], key[0]); err != nil || !ok {
			return false
		}
		pat, key = pat[1:], key[1:]
	}
	return len(key) == 0
}

// checkPattern reports whether pattern is a valid key pattern.
func checkPattern(pattern string) error {
	if strings.HasPrefix(pattern, "/") {
		return errors.New("must be relative to the landing root (no leading /)")
	}
	for seg := range strings.SplitSeq(pattern, "/") {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return err
		}
	}
	return nil
}

// Unmatched explains why no feed matches key, for the record of a landed
// file no feed takes: "no feed matches key K; patterns: P (feed F), ...",
// with a hint where a pattern would match if case were ignored (patterns
// are case-sensitive: *.csv does not take UPPER.CSV) or if * crossed "/"
// (it does not: use **).
func (m *Mesh) Unmatched(key string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "no feed matches key %q", key)
	var files []*Feed
	for i := range m.Feeds {
		if m.Feeds[i].Topic == "" {
			files = append(files, &m.Feeds[i])
		}
	}
	if len(files) == 0 {
		b.WriteString("; the mesh has no feeds of landed files")
		return b.String()
	}
	b.WriteString("; patterns: ")
	var hints []string
	for i, f := range files {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (feed %s)", f.KeyPattern, f.Name)
		switch {
		case matchKey(strings.ToLower(f.KeyPattern), strings.ToLower(key)):
			hints = append(hints, fmt.Sprintf("%s would match if case were ignored: patterns are case-sensitive", f.KeyPattern))
		case matchKey(strings.ReplaceAll(f.KeyPattern, "*", "**"), key) || matchKey(deepen(f.KeyPattern), key):
			hints = append(hints, fmt.Sprintf("%s does not match across \"/\": * stays within one path segment, ** spans any number", f.KeyPattern))
		}
	}
	for _, h := range hints {
		b.WriteString("; hint: ")
		b.WriteString(h)
	}
	return b.String()
}

// deepen puts "**/" before the last segment of pattern: "trades/*.csv"
// becomes "trades/**/*.csv".
func deepen(pattern string) string {
	i := strings.LastIndex(pattern, "/")
	return pattern[:i+1] + "**/" + pattern[i+1:]
}
