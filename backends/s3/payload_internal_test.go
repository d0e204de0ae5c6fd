package s3

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/core/storage"
)

// payloadRecorder records the X-Amz-Content-Sha256 header of every request that
// carries a body, through whichever of the driver's HTTP clients it goes.
type payloadRecorder struct {
	mu     sync.Mutex
	hashes []string
}

func (r *payloadRecorder) wrap(c aws.HTTPClient) aws.HTTPClient {
	return &recordingClient{r: r, wrapped: c}
}

type recordingClient struct {
	r       *payloadRecorder
	wrapped aws.HTTPClient
}

func (c *recordingClient) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") == "" {
		c.r.mu.Lock()
		c.r.hashes = append(c.r.hashes, req.Header.Get("X-Amz-Content-Sha256"))
		c.r.mu.Unlock()
	}
	return c.wrapped.Do(req)
}

// unsignedPayload is SigV4's sentinel for a body the signature does not cover.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// TestPayloadSignedOnlyWithoutTLS checks what docs/benchmarks-s3.md and the
// operations guide rely on: although this driver asks for checksums only where an
// operation requires them, the SDK leaves a put's body out of the signature over
// HTTPS (TLS protects it; no SHA-256 of every byte), and signs it with its SHA-256
// over plain HTTP. Both are accepted by a real MinIO, for a single put and for every
// part of a multipart upload, and read back intact. The HTTPS server's certificate is
// trusted the way a user trusts a private CA: AWS_CA_BUNDLE.
func TestPayloadSignedOnlyWithoutTLS(t *testing.T) {
	sha256Hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	tests := []struct {
		name  string
		start func(testing.TB) *minio.Server
		want  func(string) bool
	}{
		{"http", minio.Start, sha256Hex.MatchString},
		{"https", minio.StartTLS, func(h string) bool { return h == unsignedPayload }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.start(t)
			if srv.CACertFile != "" {
				t.Setenv("AWS_CA_BUNDLE", srv.CACertFile)
			}
			rec := &payloadRecorder{}
			d, err := New(context.Background(), Config{
				Bucket: srv.NewBucket(t), Endpoint: srv.Endpoint, Region: srv.Region, UsePathStyle: true,
				AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
				PartSize: minPartSize, wrapHTTPClient: rec.wrap,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			b := storage.NewBucket(d)
			ctx := context.Background()
			objects := map[string][]byte{
				"single":    bytes.Repeat([]byte("s"), 1000),
				"multipart": bytes.Repeat([]byte("m"), 2*minPartSize+1),
			}
			for key, data := range objects {
				// Hidden behind Read only, as the engine's encrypting stream is.
				r := struct{ io.Reader }{bytes.NewReader(data)}
				if _, err := b.Put(ctx, key, r, storage.PutOptions{}); err != nil {
					t.Fatalf("Put(%s): %v", key, err)
				}
				got, _, err := b.ReadAll(ctx, key)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("ReadAll(%s): %d bytes, %v; want the %d bytes put", key, len(got), err, len(data))
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.hashes) < 4 { // the single put and three parts
				t.Fatalf("saw %d puts with a body, want at least 4", len(rec.hashes))
			}
			for i, h := range rec.hashes {
				if !tt.want(h) {
					t.Errorf("put %d sent X-Amz-Content-Sha256 %q", i, h)
				}
			}
		})
	}
}
