package redistask

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-sync/sync/tracing"
)

// Task is a unit of work. Producers fill Name, Payload and the optional
// fields; workers see the rest filled in.
type Task struct {
	// ID makes the task unique: a second push with the same ID within the
	// producer's dedupe window is not enqueued. Empty: the stream entry id
	// of the first push identifies the task.
	ID      string
	Name    string // handler name; required
	Payload []byte // opaque to the queue; at most the producer's MaxPayload

	Delay       time.Duration // run no earlier than Delay from the push
	RunAt       time.Time     // run no earlier than RunAt (wins over Delay)
	MaxAttempts int           // attempts before dead-lettering (default 10)
	Timeout     time.Duration // per attempt; the handler's context carries it (default: the worker's)

	// Trace is the W3C trace context of the push. Push fills it from its
	// ctx through the producer's propagator (WithProducerPropagator) when
	// it is empty or malformed; a malformed one is dropped, never stored.
	// Retries, dead letters and requeues keep it; a worker with a
	// propagator (WithWorkerPropagator) puts it in the handler's context.
	Trace tracing.Context

	// Set for handlers.
	Attempt    int       // 1 for the first run
	EnqueuedAt time.Time // first push
	LastError  string    // error of the previous attempt, if any
}

const encodingVersion = 1

// ErrCorrupt reports a stored task that cannot be decoded.
var ErrCorrupt = errors.New("redistask: corrupt task encoding")

// encode writes t as: version, nonce(8), id, name, payload, lastError
// (each uvarint length + bytes), then attempt, maxAttempts, timeout ms,
// enqueued unix ms (uvarints), then the optional trailing strings
// traceparent and tracestate (uvarint length + bytes), written only when
// there is a valid traceparent, so a task without one encodes as before.
// The nonce keeps identical tasks distinct as sorted-set members.
func encode(t *Task) string {
	tc := t.Trace.Valid()
	n := 1 + 8 + 4*binary.MaxVarintLen64 + len(t.ID) + len(t.Name) + len(t.Payload) + len(t.LastError) + 4*binary.MaxVarintLen64
	if tc.TraceParent != "" {
		n += 2*binary.MaxVarintLen64 + len(tc.TraceParent) + len(tc.TraceState)
	}
	b := make([]byte, 0, n)
	b = append(b, encodingVersion)
	var nonce [8]byte
	rand.Read(nonce[:])
	b = append(b, nonce[:]...)
	for _, s := range [][]byte{[]byte(t.ID), []byte(t.Name), t.Payload, []byte(t.LastError)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(t.Attempt))
	b = binary.AppendUvarint(b, uint64(t.MaxAttempts))
	b = binary.AppendUvarint(b, uint64(t.Timeout.Milliseconds()))
	b = binary.AppendUvarint(b, uint64(t.EnqueuedAt.UnixMilli()))
	if tc.TraceParent != "" {
		for _, s := range []string{tc.TraceParent, tc.TraceState} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return string(b)
}

// decode parses what encode wrote. Optional trailing strings that are
// absent are empty; a malformed trace context is dropped.
func decode(s string) (*Task, error) {
	b := []byte(s)
	if len(b) < 9 || b[0] != encodingVersion {
		return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	b = b[9:]
	var fields [4][]byte
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: field %d", ErrCorrupt, i)
		}
		fields[i] = b[k : k+int(n)]
		b = b[k+int(n):]
	}
	var nums [4]uint64
	for i := range nums {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("%w: number %d", ErrCorrupt, i)
		}
		nums[i] = n
		b = b[k:]
	}
	var trailer [2][]byte // traceparent, tracestate
	for i := 0; i < len(trailer) && len(b) > 0; i++ {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: trailing field %d", ErrCorrupt, i)
		}
		trailer[i] = b[k : k+int(n)]
		b = b[k+int(n):]
	}
	if len(b) != 0 || nums[0] > 1<<31 || nums[1] > 1<<31 || nums[2] > math.MaxInt64/uint64(time.Millisecond) || nums[3] > 1<<53 {
		return nil, fmt.Errorf("%w: trailing bytes or range", ErrCorrupt)
	}
	t := &Task{
		ID:          string(fields[0]),
		Name:        string(fields[1]),
		LastError:   string(fields[3]),
		Attempt:     int(nums[0]),
		MaxAttempts: int(nums[1]),
		Timeout:     time.Duration(nums[2]) * time.Millisecond,
		EnqueuedAt:  time.UnixMilli(int64(nums[3])),
		Trace:       tracing.Context{TraceParent: string(trailer[0]), TraceState: string(trailer[1])}.Valid(),
	}
	if len(fields[2]) > 0 {
		t.Payload = fields[2]
	}
	return t, nil
}
