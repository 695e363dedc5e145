package redisleader

import (
	"errors"
	"fmt"
)

var (
	// ErrBadOption is returned by New for an unusable configuration.
	ErrBadOption = errors.New("redisleader: invalid option")
	// ErrInvalidName is returned for an empty group or candidate id.
	ErrInvalidName = errors.New("redisleader: invalid name")
	// ErrNoLeader is returned by Leader when no candidate leads the group
	// (or a majority of the nodes does not agree on one).
	ErrNoLeader = errors.New("redisleader: no leader")
	// ErrLost is the cause of a leadership's end when it was not resigned:
	// a renewal found the lease gone, or no renewal succeeded within
	// RenewDeadline.
	ErrLost = errors.New("redisleader: leadership lost")
	// ErrResigned is the cause of a leadership's end after Resign.
	ErrResigned = errors.New("redisleader: resigned")
	// ErrClosed is returned after the Elector was closed.
	ErrClosed = errors.New("redisleader: elector closed")
)

// PanicError is returned by Run when the leader callback panicked; the
// leadership was resigned.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("redisleader: leader callback panicked: %v", e.Value)
}
