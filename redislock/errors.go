package redislock

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalidName is returned for an empty lock or resource name.
	ErrInvalidName = errors.New("redislock: invalid name")
	// ErrTaken is returned by TryAcquire when another holder has the lock.
	ErrTaken = errors.New("redislock: taken by another holder")
	// ErrWaitTimeout is returned by Acquire when the wait bound (MaxWait)
	// passed before the lock could be had. The error also wraps the last
	// reason the lock could not be had (ErrTaken or a *QuorumError).
	ErrWaitTimeout = errors.New("redislock: wait bound passed")
	// ErrQuorum is returned when fewer than a majority of the nodes
	// answered; the *QuorumError carrying it lists each node's cause.
	ErrQuorum = errors.New("redislock: quorum unreachable")
	// ErrNotHeld is returned by Release and Extend when the lock is no
	// longer held: it expired, or another holder took it over.
	ErrNotHeld = errors.New("redislock: not held")
	// ErrLost is the cause of a Lock's context (and the value of Err) when
	// the lock was lost before it was released: its validity ran out
	// without a renewal, or a renewal found it gone.
	ErrLost = errors.New("redislock: lock lost")
	// ErrReleased is the cause of a Lock's context (and the value of Err)
	// after Release.
	ErrReleased = errors.New("redislock: lock released")
	// ErrClosed is returned by a Locker after Close.
	ErrClosed = errors.New("redislock: locker closed")
	// ErrWrongType is returned when a key the lock uses holds a value of
	// another Redis type (written by something else); nothing is changed.
	ErrWrongType = errors.New("redislock: key holds the wrong type")
	// ErrStaleToken is returned by FencedStore.Write when the resource has
	// already accepted a higher token: the writer's lock was lost.
	ErrStaleToken = errors.New("redislock: stale fencing token")
)

// NodeError is one node's failure within a quorum operation.
type NodeError struct {
	Node string // address, or "node <i>" when unknown
	Err  error
}

// QuorumError reports an operation that could not reach a majority of the
// nodes. It unwraps to ErrQuorum and to each node's cause, so
// errors.Is(err, context.DeadlineExceeded) holds if a node timed out.
type QuorumError struct {
	Op     string // "acquire", "extend", "release", "fence"
	Name   string
	Quorum int
	OK     int // nodes that succeeded
	Nodes  []NodeError
}

func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redislock: %s %q: quorum unreachable (%d of %d needed)", e.Op, e.Name, e.OK, e.Quorum)
	for _, n := range e.Nodes {
		fmt.Fprintf(&b, "; %s: %v", n.Node, n.Err)
	}
	return b.String()
}

// Unwrap returns ErrQuorum and the nodes' causes.
func (e *QuorumError) Unwrap() []error {
	errs := []error{ErrQuorum}
	for _, n := range e.Nodes {
		errs = append(errs, n.Err)
	}
	return errs
}

// waitError is returned when Acquire stops waiting: it is the wait-bound
// or context error, and also wraps the last reason the lock was not had.
type waitError struct {
	name   string
	reason error // ErrWaitTimeout or ctx.Err()
	last   error
}

func (e *waitError) Error() string {
	if e.last == nil {
		return fmt.Sprintf("redislock: acquire %q: %v", e.name, e.reason)
	}
	return fmt.Sprintf("redislock: acquire %q: %v (last attempt: %v)", e.name, e.reason, e.last)
}

func (e *waitError) Unwrap() []error {
	if e.last == nil {
		return []error{e.reason}
	}
	return []error{e.reason, e.last}
}

func isWrongType(err error) bool {
	return err != nil && strings.Contains(err.Error(), "WRONGTYPE")
}
