package events

import "strconv"

// Attempt returns n as a file attempt: n itself, or 1 for n < 1 (the
// attempt fields default to 1 in Avro, but a Go value built without them
// holds 0). Safe for concurrent use.
func Attempt(n int32) int32 {
	if n < 1 {
		return 1
	}
	return n
}

// AttemptID returns the event id of the FileLanded of attempt n of the file
// fileID (events.DeriveID(key, checksum)): fileID itself for the first
// attempt, as a file has always landed, and DeriveID(fileID, "attempt", n)
// for a retry (n > 1), so that each attempt's landing is a new event that
// no consumer drops as a duplicate of the first, while a retry derived
// twice (two watchers, a restart) has one id. Safe for concurrent use.
func AttemptID(fileID string, n int32) string {
	if n = Attempt(n); n == 1 {
		return fileID
	}
	return DeriveID(fileID, "attempt", strconv.Itoa(int(n)))
}

// AttemptParts returns parts with "attempt", n appended for a retry (n >
// 1) and parts unchanged for the first attempt: the parts of a
// deterministic id (DeriveID) of an event about one attempt of a file,
// which differ between attempts and stay what they were before attempts
// existed for the first one. Safe for concurrent use; parts is not
// modified.
func AttemptParts(n int32, parts ...string) []string {
	if n = Attempt(n); n == 1 {
		return parts
	}
	return append(parts[:len(parts):len(parts)], "attempt", strconv.Itoa(int(n)))
}
