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

// schemaListFlags registers the flags of schema list: none.
func schemaListFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, g global, in *cmdInput) error {
		cl, err := g.registryClient()
		if err != nil {
			return err
		}
		return schemaList(ctx, cl, in.stdout)
	}
}

// schemaCheckFlags registers the flags of schema check.
func schemaCheckFlags(fs *flag.FlagSet) runFunc {
	return schemaFileFlags(fs, func(ctx context.Context, cl *sr.Client, subject, text string, stdout io.Writer) error {
		return schemaCheck(ctx, cl, subject, text, stdout)
	})
}

// schemaRegisterFlags registers the flags of schema register.
func schemaRegisterFlags(fs *flag.FlagSet) runFunc {
	return schemaFileFlags(fs, func(ctx context.Context, cl *sr.Client, subject, text string, stdout io.Writer) error {
		ss, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: text})
		if err != nil {
			return fmt.Errorf("register %s: %w", subject, err)
		}
		fmt.Fprintf(stdout, "registered %s version %d id %d\n", ss.Subject, ss.Version, ss.ID)
		return nil
	})
}

// schemaFileFlags registers --subject and returns a run function that
// reads FILE.avsc and hands it to do.
func schemaFileFlags(fs *flag.FlagSet, do func(ctx context.Context, cl *sr.Client, subject, text string, stdout io.Writer) error) runFunc {
	subject := fs.String("subject", "", "registry subject (for logmesh facts: the Avro full name); required")
	return func(ctx context.Context, g global, in *cmdInput) error {
		if *subject == "" {
			return usageError("schema: --subject S is required")
		}
		text, err := os.ReadFile(in.args[0])
		if err != nil {
			return err
		}
		cl, err := g.registryClient()
		if err != nil {
			return err
		}
		return do(ctx, cl, *subject, string(text), in.stdout)
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
