package event

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrBadOption is returned for an unusable configuration or argument
	// (nil client, non-positive sizes or durations, a bad prefix).
	ErrBadOption = errors.New("event: invalid option")
	// ErrInvalidTopic is returned for an empty topic name or one holding
	// '/', a brace, a glob character or whitespace.
	ErrInvalidTopic = errors.New("event: invalid topic name")
	// ErrInvalidGroup is returned for an empty group name or one holding
	// ':', '/', a brace, a glob character or whitespace.
	ErrInvalidGroup = errors.New("event: invalid group name")
	// ErrInvalidPartitions is returned when a topic is created with fewer
	// than one or more than MaxPartitions partitions.
	ErrInvalidPartitions = errors.New("event: invalid partition count")
	// ErrPartitionMismatch is returned by CreateTopic when the topic
	// exists with another partition count; nothing is changed.
	ErrPartitionMismatch = errors.New("event: topic exists with another partition count")
	// ErrTopicNotFound is returned by OpenTopic for a topic never created.
	ErrTopicNotFound = errors.New("event: topic not found")
	// ErrPayloadTooLarge is returned by Publish for a payload over the
	// Client's MaxPayload; nothing is published.
	ErrPayloadTooLarge = errors.New("event: payload too large")
	// ErrStaleToken is returned (and reported to Hooks.OnCommit) when a
	// commit carries a fencing token lower than the one the partition's
	// current owner registered: this member lost the partition. Publish
	// returns it for an event whose Fence token is lower than the highest
	// the partition accepted for that fence: nothing was appended.
	ErrStaleToken = errors.New("event: stale fencing token")
	// ErrNotReplicated is returned by Publish with WithReplicas when fewer
	// replicas than asked acknowledged the write before the timeout. The
	// event was appended on the master (its Receipt is returned); it may
	// be lost if the master fails before it reaches a replica.
	ErrNotReplicated = errors.New("event: not acknowledged by enough replicas")
	// ErrGroupActive is returned by ResetGroup while the group has live
	// members: stop them first.
	ErrGroupActive = errors.New("event: group has live members")
	// ErrRunning is returned by Consumer.Run when the Consumer already runs.
	ErrRunning = errors.New("event: consumer already running")
	// ErrWrongType is returned when a key the topic uses holds a value of
	// another Redis type (written by something else).
	ErrWrongType = errors.New("event: key holds the wrong type")
	// ErrCorrupt is returned for a stream entry this package did not write.
	ErrCorrupt = errors.New("event: corrupt entry")
)

// MaxPartitions is the largest partition count a topic may have.
const MaxPartitions = 4096

func wrapErr(err error) error {
	if err != nil && strings.Contains(err.Error(), "WRONGTYPE") {
		return fmt.Errorf("%w: %v", ErrWrongType, err)
	}
	return err
}

func validateTopic(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	}
	if len(name) > 200 || strings.ContainsAny(name, "/{}*?[]\\ \t\r\n") {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	return nil
}

func validateGroup(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidGroup)
	}
	if len(name) > 200 || strings.ContainsAny(name, ":/{}*?[]\\ \t\r\n") {
		return fmt.Errorf("%w: %q", ErrInvalidGroup, name)
	}
	return nil
}
