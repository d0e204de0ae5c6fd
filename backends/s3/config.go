package s3

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lectern/lectern/core/storage"
)

// Defaults. The part size and concurrency bound the memory of one streaming put:
// the transfer manager holds (Concurrency+1) part buffers, plus the first part, which
// it reads with io.ReadAll (growing, so about twice its size is allocated): with
// 8 MiB × (2+1) + ~2 × 8 MiB, about 40 MiB live per large upload in flight, and a
// peak of about 36 MiB of heap and 61 MiB of resident memory for a whole process
// doing a 1 GiB upload (BenchmarkPeakMemoryPut1GiB, docs/benchmarks-s3.md: under the
// 64 MiB bar). On a quiet test machine 8 MiB × 2 put 256 MiB at a median 0.915 of
// minio-go's PutObject (ten rounds), where 5 MiB × 3 reached 0.86: fewer, larger
// requests cost less CPU per byte; 8 MiB × 3 went over the memory bar. Against
// distant servers, raise Concurrency. An upload of unknown length is capped at
// 10,000 parts, 78 GiB; a put whose size is known picks larger parts when it needs
// them.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 2
	// The retry budget rides over a server restart of a second or two and a short
	// burst of throttling, but no longer: a server that is down fails the request in
	// about 3 s (at most 4 s), and lecternd answers 503 with Retry-After, which tus
	// clients retry. (The earlier 5 attempts with backoff up to 5 s held every request
	// 12 s during an outage, measured with TestEndToEndStorageOutage.)
	DefaultMaxAttempts = 3
	DefaultMaxBackoff  = 2 * time.Second
	// maxMaxAttempts and maxMaxBackoff bound what a URL may ask for.
	maxMaxAttempts = 20
	maxMaxBackoff  = time.Minute
	// minPartSize is S3's lower limit for every part but the last.
	minPartSize = 5 << 20
	// maxParts is S3's limit on the number of parts of one upload.
	maxParts = 10000
	// failTimeout bounds the clean-up (AbortMultipartUpload) of a failed upload. It runs
	// on a fresh context, so that an upload whose own context was cancelled still
	// leaves no parts behind.
	failTimeout = 30 * time.Second
	// DefaultTimeout bounds, per attempt, how long a request waits for the server
	// without receiving a byte (or without the server taking a byte of the request):
	// a server that hangs rather than refusing connections then fails the attempt,
	// and with DefaultMaxAttempts the request, in about 3 × 10 s plus the backoff
	// (Config.Timeout). A healthy server sends a response's headers well within it
	// (a put's part only once its bytes are in: the wait starts when they are sent).
	DefaultTimeout = 10 * time.Second
	// maxTimeout bounds what a URL may ask for.
	maxTimeout = 10 * time.Minute
	// slowTimeout replaces Timeout, when shorter, for the two requests a server may
	// answer only once it has moved the bytes: UploadPartCopy (Compose copies parts of
	// up to 5 GiB; Lectern's are 64 MiB) and CompleteMultipartUpload (AWS sends the
	// status early and then keeps the connection alive with spaces while it works,
	// but other servers need not).
	slowTimeout = 2 * time.Minute
)

// Config configures a Driver. Only Bucket is required.
type Config struct {
	// Bucket is the bucket that holds the objects. It must exist.
	Bucket string
	// Prefix, when not empty, is a folder inside the bucket under which every key is
	// stored ("lectern" stores key "a/b" as object "lectern/a/b").
	Prefix string
	// Region is the bucket's region. Empty: from the AWS configuration chain, or
	// "us-east-1" when the chain has none (what MinIO and most third-party servers
	// expect).
	Region string
	// Endpoint is the server's base URL (http://127.0.0.1:9000) for S3-compatible
	// servers; empty for AWS.
	Endpoint string
	// UsePathStyle addresses the bucket in the path rather than in the host name, as
	// MinIO and most third-party servers need.
	UsePathStyle bool
	// Profile selects a profile of the shared AWS configuration files.
	Profile string
	// AccessKeyID and SecretAccessKey (and SessionToken) are static credentials. When
	// empty, credentials come from the standard AWS chain: environment variables,
	// shared configuration and credential files, web identity, container and instance
	// roles.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// PartSize is the multipart part size (default DefaultPartSize, at least 5 MiB).
	PartSize int64
	// Concurrency is the number of parts of one upload sent at once (default
	// DefaultConcurrency).
	Concurrency int
	// MaxAttempts is the number of attempts per request, first included, for
	// throttling, 5xx and connection errors (default DefaultMaxAttempts).
	MaxAttempts int
	// MaxBackoff caps the exponential backoff between attempts (default
	// DefaultMaxBackoff).
	MaxBackoff time.Duration
	// Timeout is how long an attempt waits for the server without a byte arriving
	// (for the response's headers, or in its body) or being taken (the request's
	// body), and bounds connecting; then the attempt fails and is retried like a lost
	// connection (default DefaultTimeout). UploadPartCopy and CompleteMultipartUpload
	// wait at least 2 minutes.
	Timeout time.Duration

	// wrapHTTPClient, when set (by this package's tests only), wraps each HTTP client
	// requests go through (the one for most, then the slow requests' one), to see
	// what the SDK sends.
	wrapHTTPClient func(aws.HTTPClient) aws.HTTPClient
}

func (c *Config) setDefaults() error {
	if c.Bucket == "" {
		return fmt.Errorf("no bucket")
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Prefix != "" {
		if err := storage.ValidateKey(c.Prefix); err != nil {
			return fmt.Errorf("prefix: %w", err)
		}
		c.Prefix += "/"
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return fmt.Errorf("static credentials need both an access key id and a secret access key")
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < minPartSize {
		return fmt.Errorf("part size %d is below S3's minimum of %d bytes", c.PartSize, minPartSize)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return nil
}

// New returns a driver for the bucket described by cfg. It loads the AWS
// configuration but does not contact the server.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("s3: %w", err))
	}

	// The SDK's buildable client (so that the chain can still add a custom CA bundle),
	// with the stall timeouts (stall.go) and a larger idle pool for many concurrent
	// readers. It is frozen after loading so that Close can release its connections.
	var dial dialFunc
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = min(d.Timeout, cfg.Timeout) }).
		WithTransportOptions(func(tr *http.Transport) {
			dial = tr.DialContext
			stallTimeouts(tr, dial, cfg.Timeout)
			tr.MaxIdleConns = 256
			tr.MaxIdleConnsPerHost = 128
		})

	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Third-party S3 servers (MinIO among them) do not all accept the flexible
		// checksums that newer SDKs send by default; only send or check them where an
		// operation requires it.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
				// The standard retryer's client-side token bucket would, after a long
				// outage, refuse retries for a while even once the server is back:
				// the same driver must recover as soon as the server does.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("s3: loading the AWS configuration: %w", err))
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	var idle []idleCloser
	slowClient := awsCfg.HTTPClient
	if bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		// The slow requests' client is the same but for its timeout (and its own
		// connections, whose deadlines are its own).
		slow := bc.WithTransportOptions(func(tr *http.Transport) { stallTimeouts(tr, dial, max(cfg.Timeout, slowTimeout)) }).Freeze()
		frozen := bc.Freeze()
		awsCfg.HTTPClient, slowClient = frozen, slow
		for _, c := range []aws.HTTPClient{frozen, slow} {
			if ic, ok := c.(idleCloser); ok {
				idle = append(idle, ic)
			}
		}
	}
	if cfg.wrapHTTPClient != nil {
		awsCfg.HTTPClient = cfg.wrapHTTPClient(awsCfg.HTTPClient)
		slowClient = cfg.wrapHTTPClient(slowClient)
	}
	slowOp := func(o *s3api.Options) { o.HTTPClient = slowClient }

	client := s3api.NewFromConfig(awsCfg, func(o *s3api.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
	})

	// The transfer helper: feature/s3/transfermanager v0.5.4, the successor of the
	// deprecated feature/s3/manager. v0.5.4 is the release built against exactly the
	// SDK versions pinned in go.mod (core v1.47.7, service/s3 v1.114.8), and it has what
	// this driver needs that manager lacks: FailTimeout, which aborts a failed or
	// cancelled multipart upload on a fresh context (manager aborts on the caller's
	// context, so a cancelled upload left its parts behind), and If-Match /
	// If-None-Match passed through to CompleteMultipartUpload.
	uploader := transfermanager.New(slowCompletes{Client: client, slowOp: slowOp}, func(o *transfermanager.Options) {
		o.PartSizeBytes = cfg.PartSize
		// Objects smaller than one part go up as a single PutObject.
		o.MultipartUploadThreshold = cfg.PartSize
		o.Concurrency = cfg.Concurrency
		o.FailTimeout = failTimeout
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})

	return &Driver{
		client:   client,
		slowOp:   slowOp,
		uploader: uploader,
		idle:     idle,
		bucket:   cfg.Bucket,
		prefix:   cfg.Prefix,
		partSize: cfg.PartSize,
	}, nil
}

// idleCloser is the part of *http.Client that Close uses.
type idleCloser interface{ CloseIdleConnections() }

// slowCompletes is the client the transfer manager uses: its CompleteMultipartUpload
// goes through the slow requests' client (see slowTimeout). The transfer manager's
// own options come after, as it expects: it wraps the client it is given.
type slowCompletes struct {
	*s3api.Client
	slowOp func(*s3api.Options)
}

func (c slowCompletes) CompleteMultipartUpload(ctx context.Context, in *s3api.CompleteMultipartUploadInput, opts ...func(*s3api.Options)) (*s3api.CompleteMultipartUploadOutput, error) {
	return c.Client.CompleteMultipartUpload(ctx, in, append([]func(*s3api.Options){c.slowOp}, opts...)...)
}

// OpenURL opens s3://bucket/prefix?endpoint=URL&region=NAME&path_style=true&profile=NAME
// &max_attempts=N&max_backoff=DURATION&timeout=DURATION. Every query parameter is
// optional.
// Credentials never go in the URL (URLs end up in logs and process listings): they
// come from the standard AWS chain, for instance the AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY environment variables.
func OpenURL(ctx context.Context, u *url.URL) (*Driver, error) {
	bad := func(format string, args ...any) error {
		return storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("s3 URL: "+format, args...))
	}
	if u.Scheme != "s3" {
		return nil, bad("scheme is %q, want s3", u.Scheme)
	}
	if u.User != nil {
		return nil, bad("credentials in the URL are refused; use the AWS environment variables or shared configuration")
	}
	if u.Host == "" {
		return nil, bad("no bucket (want s3://bucket/prefix)")
	}
	cfg := Config{Bucket: u.Host, Prefix: u.Path}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// u.Query() would drop the pair silently (an endpoint lost to a typo sends
		// the requests to AWS), and the parser's error would quote the value.
		return nil, bad("the query does not parse (percent-encode '%%', '&' and '=' in values)")
	}
	for name, values := range query {
		if len(values) != 1 {
			return nil, bad("parameter %q given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "endpoint":
			// The endpoint is quoted back only redacted: it may carry credentials.
			e, err := url.Parse(v)
			switch {
			case err != nil:
				return nil, bad("endpoint does not parse as a URL")
			case e.User != nil:
				return nil, bad("endpoint %q: credentials in the URL are refused; use the AWS environment variables or shared configuration", e.Redacted())
			case (e.Scheme != "http" && e.Scheme != "https") || e.Host == "":
				return nil, bad("endpoint %q is not an http(s) URL", e.Redacted())
			}
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad("path_style %q is not a boolean", v)
			}
			cfg.UsePathStyle = b
		case "profile":
			cfg.Profile = v
		case "max_attempts":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxMaxAttempts {
				return nil, bad("max_attempts %q is not a number from 1 to %d", v, maxMaxAttempts)
			}
			cfg.MaxAttempts = n
		case "max_backoff":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > maxMaxBackoff {
				return nil, bad("max_backoff %q is not a duration over 0 and up to %s", v, maxMaxBackoff)
			}
			cfg.MaxBackoff = d
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > maxTimeout {
				return nil, bad("timeout %q is not a duration over 0 and up to %s", v, maxTimeout)
			}
			cfg.Timeout = d
		default:
			return nil, bad("unknown parameter %q (known: endpoint, region, path_style, profile, max_attempts, max_backoff, timeout)", name)
		}
	}
	return New(ctx, cfg)
}
