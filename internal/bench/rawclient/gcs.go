package rawclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/ALRubinger/aileron-store/internal/bench"
)

// rawGCS is cloud.google.com/go/storage used directly.
type rawGCS struct {
	c      *storage.Client
	b      *storage.BucketHandle
	prefix string
}

func openRawGCS(ctx context.Context, cfg map[string]string) (bench.Raw, error) {
	if cfg["bucket"] == "" {
		return nil, fmt.Errorf("gcs baseline: config field \"bucket\" is required")
	}
	// JSON reads as the plugin does: the emulator serves no XML API, and a
	// baseline must take the same path to the service.
	opts := []option.ClientOption{storage.WithJSONReads(), storage.WithDisabledClientMetrics(), option.WithTelemetryDisabled()}
	endpoint := cfg["endpoint"]
	if endpoint == "" {
		if h := os.Getenv("STORAGE_EMULATOR_HOST"); h != "" {
			endpoint = h
		}
	}
	if endpoint != "" {
		if !strings.Contains(endpoint, "://") {
			endpoint = "http://" + endpoint
		}
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(endpoint, "/")+"/storage/v1/"), option.WithoutAuthentication())
	} else if f := cfg["credentials_file"]; f != "" {
		opts = append(opts, option.WithCredentialsFile(f))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs baseline: %w", err)
	}
	p := strings.TrimSuffix(cfg["prefix"], "/")
	if p != "" {
		p += "/"
	}
	return &rawGCS{c: c, b: c.Bucket(cfg["bucket"]), prefix: p}, nil
}

func (r *rawGCS) Name() string { return "cloud.google.com/go/storage" }

func (r *rawGCS) Get(ctx context.Context, key string) ([]byte, error) {
	rd, err := r.b.Object(r.prefix + key).NewReader(ctx)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

func (r *rawGCS) Put(ctx context.Context, key string, value []byte) error {
	w := r.b.Object(r.prefix + key).NewWriter(ctx)
	// One request per object, as the plugin writes: the default resumable
	// upload buffers 16 MiB per writer.
	w.ChunkSize = 0
	if _, err := w.Write(value); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func (r *rawGCS) Delete(ctx context.Context, key string) error {
	return r.b.Object(r.prefix + key).Delete(ctx)
}

func (r *rawGCS) keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	it := r.b.Objects(ctx, &storage.Query{Prefix: r.prefix + prefix + "/"})
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, strings.TrimPrefix(o.Name, r.prefix))
	}
}

func (r *rawGCS) List(ctx context.Context, prefix string) (int, error) {
	keys, err := r.keys(ctx, prefix)
	if err != nil {
		return 0, err
	}
	return len(keys), forEach(ctx, keys, func(ctx context.Context, key string) error {
		_, err := r.Get(ctx, key)
		return err
	})
}

func (r *rawGCS) Cleanup(ctx context.Context, prefix string) error {
	keys, err := r.keys(ctx, prefix)
	if err != nil {
		return err
	}
	return forEach(ctx, keys, func(ctx context.Context, key string) error {
		return r.b.Object(r.prefix + key).Delete(ctx)
	})
}

func (r *rawGCS) Close() error { return r.c.Close() }
