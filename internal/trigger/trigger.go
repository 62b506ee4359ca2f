// Package trigger parses and evaluates a data product's trigger policy:
// "all" (every input refreshed since the last run), "any" (one input
// refreshed), "manual", "schedule", or an expression over the product's
// input names with and, or and parentheses, such as
//
//	raw.trades and (raw.securities or raw.accounts)
//
// where an input name stands for "this input was refreshed since the last
// run (and is not older than the product's max input age)". "and" binds
// tighter than "or". The name "schedule" stands for "the schedule is due".
package trigger

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Policies other than expressions.
const (
	All      = "all"
	Any      = "any"
	Manual   = "manual"
	Schedule = "schedule"
)

// ErrInvalid is wrapped by every error of Parse.
var ErrInvalid = errors.New("trigger: invalid policy")

// Policy is a parsed trigger policy. The zero Policy never fires.
type Policy struct {
	kind string // All, Any, Manual, Schedule, or "expr"
	root *node
}

type node struct {
	op          string // "and", "or", or "" for a name
	name        string
	left, right *node
}

// Parse parses policy for a product with the given inputs. Names in an
// expression must be inputs or "schedule".
func Parse(policy string, inputs []string) (Policy, error) {
	switch strings.TrimSpace(policy) {
	case "", All:
		return Policy{kind: All}, nil
	case Any:
		return Policy{kind: Any}, nil
	case Manual:
		return Policy{kind: Manual}, nil
	case Schedule:
		return Policy{kind: Schedule}, nil
	}
	p := &parser{toks: tokens(policy), inputs: inputs}
	root, err := p.or()
	if err == nil && p.i < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.i])
	}
	if err != nil {
		return Policy{}, fmt.Errorf("%w: %q: %w", ErrInvalid, policy, err)
	}
	return Policy{kind: "expr", root: root}, nil
}

// Manual reports whether the policy never fires by itself.
func (p Policy) Manual() bool { return p.kind == Manual }

// Fires reports whether the policy fires, given which inputs count as
// refreshed since the last run (fresh), every input of the product
// (inputs), the input whose refresh is being considered ("" for none) and
// whether the schedule is due. "any" fires only for the refresh being
// considered.
func (p Policy) Fires(inputs []string, fresh func(input string) bool, refreshed string, scheduleDue bool) bool {
	if p.kind == Any {
		f := fresh
		fresh = func(in string) bool { return in == refreshed && f(in) }
	}
	fires, _ := p.weigh(inputs, fresh, scheduleDue, nil)
	return fires
}

// Explain weighs the policy as Fires does, for no refresh in particular
// ("any" fires when some input is fresh), and says what it still needs to
// fire, one sentence each, such as "all: raw.securities has not refreshed
// since version 1"; none when it fires. why(name) is the clause saying why
// name (an input, or Schedule) does not hold, name included, such as
// "raw.securities has not refreshed since version 1" or "the schedule is
// not due".
func (p Policy) Explain(inputs []string, fresh func(input string) bool, scheduleDue bool, why func(name string) string) (bool, []string) {
	if why == nil {
		why = func(name string) string { return name + " does not hold" }
	}
	return p.weigh(inputs, fresh, scheduleDue, why)
}

// weigh is the one evaluation of a policy behind Fires and Explain; with a
// nil why it says nothing.
func (p Policy) weigh(inputs []string, fresh func(string) bool, scheduleDue bool, why func(string) string) (bool, []string) {
	holds := func(name string) bool {
		if name == Schedule {
			return scheduleDue
		}
		return fresh(name)
	}
	var needs []string
	say := func(format string, args ...any) {
		if why != nil {
			needs = append(needs, fmt.Sprintf(format, args...))
		}
	}
	switch p.kind {
	case All:
		if len(inputs) == 0 {
			say("all: the product has no inputs")
			return false, needs
		}
		fires := true
		for _, in := range inputs {
			if !holds(in) {
				fires = false
				if why != nil {
					say("all: %s", why(in))
				}
			}
		}
		return fires, needs
	case Any:
		for _, in := range inputs {
			if holds(in) {
				return true, nil
			}
		}
		say("any: none of %s has refreshed since the last run", strings.Join(inputs, ", "))
		return false, needs
	case Schedule:
		if scheduleDue {
			return true, nil
		}
		if why != nil {
			say("schedule: %s", why(Schedule))
		}
		return false, needs
	case Manual:
		say("manual: it runs only when asked (logmesh run-product)")
		return false, needs
	case "expr":
		if p.root.eval(holds) {
			return true, nil
		}
		if why != nil {
			for _, c := range p.root.conjuncts() {
				if c.eval(holds) {
					continue
				}
				var clauses []string
				for _, name := range c.leaves() {
					if !holds(name) {
						clauses = append(clauses, why(name))
					}
				}
				say("expression: %q is false: %s", c.String(), strings.Join(clauses, "; "))
			}
		}
		return false, needs
	}
	say("the policy is not valid: it never fires")
	return false, needs
}

// conjuncts returns the parts of n joined by its top-level "and"s.
func (n *node) conjuncts() []*node {
	if n.op == "and" {
		return append(n.left.conjuncts(), n.right.conjuncts()...)
	}
	return []*node{n}
}

// leaves returns the names in n, in order, each once.
func (n *node) leaves() []string {
	if n.op == "" {
		return []string{n.name}
	}
	out := n.left.leaves()
	for _, name := range n.right.leaves() {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// UsesSchedule reports whether the policy can fire on the schedule: it is
// "schedule" or an expression that names it.
func (p Policy) UsesSchedule() bool {
	if p.kind == "expr" {
		return p.root.names(Schedule)
	}
	return p.kind == Schedule
}

func (n *node) names(name string) bool {
	if n.op == "" {
		return n.name == name
	}
	return n.left.names(name) || n.right.names(name)
}

// String returns the policy as written, normalised ("all" for the default).
func (p Policy) String() string {
	if p.kind == "expr" {
		return p.root.String()
	}
	return p.kind
}

func (n *node) eval(v func(string) bool) bool {
	switch n.op {
	case "and":
		return n.left.eval(v) && n.right.eval(v)
	case "or":
		return n.left.eval(v) || n.right.eval(v)
	}
	return v(n.name)
}

func (n *node) String() string {
	if n.op == "" {
		return n.name
	}
	l, r := n.left.String(), n.right.String()
	if n.op == "and" {
		if n.left.op == "or" {
			l = "(" + l + ")"
		}
		if n.right.op == "or" {
			r = "(" + r + ")"
		}
	}
	return l + " " + n.op + " " + r
}

type parser struct {
	toks   []string
	i      int
	inputs []string
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) or() (*node, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.i++
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = &node{op: "or", left: left, right: right}
	}
	return left, nil
}

func (p *parser) and() (*node, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.i++
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		left = &node{op: "and", left: left, right: right}
	}
	return left, nil
}

func (p *parser) term() (*node, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, errors.New("ends where an input name or ( was expected")
	case t == "(":
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New("a ( is not closed")
		}
		p.i++
		return n, nil
	case t == ")" || strings.EqualFold(t, "and") || strings.EqualFold(t, "or"):
		return nil, fmt.Errorf("unexpected %q where an input name was expected", t)
	case t != Schedule && !slices.Contains(p.inputs, t):
		return nil, fmt.Errorf("%q is not an input of the product (inputs: %s)", t, strings.Join(p.inputs, ", "))
	}
	p.i++
	return &node{name: t}, nil
}

// tokens splits s into names, "(" and ")".
func tokens(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '(' || r == ')':
			flush()
			out = append(out, string(r))
		case unicode.IsSpace(r):
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}
