package metrics

import (
	"context"
	stdsync "sync"
	"time"

	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/redistask"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBuckets are the histogram buckets in seconds: from 100µs (a
// Redis round trip on loopback) to a minute.
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// DefaultScrapeTimeout bounds the Redis reads of one scrape.
const DefaultScrapeTimeout = 3 * time.Second

// Option configures New.
type Option func(*options)

type options struct {
	namespace     string
	constLabels   prometheus.Labels
	buckets       []float64
	scrapeTimeout time.Duration
}

// WithNamespace sets the first part of every metric name (default
// "gosync"); empty leaves it out. It must be a valid metric name prefix,
// or registering the Metrics fails.
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithConstLabels adds labels with fixed values to every metric (a
// service or shard name, for example).
func WithConstLabels(l prometheus.Labels) Option {
	return func(o *options) { o.constLabels = l }
}

// WithBuckets sets the histogram buckets, in seconds (default
// DefaultBuckets). New panics if they are not strictly increasing.
func WithBuckets(b ...float64) Option { return func(o *options) { o.buckets = b } }

// WithScrapeTimeout bounds all Redis reads of one scrape together
// (default 3s; keep it below Prometheus's scrape_timeout). It is a context
// deadline: go-redis honours it on reads only for clients with
// ContextTimeoutEnabled; otherwise each read is bounded by the client's
// ReadTimeout (default 3s). New panics if it is not positive.
func WithScrapeTimeout(d time.Duration) Option { return func(o *options) { o.scrapeTimeout = d } }

// Metrics holds Go Sync's Prometheus collectors. Register it (it is a
// prometheus.Collector), then plug its hooks into the primitives:
// gosync.WithHooks(m.Hooks()), or per package LockHooks, LeaderHooks,
// TaskHooks and EventHooks. It is safe for concurrent use. One Metrics
// serves any number of primitives.
type Metrics struct {
	o    options
	vecs []prometheus.Collector // everything fed by hooks

	lockLatency      prometheus.Histogram
	lockWaitOK       prometheus.Observer
	lockWaitFailed   prometheus.Observer
	lockAcquisitions prometheus.Counter
	lockFailures     *prometheus.CounterVec
	lockReleases     *prometheus.CounterVec
	lockLosses       prometheus.Counter

	leaderTransitions *prometheus.CounterVec
	leaderLeading     *prometheus.GaugeVec
	leaderTerm        *prometheus.GaugeVec
	leaderObserved    *prometheus.CounterVec
	termMu            stdsync.Mutex
	terms             map[string]uint64 // group -> highest term seen

	taskPushed    *prometheus.CounterVec
	taskProcessed *prometheus.CounterVec
	taskFailed    *prometheus.CounterVec
	taskRetried   *prometheus.CounterVec
	taskDead      *prometheus.CounterVec
	taskRun       *prometheus.HistogramVec
	taskPickup    *prometheus.HistogramVec

	eventPublished *prometheus.CounterVec
	eventConsumed  *prometheus.CounterVec
	eventErrors    *prometheus.CounterVec
	eventDead      *prometheus.CounterVec
	eventRun       *prometheus.HistogramVec
	eventDelay     *prometheus.HistogramVec

	// Read on scrape.
	scrapeErrors  *prometheus.CounterVec
	queueLag      *prometheus.Desc
	queueInFlight *prometheus.Desc
	queueDelayed  *prometheus.Desc
	queueRetry    *prometheus.Desc
	queueDead     *prometheus.Desc
	queueOldest   *prometheus.Desc
	partitionLag  *prometheus.Desc

	mu     stdsync.Mutex
	queues []watchedQueue
	topics []watchedTopic
}

type watchedQueue struct {
	in    *redistask.Inspector
	queue string
}

type watchedTopic struct {
	t     *event.Topic
	group string
}

// New returns Metrics with every collector created and none registered.
// It panics on invalid buckets or a non-positive scrape timeout:
// programmer mistakes.
func New(opts ...Option) *Metrics {
	o := options{namespace: "gosync", buckets: DefaultBuckets, scrapeTimeout: DefaultScrapeTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.scrapeTimeout <= 0 {
		panic("metrics: WithScrapeTimeout needs a positive duration")
	}
	for i := 1; i < len(o.buckets); i++ {
		if o.buckets[i] <= o.buckets[i-1] {
			panic("metrics: WithBuckets needs strictly increasing buckets")
		}
	}
	m := &Metrics{o: o, terms: map[string]uint64{}}
	counter := func(sub, name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: o.namespace, Subsystem: sub, Name: name, Help: help, ConstLabels: o.constLabels})
		m.vecs = append(m.vecs, c)
		return c
	}
	counterVec := func(sub, name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: o.namespace, Subsystem: sub, Name: name, Help: help, ConstLabels: o.constLabels}, labels)
		m.vecs = append(m.vecs, c)
		return c
	}
	gaugeVec := func(sub, name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: o.namespace, Subsystem: sub, Name: name, Help: help, ConstLabels: o.constLabels}, labels)
		m.vecs = append(m.vecs, g)
		return g
	}
	histogramVec := func(sub, name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.namespace, Subsystem: sub, Name: name, Help: help, ConstLabels: o.constLabels, Buckets: o.buckets}, labels)
		m.vecs = append(m.vecs, h)
		return h
	}
	desc := func(sub, name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(o.namespace, sub, name), help, labels, o.constLabels)
	}

	m.lockLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: o.namespace, Subsystem: "lock", Name: "acquire_latency_seconds",
		Help: "Duration of the last attempt of each Acquire or TryAcquire call: one round of scripts to a majority of the nodes.", ConstLabels: o.constLabels, Buckets: o.buckets})
	m.vecs = append(m.vecs, m.lockLatency)
	wait := histogramVec("lock", "wait_seconds", "Time spent in Acquire or TryAcquire, queueing behind other waiters included.", "result")
	m.lockWaitOK, m.lockWaitFailed = wait.WithLabelValues("ok"), wait.WithLabelValues("failed")
	m.lockAcquisitions = counter("lock", "acquisitions_total", "Locks acquired.")
	m.lockFailures = counterVec("lock", "acquire_failures_total", "Acquire and TryAcquire calls that returned an error, by reason.", "reason")
	m.lockReleases = counterVec("lock", "releases_total", "Release calls, by result: ok, not_held (the lock had expired or was taken over), error.", "result")
	m.lockLosses = counter("lock", "losses_total", "Held locks found lost (deadline passed without renewal, or taken over).")

	m.leaderTransitions = counterVec("leader", "transitions_total", "Leadership transitions of this process's candidates: elected, resigned, lost.", "group", "transition")
	m.leaderLeading = gaugeVec("leader", "leading", "Leaderships this process holds.", "group")
	m.leaderTerm = gaugeVec("leader", "term", "Highest term seen by this process: won here or observed.", "group")
	m.leaderObserved = counterVec("leader", "changes_observed_total", "Leaders delivered to observers (Observe, Run's OnNewLeader).", "group")

	m.taskPushed = counterVec("task", "pushed_total", "Tasks pushed, by result: ok, duplicate, error.", "queue", "result")
	m.taskProcessed = counterVec("task", "processed_total", "Handler runs that ended, failed or not.", "queue", "task")
	m.taskFailed = counterVec("task", "failed_total", "Handler runs that failed (returned an error or panicked).", "queue", "task")
	m.taskRetried = counterVec("task", "retried_total", "Failed tasks scheduled for another attempt.", "queue", "task")
	m.taskDead = counterVec("task", "dead_total", "Tasks moved to the dead-letter stream, by reason.", "queue", "task", "reason")
	m.taskRun = histogramVec("task", "run_seconds", "Handler run time.", "queue", "task")
	m.taskPickup = histogramVec("task", "pickup_seconds", "Time from a task's append to the stream (push, or promotion of a delayed or retried task) to its handler's start.", "queue")

	m.eventPublished = counterVec("event", "published_total", "Events published, by result: ok, duplicate, not_replicated, stale (fenced), error.", "topic", "result")
	m.eventConsumed = counterVec("event", "consumed_total", "Events handled: the handler returned nil.", "topic", "group")
	m.eventErrors = counterVec("event", "handler_errors_total", "Handler calls that failed (each attempt).", "topic", "group")
	m.eventDead = counterVec("event", "dead_lettered_total", "Events moved to a dead-letter topic.", "topic")
	m.eventRun = histogramVec("event", "handler_seconds", "Handler run time.", "topic", "group")
	m.eventDelay = histogramVec("event", "delivery_delay_seconds", "Time from an event's append to its first handler start.", "topic", "group")

	m.scrapeErrors = counterVec("", "scrape_errors_total", "Scrape-time reads of queues or topics that failed or timed out.", "source")
	m.queueLag = desc("task", "queue_lag", "Ready tasks not yet delivered to any worker.", "queue")
	m.queueInFlight = desc("task", "queue_in_flight", "Tasks delivered to a worker and not yet acknowledged.", "queue")
	m.queueDelayed = desc("task", "queue_delayed", "Tasks waiting for their run-at time.", "queue")
	m.queueRetry = desc("task", "queue_retry", "Failed tasks waiting for their next attempt.", "queue")
	m.queueDead = desc("task", "queue_dead", "Tasks in the dead-letter stream.", "queue")
	m.queueOldest = desc("task", "queue_oldest_age_seconds", "Age of the oldest entry in the queue's stream (0 if empty).", "queue")
	m.partitionLag = desc("event", "partition_lag_seconds", "Age of the oldest event the group has not handled in the partition (0 when caught up), by Redis's clock.", "topic", "group", "partition")
	return m
}

// Hooks returns the hooks of every package, for gosync.WithHooks.
func (m *Metrics) Hooks() gosync.Hooks {
	return gosync.Hooks{Lock: m.LockHooks(), Leader: m.LeaderHooks(), Task: m.TaskHooks(), Event: m.EventHooks()}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.vecs {
		c.Describe(ch)
	}
	m.scrapeErrors.Describe(ch)
	for _, d := range []*prometheus.Desc{m.queueLag, m.queueInFlight, m.queueDelayed, m.queueRetry, m.queueDead, m.queueOldest, m.partitionLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It reads the watched queues
// and topics from Redis (see WatchQueues and WatchTopic), all within the
// scrape timeout (see WithScrapeTimeout); a read that fails or times out
// leaves its gauges out of this scrape and counts in
// gosync_scrape_errors_total. Without watched queues or topics it does
// no I/O.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.vecs {
		c.Collect(ch)
	}
	m.mu.Lock()
	queues, topics := m.queues, m.topics
	m.mu.Unlock()
	if len(queues)+len(topics) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), m.o.scrapeTimeout)
		m.collectQueues(ctx, ch, queues)
		m.collectTopics(ctx, ch, topics)
		cancel()
	}
	m.scrapeErrors.Collect(ch)
}
