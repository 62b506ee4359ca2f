package mesh

import (
	"errors"
	"path"
	"strings"
)

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
