import client from 'prom-client';

/**
 * The metrics every service exposes on /metrics, in its own registry so that several services in
 * one process do not collide (each gets a `service` label too).
 */
export interface ServiceMetrics {
  registry: client.Registry;
  recordsIn: client.Counter<'topic'>;
  recordsOut: client.Counter<'topic'>;
  rejected: client.Counter<'reason'>;
  deadLettered: client.Counter<'reason'>;
  retries: client.Counter<'code'>;
  batchSeconds: client.Histogram<'topic'>;
  recordLatencySeconds: client.Histogram<'topic'>;
  consumerLag: client.Gauge<'topic' | 'partition'>;
  /** 1 while a stage retries a transient failure (labelled with its code), else 0. */
  degraded: client.Gauge<'code'>;
  degradedSince: client.Gauge;
}

export function createServiceMetrics(service: string): ServiceMetrics {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry, prefix: 'rateline_' });
  const registers = [registry];
  return {
    registry,
    recordsIn: new client.Counter({ name: 'rateline_records_in_total', help: 'Records consumed', labelNames: ['topic'], registers }),
    recordsOut: new client.Counter({ name: 'rateline_records_out_total', help: 'Records produced', labelNames: ['topic'], registers }),
    rejected: new client.Counter({ name: 'rateline_records_rejected_total', help: 'Records rejected, by reason code', labelNames: ['reason'], registers }),
    deadLettered: new client.Counter({ name: 'rateline_records_dead_lettered_total', help: 'Records sent to the dead-letter topic, by error code', labelNames: ['reason'], registers }),
    retries: new client.Counter({ name: 'rateline_batch_retries_total', help: 'Batches retried after a retryable error, by error code', labelNames: ['code'], registers }),
    batchSeconds: new client.Histogram({ name: 'rateline_batch_duration_seconds', help: 'Time to process one consumed batch', labelNames: ['topic'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers }),
    recordLatencySeconds: new client.Histogram({ name: 'rateline_record_latency_seconds', help: 'From the record timestamp to the end of its processing', labelNames: ['topic'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers }),
    consumerLag: new client.Gauge({ name: 'rateline_consumer_lag', help: 'High watermark minus the next offset to process, per partition', labelNames: ['topic', 'partition'], registers }),
    degraded: new client.Gauge({ name: 'rateline_degraded', help: '1 while the stage retries a transient failure (broker, registry, database), by error code', labelNames: ['code'], registers }),
    degradedSince: new client.Gauge({ name: 'rateline_degraded_since_seconds', help: 'Unix time the current degradation began; 0 when processing normally', registers }),
  };
}
