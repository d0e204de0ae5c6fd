package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// A server that hangs (accepts connections, then answers nothing) must fail a
// request, not hold it for as long as the caller's context allows, which for a
// background task may be forever. net/http bounds only the wait for a response's
// headers (Transport.ResponseHeaderTimeout); a body that stops arriving midway, or a
// request body the server stops taking, waits without end. The SDK's read timeout
// (BuildableClient.WithReadTimeout) sets a connection's read deadline when a read
// starts, but the transport starts its read of a connection when the connection
// goes idle, so a request sent on a connection idle for most of the window would
// get only the rest of it; and it sets no write deadline. Hence stallConn below.

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// stallTimeouts makes tr fail an attempt once timeout passes without the server
// sending a byte (headers or body) while one is awaited, or taking a byte of the
// request; dial is the transport's own dialer.
func stallTimeouts(tr *http.Transport, dial dialFunc, timeout time.Duration) {
	tr.ResponseHeaderTimeout = timeout
	// HTTP/1.1 only (S3 and MinIO speak nothing else): over HTTP/2 one connection
	// carries every request, and it would go silent, and so be dropped, while all its
	// streams wait for slow callers.
	tr.ForceAttemptHTTP2 = false
	if dial == nil {
		dial = (&net.Dialer{Timeout: timeout}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, timeout: timeout}, nil
	}
}

// stallConn gives every read, and every write, timeout to move a byte: the read
// deadline moves on when a read starts and when a request is written (so that its
// answer gets the whole window), the write deadline when a write starts. A body that
// the caller reads slowly is not read from the connection meanwhile, so only the
// server's silence counts. An idle connection's read ends after timeout too: the
// transport then drops it from its pool, as it drops one the server closed.
type stallConn struct {
	net.Conn
	timeout time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The SDK's own type for it: a timeout, retried as a lost connection is.
		err = &awshttp.ResponseTimeoutError{TimeoutDur: c.timeout}
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("s3: the server took no byte of the request for %v: %w", c.timeout, err)
	}
	if n > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	return n, err
}
