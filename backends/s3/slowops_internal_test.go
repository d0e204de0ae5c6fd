package s3

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/core/storage"
)

// requestLog notes whether each request through its client was one of the slow ones.
type requestLog struct {
	wrapped    aws.HTTPClient
	mu         sync.Mutex
	slow, fast int
	copies     int
}

// isSlowRequest reports whether req is an UploadPartCopy or a CompleteMultipartUpload.
func isSlowRequest(req *http.Request) bool {
	return isCopyPart(req) || req.Method == http.MethodPost && req.URL.Query().Has("uploadId")
}

func isCopyPart(req *http.Request) bool {
	return req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") != "" && req.URL.Query().Has("partNumber")
}

func (l *requestLog) Do(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	switch {
	case isCopyPart(req):
		l.slow++
		l.copies++
	case isSlowRequest(req):
		l.slow++
	default:
		l.fast++
	}
	l.mu.Unlock()
	return l.wrapped.Do(req)
}

// TestSlowRequestsUseTheLongerTimeout: UploadPartCopy and CompleteMultipartUpload,
// which a server may answer only once it has moved the bytes, go through the HTTP
// client whose timeout is at least slowTimeout (of a multipart put and of a compose);
// every other request through the one with Config.Timeout, here 1 s.
//
// A proxy in front of MinIO holds back the answers to those two requests for longer
// than Config.Timeout, so that they fail if their client had the short timeout.
func TestSlowRequestsUseTheLongerTimeout(t *testing.T) {
	srv := minio.Start(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target) // keeps the Host header, so signatures hold
	proxy.ModifyResponse = func(resp *http.Response) error {
		if isSlowRequest(resp.Request) {
			time.Sleep(1500 * time.Millisecond) // past Config.Timeout below
		}
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	var clients []*requestLog
	d, err := New(context.Background(), Config{
		Bucket: srv.NewBucket(t), Endpoint: front.URL, Region: srv.Region, UsePathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PartSize: minPartSize, Timeout: time.Second,
		wrapHTTPClient: func(c aws.HTTPClient) aws.HTTPClient {
			l := &requestLog{wrapped: c}
			clients = append(clients, l)
			return l
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if len(clients) != 2 {
		t.Fatalf("%d HTTP clients wrapped, want 2 (the usual one, then the slow requests' one)", len(clients))
	}
	b := storage.NewBucket(d)
	ctx := context.Background()
	large := bytes.Repeat([]byte("m"), 2*minPartSize+1)
	if _, err := b.Put(ctx, "a", bytes.NewReader(large), storage.PutOptions{Size: int64(len(large))}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutBytes(ctx, "b", []byte("tail"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Compose(ctx, "c", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	got, _, err := b.ReadAll(ctx, "c")
	if err != nil || !bytes.Equal(got, append(large, "tail"...)) {
		t.Fatalf("composed object: %d bytes, %v", len(got), err)
	}
	usual, slow := clients[0], clients[1]
	if usual.slow != 0 {
		t.Errorf("%d part copies or completions went through the client with the short timeout", usual.slow)
	}
	if slow.fast != 0 {
		t.Errorf("%d other requests went through the slow requests' client", slow.fast)
	}
	if slow.copies == 0 || slow.slow-slow.copies < 2 {
		t.Errorf("the slow requests' client saw %d part copies and %d completions, want some and 2", slow.copies, slow.slow-slow.copies)
	}
}
