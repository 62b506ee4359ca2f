package tables

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/minio/minio-go/v7"
)

// s3IO is iceberg-go's io.IO (plus ReadFileIO and WriteFileIO) over
// minio-go, for s3:// and s3a:// locations. The IO interfaces take no
// context, so calls use context.Background and rely on the client's
// timeouts. Safe for concurrent use.
type s3IO struct {
	cl *minio.Client
}

var (
	_ icebergio.ReadFileIO  = (*s3IO)(nil)
	_ icebergio.WriteFileIO = (*s3IO)(nil)
)

// s3PartSize is the multipart part size of streamed uploads; it bounds the
// memory of one open file writer.
const s3PartSize = 16 << 20

func newS3IO(props map[string]string) (*s3IO, error) {
	cl, err := newS3Client(props)
	if err != nil {
		return nil, err
	}
	return &s3IO{cl: cl}, nil
}

func splitS3(name string) (bucket, key string, err error) {
	u, err := url.Parse(name)
	if err != nil || (u.Scheme != "s3" && u.Scheme != "s3a") || u.Host == "" {
		return "", "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

func s3Err(op, name string, err error) error {
	if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == 404 {
		err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Open implements io.IO. The object is stat'ed once; reads are ranged GETs.
func (s *s3IO) Open(name string) (icebergio.File, error) {
	bucket, key, err := splitS3(name)
	if err != nil {
		return nil, err
	}
	obj, err := s.cl.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Err("open", name, err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, s3Err("open", name, err)
	}
	return &s3File{Object: obj, info: s3Info{name: path.Base(key), size: info.Size, mod: info.LastModified}}, nil
}

// ReadFile implements io.ReadFileIO.
func (s *s3IO) ReadFile(name string) ([]byte, error) {
	f, err := s.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, s3Err("read", name, err)
	}
	return b, nil
}

// Remove implements io.IO.
func (s *s3IO) Remove(name string) error {
	bucket, key, err := splitS3(name)
	if err != nil {
		return err
	}
	if err := s.cl.RemoveObject(context.Background(), bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s3Err("remove", name, err)
	}
	return nil
}

// WriteFile implements io.WriteFileIO.
func (s *s3IO) WriteFile(name string, p []byte) error {
	bucket, key, err := splitS3(name)
	if err != nil {
		return err
	}
	_, err = s.cl.PutObject(context.Background(), bucket, key, bytes.NewReader(p), int64(len(p)), minio.PutObjectOptions{})
	if err != nil {
		return s3Err("write", name, err)
	}
	return nil
}

// Create implements io.WriteFileIO: the object is streamed as a multipart
// upload; it exists once Close returns nil. The caller must Close it.
func (s *s3IO) Create(name string) (icebergio.FileWriter, error) {
	bucket, key, err := splitS3(name)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &s3Writer{pw: pw, done: make(chan error, 1), name: name}
	go func() {
		_, err := s.cl.PutObject(context.Background(), bucket, key, pr, -1, minio.PutObjectOptions{PartSize: s3PartSize})
		pr.CloseWithError(err) // unblock a writer if the upload failed
		w.done <- err
	}()
	return w, nil
}

type s3Writer struct {
	pw     *io.PipeWriter
	done   chan error
	name   string
	closed bool
	err    error
}

func (w *s3Writer) Write(p []byte) (int, error) { return w.pw.Write(p) }

func (w *s3Writer) ReadFrom(r io.Reader) (int64, error) { return io.Copy(struct{ io.Writer }{w.pw}, r) }

// Close finishes the upload and reports its result; later calls return the
// same result.
func (w *s3Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	w.pw.Close()
	if err := <-w.done; err != nil {
		w.err = s3Err("write", w.name, err)
	}
	return w.err
}

// s3File adapts a minio Object to iceberg-go's io.File.
type s3File struct {
	*minio.Object
	info s3Info
}

func (f *s3File) Stat() (fs.FileInfo, error) { return f.info, nil }

type s3Info struct {
	name string
	size int64
	mod  time.Time
}

func (i s3Info) Name() string       { return i.name }
func (i s3Info) Size() int64        { return i.size }
func (i s3Info) Mode() fs.FileMode  { return 0o444 }
func (i s3Info) ModTime() time.Time { return i.mod }
func (i s3Info) IsDir() bool        { return false }
func (i s3Info) Sys() any           { return nil }
