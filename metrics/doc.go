// Package metrics exports Go Sync's metrics to Prometheus. It lives in a
// module of its own, so the library never depends on client_golang: the
// core packages only expose hooks (redislock.Hooks, redisleader.Hooks,
// redistask.Hooks, event.Hooks, all four in gosync.Hooks), and this
// package fills them with collectors.
//
//	m := metrics.New()
//	prometheus.MustRegister(m)
//	s := gosync.New(client, gosync.WithHooks(m.Hooks()))
//	m.WatchQueues(inspector, "emails")      // queue depth, read on scrape
//	m.WatchTopic(topic, "billing")          // per-partition lag, read on scrape
//
// Hook metrics cost a label lookup and a few atomic adds per operation
// (25-250 ns, no allocation; BenchmarkHooks) and no Redis round trip. Gauges of queues and topics (WatchQueues, WatchTopic) are read
// from Redis when Prometheus scrapes: one pipelined round trip per queue
// and per topic and group, all bounded together by the scrape timeout
// (see WithScrapeTimeout for how go-redis honours it).
//
// Metric names, with the default namespace "gosync" (labels in braces):
//
//	gosync_lock_acquire_latency_seconds            the last attempt of each Acquire or TryAcquire call: one round to a majority
//	gosync_lock_wait_seconds{result}               time spent in Acquire or TryAcquire, queueing included; result "ok" or "failed"
//	gosync_lock_acquisitions_total                 locks acquired
//	gosync_lock_acquire_failures_total{reason}     "taken", "timeout", "canceled", "quorum", "closed", "error"
//	gosync_lock_releases_total{result}             "ok", "not_held" (already expired or taken over), "error"
//	gosync_lock_losses_total                       held locks found lost
//	gosync_leader_transitions_total{group,transition}  "elected", "resigned", "lost", for candidates of this process
//	gosync_leader_leading{group}                   leaderships this process holds
//	gosync_leader_term{group}                      highest term seen: won here or observed (Observe)
//	gosync_leader_changes_observed_total{group}    leaders delivered to observers
//	gosync_task_pushed_total{queue,result}         "ok", "duplicate", "error"
//	gosync_task_processed_total{queue,task}        handler runs that ended, failed or not
//	gosync_task_failed_total{queue,task}           handler runs that failed
//	gosync_task_retried_total{queue,task}          failed tasks scheduled for another attempt
//	gosync_task_dead_total{queue,task,reason}      dead-lettered tasks, by DeadTask.Reason
//	                                                (task is "" for unknown-name and corrupt:
//	                                                producers choose those names)
//	gosync_task_run_seconds{queue,task}            handler run time
//	gosync_task_pickup_seconds{queue}              from the append to the stream to the handler start
//	gosync_task_queue_lag{queue}                   scrape: ready tasks not yet delivered to a worker
//	gosync_task_queue_in_flight{queue}             scrape: delivered, not yet acknowledged
//	gosync_task_queue_delayed{queue}               scrape: waiting for their run-at time
//	gosync_task_queue_retry{queue}                 scrape: waiting for their next attempt
//	gosync_task_queue_dead{queue}                  scrape: in the dead-letter stream
//	gosync_task_queue_oldest_age_seconds{queue}    scrape: age of the oldest entry in the stream
//	gosync_event_published_total{topic,result}     "ok", "duplicate", "not_replicated", "stale", "error"
//	gosync_event_consumed_total{topic,group}       events handled (the handler returned nil)
//	gosync_event_handler_errors_total{topic,group} handler calls that failed (each attempt)
//	gosync_event_dead_lettered_total{topic}        events moved to a dead-letter topic
//	gosync_event_handler_seconds{topic,group}      handler run time
//	gosync_event_delivery_delay_seconds{topic,group}  from the append to the first handler start
//	gosync_event_partition_lag_seconds{topic,group,partition}  scrape: age of the oldest event the group has not handled
//	gosync_scrape_errors_total{source}             scrape-time reads that failed: "queue" or "topic"
//
// Lock names are not a label: they are often unbounded (one per invoice,
// per user). Durations compare clocks only where said: pickup and delivery
// delays subtract Redis's append time from this machine's clock.
package metrics
