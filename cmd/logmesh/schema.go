package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/sr"
)

// errIncompatible makes `schema check` exit non-zero for a breaking change.
var errIncompatible = errors.New("incompatible schema change")

// cmdSchema governs contract changes against the registry.
func cmdSchema(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("schema: want list, check or register: %w", errUsage)
	}
	cl, err := sr.NewClient(sr.URLs(g.registry))
	if err != nil {
		return fmt.Errorf("registry %s: %w", g.registry, err)
	}
	switch args[0] {
	case "list":
		return schemaList(ctx, cl, stdout)
	case "check", "register":
		fs := flag.NewFlagSet("schema "+args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		subject := fs.String("subject", "", "registry subject (for logmesh facts: the Avro full name)")
		files, err := interspersed(fs, args[1:])
		if err != nil {
			return err
		}
		if len(files) != 1 || *subject == "" {
			return fmt.Errorf("schema %s FILE.avsc --subject S: %w", args[0], errUsage)
		}
		text, err := os.ReadFile(files[0])
		if err != nil {
			return err
		}
		if args[0] == "check" {
			return schemaCheck(ctx, cl, *subject, string(text), stdout)
		}
		ss, err := cl.CreateSchema(ctx, *subject, sr.Schema{Schema: string(text)})
		if err != nil {
			return fmt.Errorf("register %s: %w", *subject, err)
		}
		fmt.Fprintf(stdout, "registered %s version %d id %d\n", ss.Subject, ss.Version, ss.ID)
		return nil
	default:
		return fmt.Errorf("schema %q: want list, check or register: %w", args[0], errUsage)
	}
}

func schemaList(ctx context.Context, cl *sr.Client, stdout io.Writer) error {
	subjects, err := cl.Subjects(ctx)
	if err != nil {
		return fmt.Errorf("list subjects: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBJECT\tVERSIONS\tLATEST ID\tCOMPATIBILITY")
	for _, s := range subjects {
		versions, err := cl.SubjectVersions(ctx, s)
		if err != nil {
			return fmt.Errorf("versions of %s: %w", s, err)
		}
		latest, err := cl.SchemaByVersion(ctx, s, -1)
		if err != nil {
			return fmt.Errorf("latest of %s: %w", s, err)
		}
		level := "?"
		if res := cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), s); len(res) == 1 && res[0].Err == nil {
			level = res[0].Level.String()
		}
		vs := make([]string, len(versions))
		for i, v := range versions {
			vs[i] = fmt.Sprint(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s, strings.Join(vs, ","), latest.ID, level)
	}
	return tw.Flush()
}

func schemaCheck(ctx context.Context, cl *sr.Client, subject, text string, stdout io.Writer) error {
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, sr.Schema{Schema: text})
	var re *sr.ResponseError
	if errors.As(err, &re) && (re.ErrorCode == 40401 || re.ErrorCode == 40402) {
		fmt.Fprintf(stdout, "%s: new subject, nothing to be compatible with\n", subject)
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", subject, err)
	}
	if res.Is {
		fmt.Fprintf(stdout, "%s: compatible\n", subject)
		return nil
	}
	fmt.Fprintf(stdout, "%s: INCOMPATIBLE\n", subject)
	for _, m := range res.Messages {
		fmt.Fprintln(stdout, "  -", m)
	}
	return fmt.Errorf("%s: %w", subject, errIncompatible)
}
