package smb

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/storage"
)

// flushCounter is a TCP proxy in front of the test Samba that counts the SMB2 FLUSH
// requests the client sends: the one way to see, on a real server, that a write is
// made durable before the driver reports it stored. It reads the client's frames
// (a 4-byte length, then SMB2 messages, compounded through NextCommand); the test
// share is not encrypted, so the headers are in the clear.
type flushCounter struct {
	ln      net.Listener
	flushes atomic.Int64
	wg      sync.WaitGroup
}

const smb2Flush = 0x0007

func newFlushCounter(t *testing.T, target string) *flushCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flushCounter{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Go(func() { io.Copy(c, s); c.Close() })
			p.wg.Go(func() { p.forward(s, c); s.Close() })
		}
	})
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// forward copies the client's frames to the server, counting FLUSH requests.
func (p *flushCounter) forward(dst io.Writer, src io.Reader) {
	var head [4]byte
	for {
		if _, err := io.ReadFull(src, head[:]); err != nil {
			return
		}
		frame := make([]byte, binary.BigEndian.Uint32(head[:])&0xFFFFFF)
		if _, err := io.ReadFull(src, frame); err != nil {
			return
		}
		for msg := frame; len(msg) >= 64 && string(msg[:4]) == "\xfeSMB"; {
			if binary.LittleEndian.Uint16(msg[12:14]) == smb2Flush {
				p.flushes.Add(1)
			}
			next := binary.LittleEndian.Uint32(msg[20:24])
			if next == 0 || int(next) > len(msg) {
				break
			}
			msg = msg[next:]
		}
		if _, err := dst.Write(append(head[:], frame...)); err != nil {
			return
		}
	}
}

// TestPutFlushesBeforeItReturns: a put asks the server to flush the file before it
// is renamed into place (as Append does), so that a file server losing power after
// the put returned cannot bring the name back without its bytes.
func TestPutFlushesBeforeItReturns(t *testing.T) {
	srv := samba.Start(t)
	folder := srv.NewFolder(t)
	proxy := newFlushCounter(t, srv.Host)
	u, err := url.Parse(srv.URL(folder) + "?password_file=" + url.QueryEscape(srv.PasswordFile(t)))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.ln.Addr().String()
	d, err := OpenURL(testCtx(t), u)
	if err != nil {
		t.Fatalf("OpenURL through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	bk := storage.NewBucket(d)
	for _, tc := range []struct {
		name string
		cond storage.Condition
	}{{"plain", storage.Condition{}}, {"create-only", storage.Condition{IfNotExists: true}}} {
		before := proxy.flushes.Load()
		if _, err := bk.PutBytes(testCtx(t), "flush/"+tc.name, []byte("durable bytes"), tc.cond); err != nil {
			t.Fatal(err)
		}
		if proxy.flushes.Load() == before {
			t.Errorf("%s put: no SMB2 FLUSH was sent before it returned", tc.name)
		}
	}
	if _, err := bk.PutBytes(testCtx(t), "flush/plain", []byte("x"), storage.Condition{IfNotExists: true}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("the proxy does not carry the share faithfully: %v", err)
	}
}
