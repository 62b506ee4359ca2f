package mesh

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/logmesh/logmesh/events"
)

// Event returns the FeedDefined of the feed under env: every field of the
// feed, so that FeedFromEvent gives the feed back (with the same
// DefinitionHash). The event shares no memory with f.
func (f *Feed) Event(env events.Envelope) *events.FeedDefined {
	ev := &events.FeedDefined{
		Envelope:               env,
		Feed:                   f.Name,
		Table:                  f.Table,
		KeyPattern:             f.KeyPattern,
		Topic:                  optional(f.Topic),
		Format:                 f.Format,
		FormatOptions:          f.Options.list(),
		Schema:                 f.Schema,
		PrimaryKey:             nonNil(f.PrimaryKey),
		OrderingField:          optional(f.OrderingField),
		Rules:                  make([]events.ValidationRule, 0, len(f.Rules)),
		RejectThreshold:        f.RejectThreshold,
		BatchMaxBytes:          new(f.Batch.MaxBytes),
		DefinitionHash:         f.DefinitionHash(),
		Mode:                   optional(f.Mode),
		UniqueKey:              f.UniqueKey,
		AllowControlCharacters: f.AllowControlCharacters,
	}
	if f.Batch.MaxFiles != 0 {
		ev.BatchMaxFiles = new(int32(f.Batch.MaxFiles))
	}
	for _, r := range f.Rules {
		vr := events.ValidationRule{Field: r.Field, Rule: r.Rule}
		switch {
		case r.Rule == RuleEnum:
			vr.Arg = new(jsonList(r.Values))
		case r.Value != "":
			vr.Arg = new(r.Value)
		}
		ev.Rules = append(ev.Rules, vr)
	}
	return ev
}

// FeedFromEvent returns the feed a FeedDefined defines: the inverse of
// Feed.Event. A FeedDefined written before it carried every field gives
// the defaults for what it lacks (append, no unique key, the default
// batch files, no control characters), so its feed's DefinitionHash may
// differ from the event's. The error names the field that does not decode.
func FeedFromEvent(ev *events.FeedDefined) (Feed, error) {
	f := Feed{
		Name:                   ev.Feed,
		Table:                  ev.Table,
		KeyPattern:             ev.KeyPattern,
		Topic:                  deref(ev.Topic),
		Format:                 ev.Format,
		Schema:                 ev.Schema,
		PrimaryKey:             slices.Clone(ev.PrimaryKey),
		OrderingField:          deref(ev.OrderingField),
		Mode:                   deref(ev.Mode),
		UniqueKey:              ev.UniqueKey,
		RejectThreshold:        ev.RejectThreshold,
		AllowControlCharacters: ev.AllowControlCharacters,
	}
	if f.Mode == "" {
		f.Mode = ModeAppend
	}
	if len(f.PrimaryKey) == 0 {
		f.PrimaryKey = nil
	}
	if ev.BatchMaxBytes != nil {
		f.Batch.MaxBytes = *ev.BatchMaxBytes
	}
	if ev.BatchMaxFiles != nil {
		f.Batch.MaxFiles = int(*ev.BatchMaxFiles)
	}
	for _, vr := range ev.Rules {
		r := Rule{Field: vr.Field, Rule: vr.Rule}
		switch {
		case vr.Arg == nil:
		case vr.Rule == RuleEnum:
			if err := json.Unmarshal([]byte(*vr.Arg), &r.Values); err != nil {
				return Feed{}, fmt.Errorf("mesh: feed %s: enum values of %s: %w", ev.Feed, vr.Field, err)
			}
		default:
			r.Value = *vr.Arg
		}
		f.Rules = append(f.Rules, r)
	}
	if err := f.Options.fromList(ev.FormatOptions); err != nil {
		return Feed{}, fmt.Errorf("mesh: feed %s: %w", ev.Feed, err)
	}
	return f, nil
}

// fromList sets the options from the name=value pairs of list: the inverse
// of FormatOptions.list.
func (o *FormatOptions) fromList(list []events.Option) error {
	for _, opt := range list {
		var err error
		switch v := opt.Value; opt.Name {
		case "delimiter":
			o.Delimiter = v
		case "header":
			o.Header = v == "true"
		case "columns":
			err = json.Unmarshal([]byte(v), &o.Columns)
		case "record_path":
			o.RecordPath = v
		case "fixed_width":
			err = json.Unmarshal([]byte(v), &o.FixedWidth)
		case "encoding":
			o.Encoding = v
		case "comment":
			o.Comment = v
		case "trim_space":
			o.TrimSpace = v == "true"
		case "max_record_bytes":
			o.MaxRecordBytes, err = strconv.Atoi(v)
		case "max_raw_bytes":
			o.MaxRawBytes, err = strconv.Atoi(v)
		case "timestamp_layouts":
			err = json.Unmarshal([]byte(v), &o.TimestampLayouts)
		case "date_layouts":
			err = json.Unmarshal([]byte(v), &o.DateLayouts)
		default:
			return fmt.Errorf("unknown format option %q", opt.Name)
		}
		if err != nil {
			return fmt.Errorf("format option %s=%q: %w", opt.Name, opt.Value, err)
		}
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
