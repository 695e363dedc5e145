package redistask

import (
	"embed"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/internal/script"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

var (
	pushScript    = script.Load(scriptFS, "scripts/push.lua")
	ackScript     = script.Load(scriptFS, "scripts/ack.lua")
	retryScript   = script.Load(scriptFS, "scripts/retry.lua")
	deadScript    = script.Load(scriptFS, "scripts/dead.lua")
	promoteScript = script.Load(scriptFS, "scripts/promote.lua")
	tickScript    = script.Load(scriptFS, "scripts/tick.lua")
	requeueScript = script.Load(scriptFS, "scripts/requeue.lua")
)

// group is the consumer group of every queue.
const group = "workers"

var (
	// ErrInvalidName is returned for an empty queue or task name.
	ErrInvalidName = errors.New("redistask: invalid name")
	// ErrBadOption is returned for an unusable configuration.
	ErrBadOption = errors.New("redistask: invalid option")
	// ErrPayloadTooLarge is returned by Push for a payload over MaxPayload;
	// nothing is enqueued.
	ErrPayloadTooLarge = errors.New("redistask: payload too large")
	// ErrDuplicate is returned by Push for a task whose ID was pushed within
	// the dedupe window; the error message carries the first push's entry.
	ErrDuplicate = errors.New("redistask: duplicate task id")
	// ErrClosed is returned by a Worker or Scheduler run twice, or after Close.
	ErrClosed = errors.New("redistask: closed")
	// ErrTimeout is returned by a distributed Run whose replies did not all
	// arrive in time.
	ErrTimeout = errors.New("redistask: timed out")
	// ErrDeadLettered is wrapped by a RunCommand error for a run that a
	// worker dead-lettered instead of running: no handler was registered
	// for the command on the worker that read it ("unknown-name"), or the
	// run kept killing its workers ("reclaimed").
	ErrDeadLettered = errors.New("redistask: dead-lettered")
	// ErrWrongType is returned when a queue key holds another Redis type.
	ErrWrongType = errors.New("redistask: key holds the wrong type")
)

// queueKeys are the keys of one queue; all share the hash tag {queue}.
type queueKeys struct {
	stream, delayed, retry, dead string
	space                        keys.Space
	queue                        string
}

func newQueueKeys(s keys.Space, queue string) (queueKeys, error) {
	if queue == "" {
		return queueKeys{}, fmt.Errorf("%w: empty queue", ErrInvalidName)
	}
	return queueKeys{
		stream:  s.Key("task", queue, "stream"),
		delayed: s.Key("task", queue, "delayed"),
		retry:   s.Key("task", queue, "retry"),
		dead:    s.Key("task", queue, "dead"),
		space:   s,
		queue:   queue,
	}, nil
}

func (k queueKeys) unique(id string) string { return k.space.Key("task", k.queue, "unique", id) }
func (k queueKeys) tick(name string, at int64) string {
	return k.space.Key("task", k.queue, "tick", name, strconv.FormatInt(at, 10))
}
func (k queueKeys) reply(run string) string { return k.space.Key("task", k.queue, "reply", run) }

// waiting is the marker a RunCommand caller keeps while it waits for run's
// reports; a worker that dead-letters one of the runs reports it then.
func (k queueKeys) waiting(run string) string {
	return k.space.Key("task", k.queue, "waiting", run)
}

func wrapErr(err error) error {
	if err != nil && containsWrongType(err) {
		return fmt.Errorf("%w: %v", ErrWrongType, err)
	}
	return err
}

func containsWrongType(err error) bool {
	s := err.Error()
	for i := 0; i+9 <= len(s); i++ {
		if s[i:i+9] == "WRONGTYPE" {
			return true
		}
	}
	return false
}
