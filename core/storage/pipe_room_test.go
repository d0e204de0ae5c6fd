package storage_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// TestPipeRoomCarriesTheBytes: bytes produced in the room the pipe lends (Room,
// Commit), mixed with ordinary Writes, reach the reader in order, whatever the sizes:
// rooms that fit the chunk being filled, that do not (the chunk goes out partly
// filled), larger than a chunk, and commits of less than the room asked for.
func TestPipeRoomCarriesTheBytes(t *testing.T) {
	data := make([]byte, 3*storage.PipeChunkSize+4321)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	tests := []struct {
		name string
		// steps cycle: a positive n is a Room(n) filled and committed whole, a
		// negative one a Write of -n bytes; ask > n rooms ask for more than they fill.
		steps []int
		ask   int
	}{
		{"segments", []int{65552}, 0},
		{"segments and writes", []int{65552, -100, 7, -65536}, 0},
		{"larger than a chunk", []int{storage.PipeChunkSize + 1, 3}, 0},
		{"commits less than asked", []int{1000}, 70000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := storage.NewPipe()
			wrote := make(chan error, 1)
			go func() {
				rest := data
				var err error
				for i := 0; len(rest) > 0 && err == nil; i++ {
					n := tc.steps[i%len(tc.steps)]
					if n < 0 {
						k := min(-n, len(rest))
						_, err = p.Write(rest[:k])
						rest = rest[k:]
						continue
					}
					k := min(n, len(rest))
					var room []byte
					if room, err = p.Room(max(k, tc.ask)); err != nil {
						break
					}
					if len(room) != 0 || cap(room) < max(k, tc.ask) {
						err = errors.New("Room lent the wrong buffer")
						break
					}
					room = append(room, rest[:k]...)
					err = p.Commit(len(room))
					rest = rest[k:]
				}
				p.CloseWrite(err)
				wrote <- err
			}()
			var got bytes.Buffer
			if _, err := io.Copy(&got, p); err != nil {
				t.Fatal(err)
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("read %d bytes, not the %d produced", got.Len(), len(data))
			}
		})
	}
}

// TestPipeRoomAfterAClose: Room fails as Write does once the reader gave up or the
// writer closed.
func TestPipeRoomAfterAClose(t *testing.T) {
	gaveUp := errors.New("put ended")
	p := storage.NewPipe()
	p.CloseRead(gaveUp)
	// The chunk being filled has no room for a second segment: Room hands it over,
	// which the reader's close refuses.
	if _, err := p.Room(storage.PipeChunkSize - 10); err != nil {
		t.Fatalf("the first room: %v", err)
	}
	if err := p.Commit(storage.PipeChunkSize - 10); err != nil {
		t.Fatalf("a commit that leaves room: %v", err)
	}
	if _, err := p.Room(100); !errors.Is(err, gaveUp) {
		t.Fatalf("Room after the reader gave up: %v; want its error", err)
	}

	p = storage.NewPipe()
	p.CloseWrite(nil)
	if _, err := p.Room(10); err == nil {
		t.Fatal("Room after CloseWrite succeeded")
	}
}

// TestPipeRoomLargerThanAnEmptyChunk: a room larger than the empty chunk being filled
// replaces it rather than handing the reader an empty chunk (a Read of 0 bytes).
func TestPipeRoomLargerThanAnEmptyChunk(t *testing.T) {
	p := storage.NewPipe()
	if _, err := p.Room(10); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(0); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("z"), storage.PipeChunkSize+5)
	go func() {
		room, err := p.Room(len(want))
		if err == nil {
			err = p.Commit(len(append(room, want...)))
		}
		p.CloseWrite(err)
	}()
	buf := make([]byte, 2*len(want))
	n, err := p.Read(buf)
	if n != len(want) || err != nil {
		t.Fatalf("the first Read: %d bytes, %v; want the %d committed", n, err, len(want))
	}
	if n, err := p.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("then: %d, %v; want io.EOF", n, err)
	}
}
