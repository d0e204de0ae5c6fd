package storage_test

import (
	"errors"
	"io"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// TestPipeWriterErrorDropsThePartialChunk: a writer that fails with a chunk partly
// filled must hand its error to the reader, not the partial chunk and a clean io.EOF:
// the Put reading the pipe would otherwise store a cut file as if it were whole.
func TestPipeWriterErrorDropsThePartialChunk(t *testing.T) {
	tests := []struct {
		name    string
		written int // bytes written before the error
		want    int // bytes the reader gets before it: whole chunks only
	}{
		{"nothing written", 0, 0},
		{"a partial chunk", 10, 0},
		{"a chunk and a partial one", storage.PipeChunkSize + 10, storage.PipeChunkSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := storage.NewPipe()
			boom := errors.New("client went away")
			go func() {
				if _, err := p.Write(make([]byte, tc.written)); err != nil {
					p.CloseWrite(err)
					return
				}
				p.CloseWrite(boom)
			}()
			got, err := io.ReadAll(onlyReader{p})
			if !errors.Is(err, boom) || len(got) != tc.want {
				t.Fatalf("reader got %d bytes and %v; want %d bytes and the writer's error", len(got), err, tc.want)
			}
		})
	}
}

// TestPipeCloseWriteTwice: CloseWrite is documented idempotent (the first call
// counts); a second call (a deferred close after an explicit one) must neither panic
// on the closed channel nor replace the first call's outcome.
func TestPipeCloseWriteTwice(t *testing.T) {
	tests := []struct {
		name        string
		first       error
		wantReadErr bool
	}{
		{"clean, then an error", nil, false},
		{"an error, then clean", errors.New("first"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := storage.NewPipe()
			if _, err := p.Write([]byte("abc")); err != nil {
				t.Fatal(err)
			}
			p.CloseWrite(tc.first)
			second := errors.New("second")
			if tc.first != nil {
				second = nil
			}
			p.CloseWrite(second)
			got, err := io.ReadAll(p)
			switch {
			case tc.wantReadErr && !errors.Is(err, tc.first):
				t.Fatalf("reader got %q, %v; want the first close's error", got, err)
			case !tc.wantReadErr && (err != nil || string(got) != "abc"):
				t.Fatalf("reader got %q, %v; want \"abc\" and EOF", got, err)
			}
		})
	}
}
