package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
)

// LockHooks returns redislock hooks that feed the lock metrics.
func (m *Metrics) LockHooks() redislock.Hooks {
	return redislock.Hooks{
		OnAcquire: func(_ string, wait, attempt time.Duration, err error) {
			if attempt > 0 {
				m.lockLatency.Observe(attempt.Seconds())
			}
			if err == nil {
				m.lockWaitOK.Observe(wait.Seconds())
				m.lockAcquisitions.Inc()
				return
			}
			m.lockWaitFailed.Observe(wait.Seconds())
			m.lockFailures.WithLabelValues(lockReason(err)).Inc()
		},
		OnRelease: func(_ string, err error) {
			result := "ok"
			switch {
			case errors.Is(err, redislock.ErrNotHeld):
				result = "not_held"
			case err != nil:
				result = "error"
			}
			m.lockReleases.WithLabelValues(result).Inc()
		},
		OnLost: func(string, uint64) { m.lockLosses.Inc() },
	}
}

// lockReason names why Acquire failed. A timeout or cancellation also
// wraps the last attempt's reason (ErrTaken, say): it is checked first.
func lockReason(err error) string {
	switch {
	case errors.Is(err, redislock.ErrWaitTimeout):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.Is(err, redislock.ErrClosed):
		return "closed"
	case errors.Is(err, redislock.ErrTaken):
		return "taken"
	case errors.Is(err, redislock.ErrQuorum):
		return "quorum"
	}
	return "error"
}

// LeaderHooks returns redisleader hooks that feed the leader metrics.
func (m *Metrics) LeaderHooks() redisleader.Hooks {
	return redisleader.Hooks{
		OnElected: func(group, _ string, term uint64) {
			m.leaderTransitions.WithLabelValues(group, "elected").Inc()
			m.leaderLeading.WithLabelValues(group).Inc()
			m.seeTerm(group, term)
		},
		OnEnded: func(group, _ string, _ uint64, err error) {
			how := "lost"
			if errors.Is(err, redisleader.ErrResigned) {
				how = "resigned"
			}
			m.leaderTransitions.WithLabelValues(group, how).Inc()
			m.leaderLeading.WithLabelValues(group).Dec()
		},
		OnObserve: func(group string, in redisleader.Info) {
			m.leaderObserved.WithLabelValues(group).Inc()
			m.seeTerm(group, in.Term)
		},
	}
}

// seeTerm raises the group's term gauge to term: hooks of several
// candidates and observers may report terms out of order.
func (m *Metrics) seeTerm(group string, term uint64) {
	m.termMu.Lock()
	defer m.termMu.Unlock()
	if term > m.terms[group] {
		m.terms[group] = term
		m.leaderTerm.WithLabelValues(group).Set(float64(term))
	}
}

// TaskHooks returns redistask hooks (for producers and workers both) that
// feed the task metrics.
func (m *Metrics) TaskHooks() redistask.Hooks {
	return redistask.Hooks{
		OnPush: func(queue string, _ *redistask.Task, err error) {
			result := "ok"
			switch {
			case errors.Is(err, redistask.ErrDuplicate):
				result = "duplicate"
			case err != nil:
				result = "error"
			}
			m.taskPushed.WithLabelValues(queue, result).Inc()
		},
		OnStart: func(queue string, _ *redistask.Task, wait time.Duration) {
			m.taskPickup.WithLabelValues(queue).Observe(wait.Seconds())
		},
		OnDone: func(queue string, t *redistask.Task, d time.Duration, err error) {
			m.taskProcessed.WithLabelValues(queue, t.Name).Inc()
			m.taskRun.WithLabelValues(queue, t.Name).Observe(d.Seconds())
			if err != nil {
				m.taskFailed.WithLabelValues(queue, t.Name).Inc()
			}
		},
		OnRetry: func(queue string, t *redistask.Task, _ time.Duration, _ error) {
			m.taskRetried.WithLabelValues(queue, t.Name).Inc()
		},
		OnDead: func(queue string, t *redistask.Task, reason string) {
			name := t.Name
			if reason == "unknown-name" || reason == "corrupt" {
				// Any producer picks these names (typos, version skew):
				// one series for all of them keeps the cardinality bounded.
				name = ""
			}
			m.taskDead.WithLabelValues(queue, name, reason).Inc()
		},
	}
}

// EventHooks returns event hooks (for publishing and consumers) that feed
// the event metrics. Set them on the Client (event.WithClientHooks, or
// gosync.WithHooks) so they see every publish and consumer.
func (m *Metrics) EventHooks() event.Hooks {
	return event.Hooks{
		OnPublish: func(topic string, r event.Receipt, err error) {
			result := "ok"
			switch {
			case errors.Is(err, event.ErrNotReplicated):
				result = "not_replicated"
			case errors.Is(err, event.ErrStaleToken):
				result = "stale" // a fenced publish with a superseded token
			case err != nil:
				result = "error"
			case r.Duplicate:
				result = "duplicate"
			}
			m.eventPublished.WithLabelValues(topic, result).Inc()
		},
		OnConsume: func(group string, ev *event.Event, d time.Duration, err error) {
			m.eventRun.WithLabelValues(ev.Topic, group).Observe(d.Seconds())
			if ev.Attempt == 1 {
				delay := max(time.Since(ev.Offset.Time())-d, 0)
				m.eventDelay.WithLabelValues(ev.Topic, group).Observe(delay.Seconds())
			}
			if err != nil {
				m.eventErrors.WithLabelValues(ev.Topic, group).Inc()
				return
			}
			m.eventConsumed.WithLabelValues(ev.Topic, group).Inc()
		},
		OnDeadLetter: func(ev *event.Event, _ error) {
			m.eventDead.WithLabelValues(ev.Topic).Inc()
		},
	}
}
