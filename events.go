package sync

import (
	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/ntptime"
)

// Events returns an event.Client on the shared client and prefix: create
// or open topics, publish, and run consumer groups and subscriptions (each
// ends with the context given to its Run or Subscribe).
func (s *Sync) Events(opts ...event.Option) (*event.Client, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	opts = append([]event.Option{event.WithPrefix(s.Prefix()), event.WithLogger(s.opts.logger), event.WithPropagator(s.opts.prop),
		event.WithClientHooks(s.opts.hooks.Event)}, opts...)
	return event.New(s.client, opts...)
}

// RedisClock returns an ntptime.Clock that follows the shared Redis's
// TIME (a common reference for services that share only a Redis), with
// bounds from the round trip. Close closes it; so does Sync.Close.
func (s *Sync) RedisClock(opts ...ntptime.Option) (*ntptime.Clock, error) {
	src, err := ntptime.NewRedis(s.client)
	if err != nil {
		return nil, err
	}
	c, err := ntptime.New(src, opts...)
	if err != nil {
		return nil, err
	}
	if err := s.own(c.Close); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
