package redislock

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-sync/sync/internal/keys"
	"github.com/redis/go-redis/v9"
)

// FencedStore keeps values in Redis guarded by fencing tokens: a write is
// accepted only if its token is >= the highest token the resource has
// accepted, checked and applied atomically in one script. A holder whose
// lock was lost (paused past its TTL, say) and who writes anyway with its
// old token is rejected once a newer holder has written. It is safe for
// concurrent use.
//
// The resource lives at <prefix>:fenced:{<resource>} (a hash with fields
// token and value), on one Redis (or one Cluster slot): fencing is a check
// made by the storage, so it needs no quorum.
type FencedStore struct {
	client redis.UniversalClient
	keys   keys.Space
}

// NewFencedStore returns a FencedStore on client under prefix ("" means
// the default, "sync").
func NewFencedStore(client redis.UniversalClient, prefix string) (*FencedStore, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	if prefix == "" {
		prefix = keys.DefaultPrefix
	}
	ks, err := keys.New(prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	return &FencedStore{client: client, keys: ks}, nil
}

// Write stores value for resource if token is >= the highest token the
// resource has accepted. It returns an error wrapping ErrStaleToken (and
// changes nothing) when a higher token was accepted before, ErrWrongType
// when the key holds another type, ErrInvalidName for an empty resource.
func (f *FencedStore) Write(ctx context.Context, resource string, token uint64, value string) error {
	if err := validName(resource); err != nil {
		return err
	}
	res, err := fencedWriteScript.Run(ctx, f.client, []string{f.keys.FenceKey(resource)}, strconv.FormatUint(token, 10), value).Slice()
	if err != nil {
		if isWrongType(err) {
			return fmt.Errorf("%w: %q: %v", ErrWrongType, resource, err)
		}
		return err
	}
	if len(res) != 2 {
		return fmt.Errorf("redislock: unexpected fenced write reply %v", res)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return fmt.Errorf("%w: %q: token %d, resource has accepted %v", ErrStaleToken, resource, token, res[1])
	}
	return nil
}

// Read returns the value of resource and the token that wrote it; a
// resource never written reads as "", 0 and no error.
func (f *FencedStore) Read(ctx context.Context, resource string) (value string, token uint64, err error) {
	if err := validName(resource); err != nil {
		return "", 0, err
	}
	vals, err := f.client.HMGet(ctx, f.keys.FenceKey(resource), "token", "value").Result()
	if err != nil {
		if isWrongType(err) {
			return "", 0, fmt.Errorf("%w: %q: %v", ErrWrongType, resource, err)
		}
		return "", 0, err
	}
	if vals[0] == nil {
		return "", 0, nil
	}
	ts, _ := vals[0].(string)
	token, err = strconv.ParseUint(ts, 10, 64)
	if err != nil {
		return "", 0, errors.New("redislock: corrupt fenced token " + strconv.Quote(ts))
	}
	value, _ = vals[1].(string)
	return value, token, nil
}
