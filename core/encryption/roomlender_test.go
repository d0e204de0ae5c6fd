package encryption

import (
	"bytes"
	"errors"
	"testing"
)

// lender is a RoomLender over a bytes.Buffer that records how segments arrived.
type lender struct {
	out     bytes.Buffer
	room    []byte
	asked   int
	rooms   int // segments sealed in lent room
	writes  int // plain Writes (the header)
	failAt  int // Room fails on this call (1-based; 0: never)
	commits int
}

func (l *lender) Write(p []byte) (int, error) { l.writes++; return l.out.Write(p) }

func (l *lender) Room(n int) ([]byte, error) {
	l.rooms++
	if l.rooms == l.failAt {
		return nil, errors.New("the reader gave up")
	}
	l.asked = n
	l.room = make([]byte, 0, n)
	return l.room, nil
}

func (l *lender) Commit(n int) error {
	l.commits++
	if n > l.asked {
		return errors.New("committed more than the room asked for")
	}
	l.out.Write(l.room[:n])
	return nil
}

// TestWriterSealsInLentRoom: a destination that lends room gets the same bytes as a
// plain one, every segment sealed in its room (no copy through the Writer's buffer),
// for every interesting size and write pattern.
func TestWriterSealsInLentRoom(t *testing.T) {
	key := testKey(t, 3)
	random := bytes.Repeat([]byte{0x5a}, saltSize+noncePrefixSize)
	for _, size := range sizesFor(smallLog) {
		for _, chunk := range []int{0, 1, 100, 241} {
			pt := pattern(size, uint64(size))
			var plain bytes.Buffer
			w, err := newWriter(&plain, key, smallLog, bytes.NewReader(random))
			if err != nil {
				t.Fatal(err)
			}
			writeChunks(t, w, pt, chunk)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			l := &lender{}
			w, err = newWriter(l, key, smallLog, bytes.NewReader(random))
			if err != nil {
				t.Fatal(err)
			}
			writeChunks(t, w, pt, chunk)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(l.out.Bytes(), plain.Bytes()) {
				t.Fatalf("size %d, writes of %d: the lender got other bytes than a plain writer", size, chunk)
			}
			if l.writes != 1 || l.commits != int(w.Segments()) {
				t.Fatalf("size %d: %d plain writes and %d commits for %d segments; want the header written and every segment committed",
					size, l.writes, l.commits, w.Segments())
			}
		}
	}
}

// TestWriterLentRoomFailure: a Room that fails fails the Write, and the Writer stays
// failed.
func TestWriterLentRoomFailure(t *testing.T) {
	l := &lender{failAt: 2}
	w, err := newWriter(l, testKey(t, 1), smallLog, cryptoRand{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1000)); err == nil {
		t.Fatal("a Write whose destination refused room succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("a Write after a failure succeeded")
	}
}
