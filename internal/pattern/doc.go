// Package pattern matches events against content patterns in the style of
// Amazon EventBridge event patterns, and indexes many patterns so that an
// event is checked only against the ones that can match it.
//
// Events and patterns are decoded JSON-like values: map[string]any objects,
// []any arrays, strings, numbers (json.Number from a decoder with UseNumber,
// float64, or the integer types a YAML decoder gives), booleans and nil.
// Compile checks a pattern once and returns an immutable *Pattern; Set
// files patterns by the exact values they require of a few top-level key
// fields.
//
// # Syntax
//
// A pattern is an object with the shape of the events it matches. Each
// field holds either a nested object, matched against the event's nested
// object, or an array of matchers. A field matches when any matcher of its
// array matches (OR); an object matches when all its fields match (AND).
// Fields of the event the pattern does not name are ignored.
//
//	{
//	  "event":   ["ProductRefreshed", "ProductRestated"],
//	  "product": [{"prefix": "equities."}],
//	  "detail":  {"rows_total": [{"numeric": [">", 0, "<=", 1000000]}]}
//	}
//
// The same pattern in YAML, as a mesh file would hold it:
//
//	pattern:
//	  event: [ProductRefreshed, ProductRestated]
//	  product: [{prefix: "equities."}]
//	  detail: {rows_total: [{numeric: [">", 0, "<=", 1000000]}]}
//
// or in flow style on one line:
//
//	{event: [ProductRefreshed], product: [{prefix: "equities."}], rows_total: [{numeric: [">", 0]}]}
//
// The matchers:
//
//	"s", 12.5, true, null                  the value itself: strings by bytes (case-sensitive),
//	                                       numbers numerically (12.5 = 1.25e1, 3 = 3.0), never a
//	                                       string against a number ("5" is not 5); null matches
//	                                       null, not a missing field nor ""
//	{"exactly": "s"}                       the string s (the same as "s")
//	{"prefix": "s"}                        a string beginning with s
//	{"suffix": "s"}                        a string ending with s
//	{"prefix": {"equals-ignore-case": "s"}} and the same for suffix: ignoring case
//	{"equals-ignore-case": "s"}            a string equal to s under Unicode case folding
//	{"wildcard": "dir/*.png"}              a string matching, * standing for any run of
//	                                       characters (none included); \* is a star, \\ a
//	                                       backslash; ** and any other backslash are refused
//	{"numeric": [">", 0, "<=", 5]}         a number in range: one comparison (=, <, <=, >, >=)
//	                                       or a lower bound (> or >=) then an upper bound
//	                                       (< or <=) above it; compared as float64
//	{"cidr": "10.0.0.0/24"}                a string holding an IPv4 or IPv6 address in the prefix
//	{"exists": true}                       the field is present with a value (null included)
//	{"exists": false}                      the field is absent
//	{"anything-but": "s"}, {"anything-but": 5}
//	{"anything-but": ["a", "b"]}           a value that is none of these (all strings or all
//	                                       numbers); a value of another type (a number against
//	                                       a string list, null, true) is none of them: it matches
//	{"anything-but": {"prefix": "s"}}      and suffix, equals-ignore-case, wildcard, each with a
//	{"anything-but": {"suffix": ["a","b"]}} string or a list: a value that is not a string
//	                                       matching any of them (non-strings match)
//
// "$or" at any object level holds two or more pattern objects, one of which
// must match besides the object's other fields; alternatives apply to the
// same event object as the fields beside them, so {"$or": [{"a": [1]},
// {"b": [2]}]} means a = 1 or b = 2. An alternative may hold an $or of its
// own. A field named in both an object and one of its alternatives must
// satisfy both.
//
//	{"source": ["billing"], "$or": [{"amount": [{"numeric": [">", 100]}]}, {"priority": ["high"]}]}
//
// # Arrays and missing fields
//
// When the event's value for a field is an array, a matcher matches if it
// matches any element (arrays inside arrays are flattened): event
// {"tags": ["a", "b"]} matches {"tags": ["b"]}, and also
// {"tags": [{"anything-but": "a"}]}, because "b" is not "a". Objects are not
// values for matchers: a field whose event value is an object is absent to
// its matchers.
//
// A nested pattern object matched against an array matches if one element
// matches it as a whole, so fields matched together come from the same
// element: {"items": {"sku": ["x"], "qty": [2]}} does not match
// {"items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}]}. This holds
// for exists: false too: {"items": {"coupon": [{"exists": false}]}} matches
// when some element has no coupon. (EventBridge's engine aims at the same
// array consistency in rulesForJSONEvent; how it treats exists: false
// inside arrays of objects is not documented and may differ.)
//
// A field the event lacks, holds as an empty array, or holds as an object
// matches nothing but {"exists": false}; in particular anything-but does not
// match it. Likewise every field of a nested pattern object whose event
// value is absent or not an object is missing.
//
// # Errors
//
// Compile refuses, with an *Error that wraps ErrInvalid, anything but the
// syntax above: an unknown operator, an operand of the wrong type, a leaf
// that is not an array, an empty array or object, an $or that is not an
// array of at least two objects, a numeric expression that is malformed or
// an empty range, a wildcard with two stars in a row or a bad escape, an
// anything-but list mixing strings and numbers, a number that is not
// finite. Error.Path names the deepest offending element, as in
// detail.price[0].numeric[2].
//
// # Canonical form
//
// Pattern.String is a canonical JSON text of the pattern, for hashing
// definitions: sorted keys, sorted and deduplicated matchers, sorted $or
// alternatives, anything-but operands as lists, numbers in shortest form.
//
// # Not supported
//
// Compared with EventBridge (and its engine, aws/event-ruler):
//
//   - exact string values that look like IP addresses are not compared as
//     addresses (EventBridge matches "10.0.0.1" with a cidr-like range);
//     they are plain strings. Use cidr.
//   - "$or" is always the alternatives operator; EventBridge's legacy
//     reading of "$or" as an ordinary field name (when it does not hold an
//     array of two or more objects) is refused instead.
//   - the operator names EventBridge reserves inside $or alternatives
//     (prefix, numeric, ...) are accepted there as field names.
//   - a field given both beside an $or and inside one of its alternatives
//     must match both; event-ruler lets the later one override the other.
//   - an empty pattern {} is refused, as in EventBridge; to match every
//     event, use a pattern on a field every event has, with exists: true.
//   - numbers compare as float64, so integers beyond 2^53 compare by their
//     nearest float64 (EventBridge's numeric matching has the same limit,
//     but its exact matching also compares the number's text).
//   - EventBridge's limits on pattern size, the number of values and the
//     complexity of wildcards are not enforced.
//   - Input transformers, event buses and the event envelope (source,
//     detail-type, ...) are not part of this package: a pattern matches
//     whatever object it is given.
package pattern
