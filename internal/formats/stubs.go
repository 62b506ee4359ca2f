package formats

import (
	"errors"
	"io"
)

var errNotYet = errors.New("formats: parser not implemented yet")

func openFixedWidth(r io.Reader, opts Options) (Reader, error) { return nil, errNotYet }
