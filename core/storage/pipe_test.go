package storage_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/lectern/lectern/core/storage"
)

// writeAll writes data into p in pieces of the given sizes (cycled), then closes
// the write side with closeErr, in a goroutine; the returned channel gets the first
// Write error.
func writeAll(p *storage.Pipe, data []byte, pieces []int, closeErr error) <-chan error {
	done := make(chan error, 1)
	go func() {
		var werr error
		for i := 0; len(data) > 0; i++ {
			n := min(pieces[i%len(pieces)], len(data))
			if _, err := p.Write(data[:n]); err != nil {
				werr = err
				break
			}
			data = data[n:]
		}
		if werr == nil {
			p.CloseWrite(closeErr)
		} else {
			p.CloseWrite(werr)
		}
		done <- werr
	}()
	return done
}

// onlyReader hides the Pipe's WriteTo, so that io.Copy goes through Read.
type onlyReader struct{ io.Reader }

func TestPipeCarriesTheBytes(t *testing.T) {
	data := make([]byte, 3*storage.PipeChunkSize+12345)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	tests := []struct {
		name    string
		size    int
		pieces  []int
		viaRead bool
	}{
		{"empty", 0, []int{1}, false},
		{"one byte", 1, []int{1}, true},
		{"segments, WriteTo", len(data), []int{65536}, false},
		{"segments, Read", len(data), []int{65536}, true},
		{"odd pieces, WriteTo", len(data), []int{1, 7, 65535, 300000}, false},
		{"odd pieces, Read", len(data), []int{1, 7, 65535, 300000}, true},
		{"exactly one chunk", storage.PipeChunkSize, []int{storage.PipeChunkSize}, false},
		{"one big write", len(data), []int{len(data)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := storage.NewPipe()
			wrote := writeAll(p, data[:tc.size], tc.pieces, nil)
			var got bytes.Buffer
			var err error
			if tc.viaRead {
				_, err = io.CopyBuffer(&got, onlyReader{p}, make([]byte, 1000))
			} else {
				_, err = io.Copy(&got, p)
			}
			if err != nil {
				t.Fatal(err)
			}
			if werr := <-wrote; werr != nil {
				t.Fatal(werr)
			}
			if !bytes.Equal(got.Bytes(), data[:tc.size]) {
				t.Fatalf("read %d bytes, not the %d written", got.Len(), tc.size)
			}
			if n, err := p.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Fatalf("Read after the end: %d, %v; want io.EOF", n, err)
			}
		})
	}
}

func TestPipeWriterErrorAfterItsBytes(t *testing.T) {
	boom := errors.New("the source failed")
	data := bytes.Repeat([]byte("x"), 2*storage.PipeChunkSize)
	for _, viaRead := range []bool{false, true} {
		p := storage.NewPipe()
		wrote := writeAll(p, data, []int{4096}, boom)
		var got bytes.Buffer
		var err error
		if viaRead {
			_, err = io.Copy(&got, onlyReader{p})
		} else {
			_, err = p.WriteTo(&got)
		}
		if !errors.Is(err, boom) {
			t.Fatalf("viaRead=%v: %v; want the writer's error", viaRead, err)
		}
		if got.Len() != len(data) {
			t.Fatalf("viaRead=%v: %d bytes before the error, want the %d whole chunks", viaRead, got.Len(), len(data))
		}
		<-wrote
	}
}

func TestPipeReaderGivingUpStopsTheWriter(t *testing.T) {
	gaveUp := errors.New("put ended")
	p := storage.NewPipe()
	// More than the pipe holds: the writer blocks until the reader gives up.
	wrote := writeAll(p, make([]byte, (storage.PipeDepth+4)*storage.PipeChunkSize), []int{65536}, nil)
	if _, err := p.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	p.CloseRead(gaveUp)
	p.CloseRead(errors.New("a second close is ignored"))
	if err := <-wrote; !errors.Is(err, gaveUp) {
		t.Fatalf("the writer got %v; want the reader's error", err)
	}
	if _, err := p.Write([]byte("late")); err == nil {
		t.Fatal("a Write after the writer closed succeeded")
	}
}

// TestPipeReadAheadIsBounded: a writer whose reader holds back stops after the chunks
// the pipe may hold, so that memory per stream stays bounded. In a synctest bubble,
// Wait returns once the writer is blocked, or after it has written everything it had.
func TestPipeReadAheadIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := storage.NewPipe()
		const bound = (storage.PipeDepth + 1) * storage.PipeChunkSize
		var accepted atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for accepted.Load() <= 4*bound {
				k, err := p.Write(make([]byte, 65536))
				accepted.Add(int64(k))
				if err != nil {
					break
				}
			}
		}()
		synctest.Wait()
		if n := accepted.Load(); n > bound {
			t.Errorf("the writer got %d bytes in with nobody reading; the pipe holds at most %d", n, bound)
		}
		select {
		case <-done:
			t.Errorf("the writer was never held back (%d bytes in)", accepted.Load())
		default:
		}
		p.CloseRead(nil)
		<-done
	})
}
