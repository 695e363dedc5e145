package metrics

import (
	"context"
	"strconv"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/redistask"
	"github.com/prometheus/client_golang/prometheus"
)

// WatchQueues makes every scrape read the queues' state with in.Stats (one
// pipelined round trip per queue): gosync_task_queue_lag, _in_flight,
// _delayed, _retry, _dead and _oldest_age_seconds. Watching a queue twice
// reports it twice, which the registry rejects. It panics if in is nil.
func (m *Metrics) WatchQueues(in *redistask.Inspector, queues ...string) {
	if in == nil {
		panic("metrics: WatchQueues called with a nil Inspector")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range queues {
		m.queues = append(m.queues, watchedQueue{in, q})
	}
}

// WatchTopic makes every scrape read how far each group is behind in each
// partition of t with Topic.Lag (one pipelined round trip per group):
// gosync_event_partition_lag_seconds, for the partitions the group has
// committed in. It panics if t is nil.
func (m *Metrics) WatchTopic(t *event.Topic, groups ...string) {
	if t == nil {
		panic("metrics: WatchTopic called with a nil Topic")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range groups {
		m.topics = append(m.topics, watchedTopic{t, g})
	}
}

func (m *Metrics) collectQueues(ctx context.Context, ch chan<- prometheus.Metric, queues []watchedQueue) {
	for _, w := range queues {
		st, err := w.in.Stats(ctx, w.queue)
		if err != nil {
			m.scrapeErrors.WithLabelValues("queue").Inc()
			continue
		}
		for _, g := range []struct {
			d *prometheus.Desc
			v float64
		}{
			{m.queueLag, float64(st.Lag)},
			{m.queueInFlight, float64(st.Pending)},
			{m.queueDelayed, float64(st.Delayed)},
			{m.queueRetry, float64(st.Retry)},
			{m.queueDead, float64(st.Dead)},
			{m.queueOldest, st.OldestAge.Seconds()},
		} {
			ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, g.v, w.queue)
		}
	}
}

func (m *Metrics) collectTopics(ctx context.Context, ch chan<- prometheus.Metric, topics []watchedTopic) {
	for _, w := range topics {
		lags, err := w.t.Lag(ctx, w.group)
		if err != nil {
			m.scrapeErrors.WithLabelValues("topic").Inc()
			continue
		}
		for _, l := range lags {
			ch <- prometheus.MustNewConstMetric(m.partitionLag, prometheus.GaugeValue, l.Behind.Seconds(), w.t.Name(), w.group, strconv.Itoa(l.Partition))
		}
	}
}
